"""Evidence of a person in a photo on a plain background: a verified face.

On a studio background the person often stands whole inside the frame, so the border says
nothing. A face says a lot, but face detectors also fire on watch dials, printed faces and
skin-coloured products, so a detection counts only when it looks like a head on a body:

- found by OpenCV's bundled Haar cascades (frontal, alt2 and profile, shipped inside
  opencv-python) on a copy scaled to WORK_HEIGHT rows, searched in the upper half of the
  foreground, where heads are;
- skin-coloured in its centre (YCrCb skin range, at least MIN_FACE_SKIN of the pixels);
- at the top of the silhouette: the foreground in its columns starts no more than one face
  height above it (hair), unlike a face printed on a bag;
- on a body: below its chin the foreground spreads wider than MIN_BODY_BELOW faces (shoulders);
- no wider than MAX_FACE_WIDTH of the image (a close-up face is cut by the frame anyway);
- confirmed by a second cascade at the same place (the two frontal cascades, or a profile).

`find_person` returns the evidence with its reason, or None.
"""

from __future__ import annotations

import threading
from typing import Any

import cv2
import numpy as np

from curate.curation.background import distance_map, measure_background

WORK_HEIGHT = 400
# Search heads in this upper fraction of the foreground's height.
HEAD_REGION = 0.5
MIN_FACE_SKIN = 0.6
MAX_HAIR_ABOVE = 1.0  # face heights of foreground above the face
MIN_BODY_BELOW = 1.2  # face widths of foreground half a face below the chin
MAX_FACE_WIDTH = 0.4  # of the image width
MIN_FACE_PX = 20
SCALE_STEP = 1.1
_FRONTAL = ("frontalface_alt2", "frontalface_default")


_LOCAL = threading.local()


def cascade(name: str) -> cv2.CascadeClassifier:
    """One loaded cascade per thread: a CascadeClassifier must not be shared by threads (Dask
    workers run tasks on several)."""
    loaded = getattr(_LOCAL, "cascades", None)
    if loaded is None:
        loaded = _LOCAL.cascades = {}
    if name not in loaded:
        found = cv2.CascadeClassifier(cv2.data.haarcascades + f"haarcascade_{name}.xml")
        if found.empty():
            raise RuntimeError(f"OpenCV's bundled Haar cascade '{name}' could not be loaded from {cv2.data.haarcascades}")
        loaded[name] = found
    return loaded[name]


def skin_mask(rgb: np.ndarray) -> np.ndarray:
    """Skin-coloured pixels: the classic YCrCb range (Cr 135-173, Cb 77-127), not too dark."""
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    y, cr, cb = ycc[..., 0], ycc[..., 1], ycc[..., 2]
    return (cr >= 135) & (cr <= 173) & (cb >= 77) & (cb <= 127) & (y > 40)


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def detect(name: str, grey: np.ndarray, region: tuple[int, int, int, int], flip: bool = False, min_side: int = MIN_FACE_PX, max_side: int | None = None) -> list[tuple[int, int, int, int]]:
    """Boxes (x0, y0, x1, y1) found by one cascade inside region, in grey's pixels."""
    x0, y0, x1, y1 = region
    patch = grey[y0:y1, x0:x1]
    if flip:
        patch = patch[:, ::-1]
    patch = np.ascontiguousarray(patch)
    largest = max_side or int(0.6 * grey.shape[1])
    if patch.shape[0] < min_side or patch.shape[1] < min_side or largest < min_side:
        return []
    found = cascade(name).detectMultiScale(patch, SCALE_STEP, 3, minSize=(min_side, min_side), maxSize=(largest, largest))
    boxes = []
    for x, y, w, h in found:
        if flip:
            x = patch.shape[1] - x - w
        boxes.append((int(x0 + x), int(y0 + y), int(x0 + x + w), int(y0 + y + h)))
    return boxes


