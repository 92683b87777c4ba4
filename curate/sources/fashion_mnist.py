"""Fashion-MNIST: where the files are, the IDX format, stratified subsets, the importer and the
download.

Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017) is © Zalando SE and released under the MIT
licence. A stratified subset ships inside the package (curate/resources/fashion_mnist/, in the
official IDX .gz layout, so every tool reads it exactly like the real files); the full set is
used instead when the Debian package `dataset-fashion-mnist` or a downloaded copy
(`curate fetch fashion-mnist`, into the user cache) is present. `locate_fashion_mnist` is the
one place that decides which folder is read.

The importer reads the four IDX files (gzipped or not) and writes every image as a PNG under
media/, keeping the official train/test halves as splits.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from curate.errors import CurateError
from curate.parallel import Executor, SerialExecutor
from curate.resources import fashion_mnist_dir, user_cache_dir
from curate.sources.common import SourceRead

MEDIA_SUBDIR = "media/fashion-mnist"
EMBEDDED_DIR = fashion_mnist_dir()
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")

# The official file names; `split` is the name the dataset tables use for each half.
IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

# Per class, train and test: what the embedded subset holds (and the demo's default).
EMBEDDED_PER_CLASS = {"train": 400, "test": 100}
EMBEDDED_SEED = 0

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def cache_dir() -> Path:
    """Where `curate fetch fashion-mnist` keeps its download (XDG cache convention)."""
    return user_cache_dir("fashion-mnist")


def idx_file(folder: Path, name: str) -> Path | None:
    """The official file `name` in `folder`, gzipped or not; None when neither is there."""
    for candidate in (folder / name, folder / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def missing_idx_files(folder: Path) -> list[str]:
    return [name.removesuffix(".gz") for names in IDX_FILES.values() for name in names if idx_file(folder, name) is None]


@dataclass(frozen=True)
class FashionMnistLocation:
    folder: Path
    kind: str  # "full" (Debian package or download), "embedded" (the subset in the package) or "given"


def locate_fashion_mnist(prefer: str = "auto", path: str | Path | None = None) -> FashionMnistLocation:
    """The folder to read Fashion-MNIST from: the one place that decides.

    A given `path` must hold all four IDX files. Otherwise `prefer` decides: `auto` takes the full
    set (the Debian package, then the user cache) when present and else the embedded subset;
    `full` insists on the full set, and says where it looked and how to get one; `embedded`
    takes the subset.
    """
    if path is not None:
        missing = missing_idx_files(Path(path))
        if missing:
            raise CurateError.at(path, f"missing Fashion-MNIST files: {', '.join(missing)} (.gz or not)")
        return FashionMnistLocation(Path(path), "given")
    if prefer not in ("auto", "full", "embedded"):
        raise CurateError(f"unknown Fashion-MNIST choice '{prefer}' (expected auto, full or embedded)")
    if prefer != "embedded":
        for folder in (DEBIAN_DIR, cache_dir()):
            if not missing_idx_files(folder):
                return FashionMnistLocation(folder, "full")
        if prefer == "full":
            raise CurateError(
                f"the full Fashion-MNIST set is neither in {DEBIAN_DIR} nor in {cache_dir()}: "
                "install the Debian package dataset-fashion-mnist, run `curate fetch fashion-mnist`, or give the folder that holds it"
            )
    return FashionMnistLocation(EMBEDDED_DIR, "embedded")


def read_idx(path: Path, ndim: int | None = None) -> np.ndarray:
    """Read one IDX file (gzipped or not) into an array of its declared type and shape.

    With `ndim`, a file declaring another number of dimensions (the last magic byte) is refused.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as exc:
        raise CurateError.at(path, f"cannot read the IDX file: {exc}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise CurateError.at(path, "not an IDX file: expected the magic bytes 00 00 <type> <ndim>")
    dtype, declared = np.dtype(_IDX_DTYPES[data[2]]), data[3]
    if ndim is not None and declared != ndim:
        magic = struct.unpack(">I", data[:4])[0]
        raise CurateError.at(path, f"IDX magic number {magic:#010x} declares {declared} dimensions, expected {ndim}", field="magic")
    shape = struct.unpack(f">{declared}I", data[4 : 4 + 4 * declared])
    body = data[4 + 4 * declared :]
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(body) != expected:
        raise CurateError.at(path, f"IDX body has {len(body)} bytes, its header {shape} needs {expected}")
    return np.frombuffer(body, dtype=dtype).reshape(shape)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as a gzipped IDX file; the same array always gives the same bytes."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    # mtime=0 and no file name in the gzip header keep the bytes reproducible.
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as handle:
        handle.write(header + array.tobytes())
    os.replace(tmp, path)


def read_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) of one official split from an IDX folder."""
    images_name, labels_name = IDX_FILES[split]
    images = read_idx(idx_file(folder, images_name) or folder / images_name, ndim=3)
    labels = read_idx(idx_file(folder, labels_name) or folder / labels_name, ndim=1)
    if len(images) != len(labels):
        raise CurateError.at(folder, f"{split}: {len(images)} images but {len(labels)} labels")
    return images, labels


def stratified_indices(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Up to `per_class` indices of each label, chosen by a seeded shuffle, in ascending order.

    The choice for one class depends only on that class's positions and the seed, so the subset
    drawn from the full set equals the embedded subset drawn with the same numbers.
    """
    chosen = []
    for label in np.unique(labels):
        positions = np.flatnonzero(labels == label)
        rng = np.random.default_rng([seed, int(label)])
        chosen.append(np.sort(rng.permutation(positions)[:per_class]))
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


def write_subset(source: Path, target: Path, per_class: dict[str, int], seed: int) -> dict[str, int]:
    """Write a stratified subset of an IDX folder to `target` in the same layout; returns counts."""
    counts = {}
    for split, (images_name, labels_name) in IDX_FILES.items():
        images, labels = read_split(source, split)
        keep = stratified_indices(labels, per_class[split], seed)
        write_idx(target / images_name, images[keep])
        write_idx(target / labels_name, labels[keep])
        counts[split] = int(len(keep))
    return counts


# ---------------------------------------------------------------------------------------------
# The importer and the download


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
    """All 70,000 images with their class names as `source_label`, official splits kept: from
    `path`, or (none given) from the full set where it is installed."""
    folder = locate_fashion_mnist("full", path).folder
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
