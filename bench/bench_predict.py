"""Merged-predictor throughput on CPU (images/s at 1, 8 and 64 pictures a call) against the sum
of its three models' bare forward passes on the same pictures.

The models are trained model directories (default: the ones `make demo` writes); the pictures
are that dataset's gold images, decoded once before timing. The merged predictor
(`MergedPredictor.predict_batch`, what `curate predict` and `curate serve` call: resize, detect,
rules, crops batched across the pictures, category, attributes, taxonomy decoding) is timed
with 1, 8 and 64 pictures a call. The baseline, in the same run, is each model's bare Keras
forward pass on the same inputs: the detector on the resized pictures, the category and
attribute models on the crops of the objects the predictor kept, in batches of 64; its
images/s is the pictures over the sum of the three times.

    python bench/bench_predict.py [--models out/demo/models] [--dataset out/demo/datasets/balanced] [--images 64]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def gold_pictures(dataset: Path, count: int) -> list[np.ndarray]:
    from curate.dataset import read_dataset
    from curate.imageio import load_image_rgb

    ds = read_dataset(dataset)
    gold = ds.images[(ds.images["split"] == "gold") & ds.images["parent_image_id"].isna()].sort_values("image_id")
    if gold.empty:
        raise SystemExit(f"{dataset}: no gold images")
    paths = [ds.image_path(p) for p in gold["path"]]
    return [load_image_rgb(paths[i % len(paths)]) for i in range(count)]


def merged_rate(predictor, pictures: list[np.ndarray], per_call: int) -> float:
    started = time.perf_counter()
    for start in range(0, len(pictures), per_call):
        predictor.predict_batch(pictures[start : start + per_call])
    return len(pictures) / (time.perf_counter() - started)


def bare_forward_seconds(predictor, pictures: list[np.ndarray]) -> tuple[dict[str, float], int]:
    """Seconds of each model's forward pass alone on the inputs the predictor gives it."""
    from curate.models.data import crop_pads, crop_resized, resize_square
    from curate.models.postprocess import apply_rules, boxes_xyxy

    detector = predictor.detector
    batch = np.stack([resize_square(p, detector.image_size) for p in pictures])
    found = detector.detect(pictures)
    boxes = [(p, box) for p, d in zip(pictures, found) for box in boxes_xyxy(apply_rules(d, predictor.rules)[0])]
    pad = float(crop_pads(1, random_pad=False)[0])

    def timed(model, x: np.ndarray, chunk: int) -> float:
        """The second of two passes: every batch shape is traced in the first (tracing is not a
        forward pass)."""
        for _ in range(2):
            started = time.perf_counter()
            for start in range(0, len(x), chunk):
                model.predict_on_batch(x[start : start + chunk])
        return time.perf_counter() - started

    seconds = {"detect": timed(detector.model, batch, 16)}
    for name, stage in (("category", predictor.category), ("attributes", predictor.attributes)):
        if stage is not None and boxes:
            crops = np.stack([crop_resized(p, box, pad, stage.image_size) for p, box in boxes])
            models = stage.models() if hasattr(stage, "models") else {"all": stage.model}
            seconds[name] = sum(timed(model, crops, 64) for model in models.values())
    return seconds, len(boxes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=str(REPO / "out" / "demo" / "models"))
    parser.add_argument("--dataset", default=str(REPO / "out" / "demo" / "datasets" / "balanced"))
    parser.add_argument("--images", type=int, default=64, help="pictures per measurement")
    args = parser.parse_args()
    if not (Path(args.models) / "detector" / "model.json").is_file():
        raise SystemExit(f"no trained models under {args.models}: run `make demo` first, or pass --models DIR --dataset DS")

    from curate.models.postprocess import ALL_RULES
    from curate.models.predictor import MergedPredictor

    pictures = gold_pictures(Path(args.dataset), args.images)
    predictor = MergedPredictor(Path(args.models), list(ALL_RULES))
    for per_call in (1, 8, 64):  # trace every batch shape the runs below use
        predictor.predict_batch(pictures[:per_call])
    rates = {per_call: merged_rate(predictor, pictures, per_call) for per_call in (1, 8, 64)}
    seconds, crops = bare_forward_seconds(predictor, pictures)
    bare = len(pictures) / sum(seconds.values())
    height, width = pictures[0].shape[:2]
    print(f"CPU, {len(pictures)} gold pictures of {width}x{height} px, {crops} objects kept ({crops / len(pictures):.1f} a picture); "
          f"detector at {predictor.detector.image_size} px, category at {predictor.category.image_size} px, attributes at {predictor.attributes.image_size} px")
    for per_call, rate in rates.items():
        print(f"merged predictor, {per_call:2d} pictures a call: {rate:6.2f} images/s")
    print("bare forward passes on the same inputs: " + ", ".join(f"{k} {v:.2f} s" for k, v in seconds.items()) + f" -> {bare:.2f} images/s")
    print(f"ratio merged (64 a call) / sum of bare forward passes: {rates[64] / bare:.2f}x (8 a call: {rates[8] / bare:.2f}x)")


if __name__ == "__main__":
    main()