def face_evidence(box: tuple[int, int, int, int], skin: np.ndarray, foreground: np.ndarray) -> dict[str, float]:
    """How much a detection looks like a head on a body (see the module docstring)."""
    x0, y0, x1, y1 = box
    fw, fh = x1 - x0, y1 - y0
    centre = skin[y0 + fh // 4 : y1 - fh // 4, x0 + fw // 4 : x1 - fw // 4]
    columns = foreground[:, x0 + fw // 4 : x1 - fw // 4]
    tops = np.where(columns.any(axis=0), columns.argmax(axis=0), foreground.shape[0])
    # the body: the widest extent of foreground in the rows from a quarter to one and a half face
    # heights below the chin, within two face widths of the face (a white collar or shirt shows
    # as its outline, so the extent, not the pixel count)
    h, w = foreground.shape
    band = foreground[min(h, int(y1 + 0.25 * fh)) : min(h, int(y1 + 1.5 * fh)), max(0, x0 - 2 * fw) : min(w, x1 + 2 * fw)]
    extents = [float(np.ptp(np.flatnonzero(row)) + 1) for row in band if row.any()]
    return {
        "skin": float(centre.mean()) if centre.size else 0.0,
        "hair_above": float((y0 - tops.min()) / fh) if len(tops) else 99.0,
        "body_below": max(extents, default=0.0) / fw,
        "width": float(fw / foreground.shape[1]),
    }


def plausible(evidence: dict[str, float]) -> bool:
    return (
        evidence["skin"] >= MIN_FACE_SKIN
        and evidence["hair_above"] <= MAX_HAIR_ABOVE
        and evidence["body_below"] >= MIN_BODY_BELOW
        and evidence["width"] <= MAX_FACE_WIDTH
    )


def _profile_confirms(grey: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    h, w = grey.shape
    x0, y0, x1, y1 = box
    side = x1 - x0
    around = (max(0, x0 - side), max(0, y0 - side), min(w, x1 + side), min(h, y1 + side))
    for flip in (False, True):
        for found in detect("profileface", grey, around, flip, max(MIN_FACE_PX, int(0.6 * side)), int(1.6 * side)):
            if _iou(found, box) > 0.3:
                return True
    return False


def find_person(rgb: np.ndarray) -> dict[str, Any] | None:
    """A verified face, as {"kind", "reason", "box_xyxy_rel", evidence...}, or None."""
    h, w = rgb.shape[:2]
    scale = WORK_HEIGHT / h
    work = cv2.resize(rgb, (max(1, round(w * scale)), WORK_HEIGHT), interpolation=cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA)
    background = measure_background(work)
    foreground = distance_map(work, background) > background.threshold
    ys, xs = np.flatnonzero(foreground.any(axis=1)), np.flatnonzero(foreground.any(axis=0))
    if not len(ys):
        return None
    wh, ww = foreground.shape
    pad = int(0.05 * ww)
    region = (max(0, xs[0] - pad), max(0, ys[0] - pad), min(ww, xs[-1] + 1 + pad), min(wh, int(ys[0] + HEAD_REGION * (ys[-1] + 1 - ys[0])) + pad))
    grey = cv2.cvtColor(work, cv2.COLOR_RGB2GRAY)
    skin = skin_mask(work)
    found = {name: detect(name, grey, region) for name in _FRONTAL}
    candidates = [(name, box, face_evidence(box, skin, foreground)) for name in _FRONTAL for box in found[name]]
    candidates = [c for c in candidates if plausible(c[2])]
    for name, box, evidence in candidates:
        other = _FRONTAL[1 - _FRONTAL.index(name)]
        if any(_iou(box, b) > 0.3 for b in found[other]):
            return _answer(box, evidence, "two frontal face cascades agree", (ww, wh))
    for name, box, evidence in candidates:
        if _profile_confirms(grey, box):
            return _answer(box, evidence, "a frontal and a profile face cascade agree", (ww, wh))
    return None


def _answer(box: tuple[int, int, int, int], evidence: dict[str, float], how: str, size_wh: tuple[int, int]) -> dict[str, Any]:
    ww, wh = size_wh
    rel = (box[0] / ww, box[1] / wh, box[2] / ww, box[3] / wh)
    return {
        "kind": "face",
        "reason": f"face at ({rel[0]:.2f}, {rel[1]:.2f}) on a body, {evidence['skin']:.0%} skin ({how})",
        "box_xyxy_rel": [round(v, 4) for v in rel],
        **{k: round(v, 3) for k, v in evidence.items()},
    }
