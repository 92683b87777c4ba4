"""Import speed: DeepFashion2 annotation files/s, and header-only image sizes vs decoding.

Generates a 100,000-image DeepFashion2-format annotation set (in /tmp, reused between runs) and
times, on one core in this process:
  1. a bare `json.load` loop over the same files (the baseline),
  2. `read_deepfashion2` (parse, validate, build rows), the importer's per-file work;
then times `read_image_size` (header only) against full decoding with OpenCV on generated JPEGs.

    PYTHONPATH=$PWD python bench/bench_import.py [--files 100000] [--images 400]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import cv2
import numpy as np

from curate.imageio import read_image_size
from curate.sources.common import ErrorPolicy
from curate.sources.deepfashion2 import read_deepfashion2
from curate.taxonomy import load_mapping

ROOT = Path("/tmp/curate_bench_import")


def df2_item(rng: np.random.Generator, category_id: int, name: str) -> dict:
    x1, y1 = rng.integers(0, 300, 2).tolist()
    x2, y2 = x1 + int(rng.integers(50, 300)), y1 + int(rng.integers(50, 400))
    polygon = rng.integers(0, 600, 24).tolist()
    landmarks = [v for i in range(25) for v in (int(rng.integers(0, 600)), int(rng.integers(0, 800)), int(rng.integers(0, 3)))]
    return {
        "segmentation": [polygon], "scale": int(rng.integers(1, 4)), "viewpoint": int(rng.integers(1, 4)),
        "zoom_in": int(rng.integers(1, 4)), "landmarks": landmarks, "style": int(rng.integers(0, 3)),
        "bounding_box": [x1, y1, x2, y2], "category_id": category_id, "occlusion": int(rng.integers(1, 4)),
        "category_name": name,
    }


def generate_annotations(n: int) -> Path:
    """DeepFashion2 layout: train/annos/NNNNNN.json with 1-3 items each, like the real files."""
    folder = ROOT / f"df2_{n}" / "train"
    annos = folder / "annos"
    if annos.is_dir() and sum(1 for _ in os.scandir(annos)) == n:
        return folder.parent
    annos.mkdir(parents=True, exist_ok=True)
    (folder / "image").mkdir(exist_ok=True)
    names = load_mapping("deepfashion2").label_ids
    rng = np.random.default_rng(0)
    for i in range(1, n + 1):
        doc = {"source": "shop" if i % 3 else "user", "pair_id": i // 4 + 1}
        for k in range(1, int(rng.integers(1, 4)) + 1):
            cid = int(rng.integers(1, 14))
            doc[f"item{k}"] = df2_item(rng, cid, names[cid])
        (annos / f"{i:06d}.json").write_text(json.dumps(doc))
    return folder.parent


def bare_json_loop(root: Path) -> int:
    count = 0
    for path in sorted((root / "train" / "annos").glob("*.json")):
        with open(path, "rb") as handle:
            json.load(handle)
        count += 1
    return count


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def generate_images(n: int) -> list[Path]:
    folder = ROOT / "jpegs"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    paths = []
    for i in range(n):
        path = folder / f"{i:04d}.jpg"
        if not path.exists():
            img = cv2.GaussianBlur(rng.integers(0, 256, (800, 600, 3), dtype=np.uint8), (7, 7), 0)
            cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--images", type=int, default=400)
    args = parser.parse_args()

    root = generate_annotations(args.files)
    label_names = load_mapping("deepfashion2").label_ids
    bare_json_loop(root)  # warm the page cache so both runs read from memory
    count, bare_s = timed(bare_json_loop, root)
    read, reader_s = timed(lambda: read_deepfashion2(root, policy=ErrorPolicy("fail"), label_names=label_names))
    assert len(read.images) == count == args.files
    objects = sum(len(e["objects"]) for e in read.images)
    print(f"DeepFashion2 annotations: {count:,} files, {objects:,} items (one core)")
    print(f"  bare json.load loop : {count / bare_s:10,.0f} files/s ({bare_s:.1f} s)")
    print(f"  read_deepfashion2   : {count / reader_s:10,.0f} files/s ({reader_s:.1f} s)")
    print(f"  reader / bare ratio : {bare_s / reader_s:.2f} (target: >= 2,000 files/s)")

    paths = generate_images(args.images)
    [read_image_size(p) for p in paths]  # warm cache
    sizes, header_s = timed(lambda: [read_image_size(p) for p in paths])
    decoded, decode_s = timed(lambda: [cv2.imread(str(p)).shape[1::-1] for p in paths])
    assert sizes == [tuple(d) for d in decoded]
    print(f"Image sizes: {len(paths)} JPEGs of 600x800")
    print(f"  header only (read_image_size): {len(paths) / header_s:10,.0f} images/s")
    print(f"  full decode (cv2.imread)     : {len(paths) / decode_s:10,.0f} images/s")
    print(f"  header / decode speed ratio  : {decode_s / header_s:.1f}x (target: >= 5x)")


if __name__ == "__main__":
    main()
