"""Fashion-MNIST: the four IDX files (gzipped or not); images are written as PNG under media/.

Looked for, when no folder is given, in the Debian `dataset-fashion-mnist` location and then in
the user cache that `curate fetch fashion-mnist` fills.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import cv2
import numpy as np

from curate.errors import CurateError
from curate.fashion_mnist import DEBIAN_DIR, IDX_FILES, cache_dir, idx_file, missing_idx_files, read_split
from curate.parallel import Executor, SerialExecutor
from curate.sources.common import SourceRead

MEDIA_SUBDIR = "media/fashion-mnist"


def find_folder(path: str | Path | None) -> Path:
    """The folder holding all four IDX files: `path`, or the first default that has them."""
    candidates = [Path(path)] if path else [DEBIAN_DIR, cache_dir()]
    for folder in candidates:
        if not missing_idx_files(folder):
            return folder
    if path:
        raise CurateError.at(path, f"missing Fashion-MNIST files: {', '.join(missing_idx_files(Path(path)))} (.gz or not)")
    raise CurateError(
        f"Fashion-MNIST not found in {' or '.join(map(str, candidates))}: install the Debian package "
        "dataset-fashion-mnist, run `curate fetch fashion-mnist`, or give the folder as PATH"
    )


def write_png(item: tuple[str, bytes]) -> str:
    """Write one 28x28 image as PNG; returns the file's sha256 (runs in executor workers)."""
    path, pixels = item
    ok, encoded = cv2.imencode(".png", np.frombuffer(pixels, dtype=np.uint8).reshape(28, 28))
    if not ok:
        raise CurateError.at(path, "PNG encoding failed")
    data = encoded.tobytes()
    with open(path, "wb") as handle:
        handle.write(data)
    return hashlib.sha256(data).hexdigest()


def read_fashion_mnist(
    path: str | Path | None,
    *,
    dataset_dir: Path,
    executor: Executor | None = None,
    label_names: dict[int, str],
) -> SourceRead:
    """All 70,000 images with their class names as `source_label`, official splits kept."""
    folder = find_folder(path)
    executor = executor or SerialExecutor()
    result = SourceRead(sizes_known=True)
    for split, names in IDX_FILES.items():
        images, labels = read_split(folder, split)
        unknown = sorted(set(np.unique(labels).tolist()) - set(label_names))
        if unknown:
            raise CurateError.at(idx_file(folder, names[1]), f"unknown label ids {unknown}", field="label")
        media = dataset_dir / MEDIA_SUBDIR / split
        media.mkdir(parents=True, exist_ok=True)
        relative = [f"{MEDIA_SUBDIR}/{split}/{i:05d}.png" for i in range(len(images))]
        items = [(str(dataset_dir / rel), images[i].tobytes()) for i, rel in enumerate(relative)]
        hashes = executor.map(write_png, items, f"writing {split} PNGs", chunksize=1000)
        for i, (rel, digest) in enumerate(zip(relative, hashes)):
            source_id = f"{split}/{i:05d}"
            result.images.append(
                {
                    "source_id": source_id, "path": rel, "width": 28, "height": 28, "sha256": digest, "split": split,
                    "objects": [{"source_label": label_names[int(labels[i])]}],
                }
            )
        result.files += [str(idx_file(folder, name)) for name in names]
    return result


# The official files and their published MD5 sums (zalandoresearch/fashion-mnist README).
OFFICIAL_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
MIRRORS = (
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)


def fetch_fashion_mnist(
    dest: str | Path | None = None,
    *,
    mirrors: tuple[str, ...] = MIRRORS,
    checksums: dict[str, str] = OFFICIAL_MD5,
    timeout: float = 30.0,
) -> Path:
    """Download the four official files into `dest` (default: the user cache) and check them.

    Each file must match its published MD5 and parse as IDX; files already there and correct
    are not downloaded again. Offline, this fails with one error naming what was tried.
    """
    import urllib.error
    import urllib.request

    dest = Path(dest) if dest else cache_dir()
    dest.mkdir(parents=True, exist_ok=True)
    for name, md5 in checksums.items():
        target = dest / name
        if target.is_file() and hashlib.md5(target.read_bytes()).hexdigest() == md5:
            continue
        errors = []
        for base in mirrors:
            try:
                with urllib.request.urlopen(base + name, timeout=timeout) as response:
                    data = response.read()
            except (urllib.error.URLError, OSError) as exc:
                errors.append(f"{base + name}: {getattr(exc, 'reason', exc)}")
                continue
            digest = hashlib.md5(data).hexdigest()
            if digest != md5:
                errors.append(f"{base + name}: MD5 {digest}, expected {md5}")
                continue
            tmp = target.with_name(f".{name}.part")
            tmp.write_bytes(data)
            os.replace(tmp, target)
            break
        else:
            raise CurateError(f"cannot download Fashion-MNIST {name} (offline, or the mirrors changed): " + "; ".join(errors))
    for split in IDX_FILES:
        read_split(dest, split)
    return dest
