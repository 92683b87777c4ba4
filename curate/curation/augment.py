"""Augmentation policies of the source document, on albumentations (the only module importing it).

- on-model detection images: horizontal flip + vertical flip + rotation
- flat-lay detection images: vertical flip + rotation (a flat-lay flipped left-right adds nothing)
- rotation angle drawn from {45, 90, 180} degrees
- classification crops: horizontal flip, rotation factor 0.3 (Keras: +-0.3 turn = +-108 degrees),
  zoom within 0.9-1.2

Boxes are transformed with the image. Rotating a box's corners gives a loose box, so where a
foreground mask is known (flat-lays: the plain background is measurable) each object's box is
recomputed from the rotated mask instead. Every call is seeded, so the same parent and seed
give the same copy on any executor.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from curate.curation.background import colour_distance, measure_background
from curate.errors import CurateError
from curate.geometry import clip_xyxy, tight_box_xyxy, xyxy_px_to_rel, xyxy_rel_to_px_enclosing
from curate.imageio import load_image_rgb

POLICIES: dict[str, tuple[str, ...]] = {
    "on-model": ("hflip", "vflip", "rotate-set"),
    "flat-lay": ("vflip", "rotate-set"),
    "crop": ("hflip", "rotate-zoom"),
}
ROTATION_ANGLES = (45, 90, 180)
CROP_ROTATION_DEGREES = 0.3 * 360
CROP_ZOOM = (0.9, 1.2)
# Fill colours are rounded to this step so a handful of cached pipelines serve every background.
FILL_STEP = 16


def quantised_fill(colour: np.ndarray) -> tuple[int, int, int]:
    return tuple(int(min(255, round(float(c) / FILL_STEP) * FILL_STEP)) for c in colour)  # type: ignore[return-value]


_per_thread = threading.local()


def build_pipeline(policy: str, angle: int, fill: tuple[int, int, int]):
    """The albumentations Compose for a policy with a fixed rotation angle and fill colour.

    Pipelines are cached per thread: each call re-seeds its pipeline, and threads sharing one
    (Dask workers in one process) would interleave seeds and lose reproducibility.
    """
    cache = _per_thread.__dict__.setdefault("pipelines", {})
    key = (policy, angle, fill)
    if key not in cache:
        cache[key] = _compose(policy, angle, fill)
    return cache[key]


def _compose(policy: str, angle: int, fill: tuple[int, int, int]):
    import albumentations as A

    if policy not in POLICIES:
        raise CurateError(f"unknown augmentation policy '{policy}' (expected one of {', '.join(POLICIES)})")
    registry = {
        "hflip": lambda: A.HorizontalFlip(p=0.5),
        "vflip": lambda: A.VerticalFlip(p=0.5),
        "rotate-set": lambda: A.Rotate(limit=(angle, angle), border_mode=cv2.BORDER_CONSTANT, fill=fill, fill_mask=0, p=1.0),
        "rotate-zoom": lambda: A.Affine(rotate=(-CROP_ROTATION_DEGREES, CROP_ROTATION_DEGREES), scale=CROP_ZOOM, border_mode=cv2.BORDER_CONSTANT, fill=fill, fill_mask=0, p=1.0),
    }
    return A.Compose(
        [registry[step]() for step in POLICIES[policy]],
        bbox_params=A.BboxParams(format="albumentations", label_fields=["box_index"], clip=True),
        save_applied_params=True,
    )


def object_mask(rgb: np.ndarray, boxes_px: np.ndarray) -> np.ndarray:
    """uint8 mask: foreground pixels (by background distance) inside box k are k+1."""
    background = measure_background(rgb)
    foreground = colour_distance(rgb, background.colour) > background.threshold
    mask = np.zeros(rgb.shape[:2], dtype=np.uint8)
    for k, (x0, y0, x1, y1) in enumerate(boxes_px):
        region = mask[y0:y1, x0:x1]
        region[foreground[y0:y1, x0:x1]] = k + 1
    return mask


def augment_image(rgb: np.ndarray, boxes_rel: np.ndarray, policy: str, seed: int, use_mask: bool = False) -> tuple[np.ndarray, list[tuple[float, float, float, float] | None], str]:
    """One augmented copy: (image, each box transformed or None when it left the frame, description)."""
    h, w = rgb.shape[:2]
    boxes_rel = clip_xyxy(np.asarray(boxes_rel, dtype=np.float64).reshape(-1, 4))
    rng = np.random.default_rng(seed)
    angle = int(rng.choice(ROTATION_ANGLES))
    fill = quantised_fill(measure_background(rgb).colour) if policy == "flat-lay" else (0, 0, 0)
    pipeline = build_pipeline(policy, angle, fill)
    pipeline.set_random_seed(int(rng.integers(2**31)))
    data: dict[str, Any] = {"image": rgb, "bboxes": boxes_rel, "box_index": list(range(len(boxes_rel)))}
    if use_mask:
        data["mask"] = object_mask(rgb, xyxy_rel_to_px_enclosing(boxes_rel, (w, h)))
    result = pipeline(**data)
    out_boxes: list[tuple[float, float, float, float] | None] = [None] * len(boxes_rel)
    for index, box in zip(result["box_index"], result["bboxes"]):
        out_boxes[int(index)] = tuple(float(v) for v in box)  # type: ignore[assignment]
    if use_mask:
        out_h, out_w = result["image"].shape[:2]
        for k in range(len(boxes_rel)):
            tight = tight_box_xyxy(result["mask"] == k + 1)
            if tight is not None:
                out_boxes[k] = tuple(float(v) for v in xyxy_px_to_rel(tight, (out_w, out_h)))  # type: ignore[assignment]
    return result["image"], out_boxes, describe(result["applied_transforms"], policy, angle)


def describe(applied: list[tuple[str, dict]], policy: str, angle: int) -> str:
    names = {"HorizontalFlip": "hflip", "VerticalFlip": "vflip", "Rotate": f"rotate{angle}", "Affine": "rotate-zoom"}
    return f"{policy}: " + "+".join(names.get(name, name) for name, _ in applied)


def augment_file(task: dict[str, Any]) -> dict[str, Any]:
    """Per-image task: read the parent, write the augmented copy, return boxes and description."""
    try:
        rgb = load_image_rgb(task["path"])
    except CurateError as exc:
        return {"error": str(exc)}
    image, boxes, description = augment_image(rgb, np.array(task["boxes"], dtype=np.float64), task["policy"], task["seed"], task["use_mask"])
    out = Path(task["out_path"])
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95]):
        return {"error": f"{out}: cannot write the augmented image"}
    return {"error": None, "boxes": boxes, "description": description, "width": image.shape[1], "height": image.shape[0]}
