"""The merged predictor: detect -> post-process -> crop -> category -> attributes -> JSON.

MODELS_DIR holds `detector/` and, optionally, `category/` and `attributes/` model directories.
The post-processing rules between detection and cropping (hand_as_footwear, bare_legs) are in
`curate.models.postprocess`; each is switchable and its removals are counted.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from curate.dataset import BOX_COLUMNS, write_text_atomic
from curate.errors import CurateError
from curate.geometry import xyxy_rel_to_px
from curate.imageio import load_image_rgb
from curate.models.classifier import CategoryModel
from curate.models.data import crop_pads, crop_resized
from curate.models.detector import DetectorPredictor
from curate.models.postprocess import RULES, apply_rules, boxes_xyxy
from curate.models.tagger import TaggerPredictor
from curate.progress import track

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")
# BGR for OpenCV: the source document's colours.
COLOURS_BGR = {"upper-body": (0, 0, 255), "lower-body": (255, 0, 0), "full-body": (0, 160, 0), "footwear": (0, 165, 255)}
PREDICT_BATCH = 8  # images `curate predict` decodes and predicts together


# ---------------------------------------------------------------------------------------------
# The merged predictor


@dataclass
class MergedPredictor:
    models_dir: Path
    rules: list[str]
    seconds: dict[str, float] = field(default_factory=lambda: {"decode": 0.0, "detect": 0.0, "category": 0.0, "attributes": 0.0})

    def __post_init__(self) -> None:
        detector_dir = self.models_dir / "detector"
        if not detector_dir.is_dir():
            raise CurateError.at(self.models_dir, "expected a detector/ model directory (and optionally category/ and attributes/)")
        self.detector = DetectorPredictor(detector_dir)
        self.category = CategoryModel(self.models_dir / "category").load() if (self.models_dir / "category").is_dir() else None
        self.attributes = TaggerPredictor(self.models_dir / "attributes") if (self.models_dir / "attributes").is_dir() else None

    def versions(self) -> dict[str, str | None]:
        return {
            "detector": self.detector.info["version"],
            "category": self.category.info["version"] if self.category else None,
            "attributes": self.attributes.info["version"] if self.attributes else None,
        }

    def _timed(self, stage: str, fn: Callable, *args):
        start = time.perf_counter()
        result = fn(*args)
        self.seconds[stage] += time.perf_counter() - start
        return result

    def predict_image(self, image: np.ndarray) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Objects (box, type, score, category, attributes) and the rule removals of one image."""
        return self.predict_batch([image])[0]

    def predict_batch(self, images_rgb: list[np.ndarray]) -> list[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
        """Per image (uint8 RGB, HxWx3), in order: its objects and its rule removals.

        The images go through the detector together and the crops of all of them through each
        classifier together, so a batch costs far less than its images one at a time.
        `curate predict` and `curate serve` both call this."""
        if not len(images_rgb):
            return []
        found = self._timed("detect", self.detector.detect, list(images_rgb))
        results, crops_of = [], []  # crops_of: (image, box, object) of every kept detection
        for image, detections in zip(images_rgb, found):
            detections, removed = apply_rules(detections, self.rules)
            objects = []
            for box, t, s in zip(boxes_xyxy(detections), detections["object_type"], detections["score"]):
                objects.append({"box": {k: round(float(v), 6) for k, v in zip(BOX_COLUMNS, box)}, "object_type": t, "score": round(float(s), 6)})
                crops_of.append((image, box, objects[-1]))
            results.append((objects, removed))
        if not crops_of:
            return results
        pad = float(crop_pads(1, random_pad=False)[0])
        flat = [obj for _, _, obj in crops_of]
        if self.category:
            crops = np.stack([crop_resized(image, box, pad, self.category.image_size) for image, box, _ in crops_of])
            scored = self._timed("category", self.category.probabilities, crops, [o["object_type"] for o in flat])
            for obj, (names, probs) in zip(flat, scored):
                best = int(np.argmax(probs)) if len(probs) else None
                obj["category"] = names[best] if best is not None else None
                obj["category_score"] = round(float(probs[best]), 6) if best is not None else None
        if self.attributes:
            crops = np.stack([crop_resized(image, box, pad, self.attributes.image_size) for image, box, _ in crops_of])
            probs = self._timed("attributes", self.attributes.probabilities, crops)
            for obj, decoded in zip(flat, self.attributes.decode(probs, [o.get("category") for o in flat])):
                obj.update(pattern=decoded["pattern"], style=decoded["style"], attributes=decoded["attributes"], attribute_scores=decoded["scores"])
        return results


def prediction_record(image_wh: tuple[int, int], objects: list[dict[str, Any]], removed: list[dict[str, Any]], models: dict[str, str | None], image: str | None) -> dict[str, Any]:
    """The JSON record of one image: an entry of `curate predict`'s `images` list, and the answer
    of the serving endpoint (which has no file name: `image` None)."""
    return {
        "image": image,
        "width": int(image_wh[0]),
        "height": int(image_wh[1]),
        "objects": objects,
        "removed": [{"rule": r["rule"], "object_type": r["object_type"], "score": round(float(r["score"]), 6), "box": {k: round(float(r[k]), 6) for k in BOX_COLUMNS}} for r in removed],
        "models": models,
    }


def image_files(source: Path) -> list[Path]:
    if source.is_file():
        return [source]
    if source.is_dir():
        return sorted(p for p in source.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    raise CurateError.at(source, "no such image or directory")


def draw_predictions(image_rgb: np.ndarray, objects: list[dict[str, Any]]) -> np.ndarray:
    """The image (BGR, for cv2.imwrite) with each object's box and labels in its type's colour."""
    canvas = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)
    height, width = canvas.shape[:2]
    thickness = max(1, round(min(height, width) / 250))
    for obj in objects:
        b = obj["box"]
        x0, y0, x1, y1 = (int(v) for v in xyxy_rel_to_px([b[c] for c in BOX_COLUMNS], (width, height)))
        colour = COLOURS_BGR[obj["object_type"]]
        cv2.rectangle(canvas, (x0, y0), (x1, y1), colour, thickness)
        words = [obj.get("category") or obj["object_type"], obj.get("style"), obj.get("pattern"), f"{obj['score']:.2f}"]
        text = " ".join(w for w in words if w)
        scale = max(0.35, min(height, width) / 900)
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        top = max(y0 - th - 4, 0)
        cv2.rectangle(canvas, (x0, top), (x0 + tw + 4, top + th + 4), colour, -1)
        cv2.putText(canvas, text, (x0 + 2, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return canvas


def predict_to_file(source: Path, models_dir: Path, out: Path, visualize: Path | None, rules: list[str]) -> dict[str, Any]:
    """`curate predict`: every image under `source` through the models in `models_dir`."""
    files = image_files(Path(source))
    return write_predictions(files, MergedPredictor(Path(models_dir), rules), out, visualize)


def write_predictions(files: list[Path], predictor: MergedPredictor, out: Path, visualize: Path | None, batch_size: int = PREDICT_BATCH) -> dict[str, Any]:
    """Predict every file, `batch_size` decoded images per `predict_batch` call; undecodable
    files are reported in `failed` and the rest go on."""
    rules = predictor.rules
    records, failed = [], []
    removed_counts = {name: 0 for name in RULES}
    if visualize is not None:
        Path(visualize).mkdir(parents=True, exist_ok=True)
    pending: list[tuple[Path, np.ndarray]] = []

    def flush() -> None:
        for (path, image), (objects, removed) in zip(pending, predictor.predict_batch([image for _, image in pending])):
            for entry in removed:
                removed_counts[entry["rule"]] += 1
            records.append(prediction_record((image.shape[1], image.shape[0]), objects, removed, predictor.versions(), str(path)))
            if visualize is not None:
                cv2.imwrite(str(Path(visualize) / f"{path.stem}.png"), draw_predictions(image, objects))
        pending.clear()

    for path in track(files, "predicting"):
        start = time.perf_counter()
        try:
            pending.append((path, load_image_rgb(path)))
        except CurateError as exc:
            failed.append({"image": str(path), "error": str(exc)})
        finally:
            predictor.seconds["decode"] += time.perf_counter() - start
        if len(pending) >= batch_size:
            flush()
    flush()
    document = {
        "models": predictor.versions(),
        "rules": {name: {"enabled": name in rules, "removed": removed_counts[name]} for name in RULES},
        "images": records,
        "failed": failed,
        "seconds": {k: round(v, 4) for k, v in predictor.seconds.items()},
    }
    write_text_atomic(Path(out), json.dumps(document, indent=2) + "\n")
    return {"images": len(records), "objects": sum(len(r["objects"]) for r in records), "failed": len(failed), "removed": {k: v for k, v in removed_counts.items() if v}, "seconds": document["seconds"]}
