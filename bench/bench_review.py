"""Benchmark the review send: full send vs a bare FiftyOne add_samples, and incremental re-send.

Builds a synthetic dataset (default 10,000 images, 50,000 boxes), then in one process and one
throwaway mongod measures:
  1. baseline: fo.Dataset.add_samples of the same samples (same fields, labels and attributes),
     built by a bare loop; reported with and without the time to build the sample objects
  2. `curate.review.send_dataset` from the tables into a new FiftyOne dataset (full send)
  3. the same after changing 1 % of the object rows on disk (incremental update)
Targets: full send <= 1.25x baseline; incremental >= 10x faster than the full send.

Usage: python bench/bench_review.py [--images 10000] [--per-image 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd


def synthetic_tables(n_images: int, per_image: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    from curate.dataset import images_frame, objects_frame, stable_id

    rng = np.random.default_rng(seed)
    image_ids = [stable_id("bench", i) for i in range(n_images)]
    images = images_frame({
        "image_id": image_ids, "path": [f"media/{i:06d}.jpg" for i in range(n_images)],
        "width": 640, "height": 800, "sha256": [f"{i:064x}" for i in range(n_images)], "source": "catalogue",
        "source_id": [str(i) for i in range(n_images)], "product_id": [f"P{i // 3}" for i in range(n_images)],
        "brand": "Acme", "name": [f"Product {i}" for i in range(n_images)], "flat_lay": rng.random(n_images) < 0.5,
        "split": rng.choice(["train", "val", "test"], n_images),
    })
    n = n_images * per_image
    x0, y0 = rng.uniform(0, 0.5, n).astype(np.float32), rng.uniform(0, 0.5, n).astype(np.float32)
    kinds = [("upper-body", "shirts"), ("lower-body", "jeans"), ("full-body", "dresses"), ("footwear", "sneakers")]
    pick = rng.integers(0, len(kinds), n)
    objects = objects_frame({
        "object_id": [stable_id(image_ids[i // per_image], i) for i in range(n)],
        "image_id": [image_ids[i // per_image] for i in range(n)],
        "x_min": x0, "y_min": y0, "x_max": x0 + np.float32(0.3), "y_max": y0 + np.float32(0.4),
        "object_type": [kinds[k][0] for k in pick], "category": [kinds[k][1] for k in pick],
        "pattern": rng.choice(["floral", "striped", "checked"], n), "attributes": [["fit:slim"]] * n,
        "source_label": "bench", "box_origin": rng.choice(["canny", "sagemaker", "manual"], n),
        "box_confidence": rng.uniform(0, 1, n).astype(np.float32), "review_status": "unreviewed",
    })
    return images, objects


def bare_samples(fo, root: Path, images: pd.DataFrame, objects: pd.DataFrame) -> list:
    """The same samples as the send produces, built directly with FiftyOne's classes."""
    by_image: dict[str, list] = {}
    for row in objects.to_dict("records"):
        by_image.setdefault(row["image_id"], []).append(row)
    samples = []
    for image in images.to_dict("records"):
        dets = [
            fo.Detection(label=r["object_type"], bounding_box=[float(r["x_min"]), float(r["y_min"]), float(r["x_max"] - r["x_min"]), float(r["y_max"] - r["y_min"])],
                         object_id=r["object_id"], category=r["category"], pattern=r["pattern"], style=None,
                         other_attributes=list(r["attributes"]), source_label=r["source_label"], box_origin=r["box_origin"],
                         box_confidence=float(r["box_confidence"]), review_status=r["review_status"], taxonomy_issue=None)
            for r in by_image.get(image["image_id"], [])
        ]
        samples.append(fo.Sample(
            filepath=str(root / image["path"]), tags=[], metadata=fo.ImageMetadata(width=image["width"], height=image["height"]),
            ground_truth=fo.Detections(detections=dets), image_id=image["image_id"], source=image["source"], brand=image["brand"],
            product_title=image["name"], flat_lay=bool(image["flat_lay"]), split=image["split"], product_id=image["product_id"],
            sha256=image["sha256"], parent_image_id=None, curate_hash="0" * 16,
            curate_objects=[f"{r['object_id']}:{'0' * 16}:{'0' * 16}" for r in by_image.get(image["image_id"], [])],
        ))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--per-image", type=int, default=5)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-review-"))
    os.environ.update({
        "FIFTYONE_DATABASE_DIR": str(work / "db"), "FIFTYONE_DATABASE_NAME": f"bench_{uuid.uuid4().hex[:10]}",
        "FIFTYONE_DO_NOT_TRACK": "true", "FIFTYONE_DATABASE_VALIDATION": "false", "FIFTYONE_SHOW_PROGRESS_BARS": "false",
    })
    os.environ.pop("FIFTYONE_DATABASE_URI", None)
    import fiftyone as fo

    from curate import review
    from curate.dataset import read_dataset, save_tables
    from curate.taxonomy import load_taxonomy

    try:
        tax = load_taxonomy()
        images, objects = synthetic_tables(args.images, args.per_image)
        path = work / "bench-dataset"
        save_tables(path, images, objects, {"name": "bench-dataset"})
        fo.Dataset("warm-up").delete()  # start mongod outside the timings
        print(f"{len(images):,} images, {len(objects):,} objects")

        t = time.perf_counter()
        samples = bare_samples(fo, path, images, objects)
        build_s = time.perf_counter() - t
        baseline = fo.Dataset("bench-baseline")
        t = time.perf_counter()
        baseline.add_samples(samples)
        add_s = time.perf_counter() - t
        baseline.delete()
        del samples

        t = time.perf_counter()
        report = review.send_dataset(path, taxonomy=tax)
        full_s = time.perf_counter() - t
        assert report.mode == "created" and report.added == len(images)

        dataset = read_dataset(path)
        rng = np.random.default_rng(1)
        changed = rng.choice(len(dataset.objects), size=len(dataset.objects) // 100, replace=False)
        dataset.objects.loc[changed, "box_confidence"] = np.float32(0.5)
        dataset.objects.loc[changed, "review_status"] = "accepted"
        save_tables(path, dataset.images, dataset.objects, dataset.meta)
        t = time.perf_counter()
        report = review.send_dataset(path, taxonomy=tax)
        incr_s = time.perf_counter() - t
        assert report.mode == "updated" and not report.skipped_unsynced

        print(f"baseline: build samples {build_s:.2f}s + add_samples {add_s:.2f}s = {build_s + add_s:.2f}s")
        print(f"curate review send (full):     {full_s:.2f}s  = {full_s / add_s:.2f}x add_samples alone, "
              f"{full_s / (build_s + add_s):.2f}x build + add_samples   (target <= 1.25x)")
        print(f"incremental after 1% changed:  {incr_s:.2f}s  ({report.updated} samples updated) = "
              f"{full_s / incr_s:.1f}x faster than the full send   (target >= 10x)")
    finally:
        import fiftyone.core.odm.database as fodb

        for name in fo.list_datasets():
            fo.delete_dataset(name)
        fodb._disconnect()
        if fodb._db_service is not None:  # stop mongod before its data directory goes
            fodb._db_service.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
