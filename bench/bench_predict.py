"""Merged-predictor throughput on CPU (images/s) and its split across the stages.

Builds untrained models of production shape (weights none: only speed is measured), saves
them as model directories, then times `curate predict` (decode -> detect -> rules -> crop ->
category -> attributes -> JSON) on synthetic pictures. The baseline, in the same run, is the
detector's bare Keras forward pass on the same pictures already decoded and resized, so the
ratio shows what the rest of the pipeline costs on top of detection.

Example: python bench/bench_predict.py --images 24 --detector-size 384 --classifier-size 224
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def save_untrained(root: Path, args) -> Path:
    from curate.models.backbones import build_image_model
    from curate.models.detector import DetectorModelSection, build_detector
    from curate.models.model_dir import ModelInfo, write_model_dir
    from curate.models.recipe import AugmentationSection
    from curate.recipes import RecipeModel
    from curate.taxonomy import OBJECT_TYPES, load_taxonomy

    tax = load_taxonomy()
    categories = sorted(tax.categories)
    vocabulary = sorted([f"pattern:{p}" for p in tax.patterns] + [f"style:{s}" for s in tax.styles])
    identity = {"name": "untrained (benchmark)", "path": "-", "sha256": "0" * 64}
    no_aug = AugmentationSection(flip=False, rotation=0, zoom=0)

    class BenchRecipe(RecipeModel):
        note: str = "untrained models for bench/bench_predict.py"

    section = DetectorModelSection(backbone=args.detector_backbone, image_size=args.detector_size)
    stages = {
        "detector": (build_detector(section), {"all": list(OBJECT_TYPES)}, args.detector_size, args.detector_backbone, {"thresholds": {t: {"threshold": 0.05, "f1": 0.0} for t in OBJECT_TYPES}}),
        "category": (build_image_model(args.classifier, "none", args.classifier_size, len(categories), "softmax", 0.5, None, no_aug), {"all": categories}, args.classifier_size, args.classifier, {}),
        "attributes": (build_image_model(args.classifier, "none", args.classifier_size, len(vocabulary), "sigmoid", 0.5, None, no_aug), {"all": vocabulary}, args.classifier_size, args.classifier, {"threshold": 0.5}),
    }
    for stage, (model, labels, size, backbone, extra) in stages.items():
        info = ModelInfo(stage, f"{stage}-untrained", labels, size, backbone, identity, tax.identity(), extra)
        write_model_dir(root / "models" / stage, {"all": model}, info, BenchRecipe())
    return root / "models"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--image-px", type=int, default=640, help="side of the synthetic pictures")
    parser.add_argument("--detector-backbone", default="resnet_18")
    parser.add_argument("--detector-size", type=int, default=384)
    parser.add_argument("--classifier", default="efficientnet_b0")
    parser.add_argument("--classifier-size", type=int, default=224)
    args = parser.parse_args()

    from curate.models.data import resize_square
    from curate.models.detector import raw_detections
    from curate.models.postprocess import ALL_RULES
    from curate.models.predictor import MergedPredictor, image_files, write_predictions

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        models = save_untrained(root, args)
        photos = root / "photos"
        photos.mkdir()
        rng = np.random.default_rng(0)
        pictures = []
        for i in range(args.images):
            picture = rng.integers(0, 256, size=(args.image_px, args.image_px, 3), dtype=np.uint8)
            cv2.imwrite(str(photos / f"{i:04d}.jpg"), picture)
            pictures.append(picture)

        # Warm both paths (graph tracing) on one picture first.
        predictor = MergedPredictor(models, list(ALL_RULES))
        predictor.predict_image(pictures[0])
        batch = np.stack([resize_square(p, args.detector_size) for p in pictures])
        raw_detections(predictor.detector.model, batch[:1])

        # One picture per call, as the merged predictor calls the detector (the same padded
        # batch shape, so the detector's traced predict function is reused).
        start = time.perf_counter()
        for i in range(args.images):
            raw_detections(predictor.detector.model, batch[i : i + 1])
        detector_only = args.images / (time.perf_counter() - start)

        predictor.seconds = {k: 0.0 for k in predictor.seconds}
        start = time.perf_counter()
        summary = write_predictions(image_files(photos), predictor, root / "out.json", None)
        merged_seconds = time.perf_counter() - start
    merged = args.images / merged_seconds
    stage_seconds = summary["seconds"]
    accounted = sum(stage_seconds.values())
    print(f"CPU, {args.images} pictures of {args.image_px} px; detector {args.detector_backbone} at {args.detector_size} px, "
          f"category + attributes {args.classifier} at {args.classifier_size} px (untrained, weights none)")
    print(f"objects per picture: {summary['objects'] / max(summary['images'], 1):.1f}")
    print(f"merged predictor: {merged:.2f} images/s ({merged_seconds:.1f} s)")
    for stage, seconds in stage_seconds.items():
        print(f"  {stage:<10} {seconds:7.2f} s  {100 * seconds / merged_seconds:5.1f} %")
    print(f"  {'other':<10} {merged_seconds - accounted:7.2f} s  {100 * (merged_seconds - accounted) / merged_seconds:5.1f} % (crops, rules, drawing-free JSON, progress)")
    print(f"baseline: bare detector forward pass: {detector_only:.2f} images/s")
    print(f"ratio merged/detector-only: {merged / detector_only:.2f}x")


if __name__ == "__main__":
    main()
