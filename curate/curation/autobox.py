"""Canny auto-boxing of flat-lay images: box proposals with a confidence, and QA against manual boxes.

The image is turned into its colour distance from the measured background, so dark-on-light and
light-on-dark products look alike (background near 0, product bright). Canny runs on that with
thresholds derived from the image's own noise and contrast; a closing joins the outline into
components; components smaller than a speck limit are ignored. The coarse box of the kept
components is then tightened to the extreme foreground pixels next to those edges, which keeps
soft shadows (no edges) out and puts the box on the product's first pixel.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from curate.curation.flatlay import colour_distance, measure_background, median_u8
from curate.dataset import BOX_COLUMNS, stable_id
from curate.errors import CurateError
from curate.geometry import iou_xyxy, tight_box_xyxy, xyxy_px_to_rel
from curate.imageio import load_image_rgb

# Boxes are searched on a copy subsampled until its longer side is at most this many pixels:
# Canny and the morphology then cost a small, fixed fraction of decoding whatever the photo's size.
WORK_SIDE = 320
# Components whose box covers less than this fraction of the image are specks (dust, noise).
MIN_COMPONENT_AREA = 0.002
# With pairs split, a second box is kept only if its component is at least this share of the largest.
PAIR_MIN_SHARE = 0.3
MANUAL_ORIGINS = ("manual", "source", "sagemaker")


@dataclass(frozen=True)
class BoxProposal:
    """A proposed box in pixels (x_max/y_max exclusive) with a confidence in 0..1."""

    x_min: int
    y_min: int
    x_max: int
    y_max: int
    confidence: float

    def xyxy_rel(self, width: int, height: int) -> tuple[float, float, float, float]:
        return tuple(float(v) for v in xyxy_px_to_rel((self.x_min, self.y_min, self.x_max, self.y_max), (width, height)))  # type: ignore[return-value]


def canny_thresholds(distance: np.ndarray, contrast: float) -> tuple[float, float]:
    """Hysteresis thresholds from the image: above its gradient noise and its foreground contrast.

    The median Sobel magnitude (on a quarter of the pixels: a median needs no more) measures
    texture and noise; a product edge must also be as strong as a step of 1.5-3x the foreground
    contrast, which a soft shadow's gentle ramp is not.
    """
    sample = distance[::2, ::2]
    gx = cv2.Sobel(sample, cv2.CV_16S, 1, 0)
    gy = cv2.Sobel(sample, cv2.CV_16S, 0, 1)
    median_gradient = median_u8(cv2.add(cv2.convertScaleAbs(gx), cv2.convertScaleAbs(gy)))
    low = max(3.0 * median_gradient, 1.5 * contrast)
    return low, max(2.5 * low, 3.0 * contrast)


def _odd(n: float) -> int:
    return max(3, int(n) // 2 * 2 + 1)


def _group_components(rects: np.ndarray, sizes: np.ndarray, keep: list[int], split_pairs: bool) -> list[list[int]]:
    """One group with every component, or (pairs) up to two groups around the two largest."""
    if not split_pairs or len(keep) < 2:
        return [keep]
    ranked = sorted(keep, key=lambda i: (-sizes[i], i))
    first, second = ranked[0], ranked[1]
    if sizes[second] < PAIR_MIN_SHARE * sizes[first]:
        return [keep]
    centres = rects[:, :2] + rects[:, 2:] / 2
    groups = [[first], [second]]
    for i in ranked[2:]:
        nearer = int(np.linalg.norm(centres[i] - centres[second]) < np.linalg.norm(centres[i] - centres[first]))
        groups[nearer].append(i)
    return groups


def shrink_for_search(rgb: np.ndarray, work_side: int) -> tuple[np.ndarray, int]:
    """Keep every n-th pixel so the longer side is at most work_side; (small image, n).

    Plain subsampling costs a tenth of area averaging; the Gaussian blur before Canny does the
    smoothing, and a box found on the small image is exact to within n pixels.
    """
    factor = -(-max(rgb.shape[:2]) // work_side)
    if factor == 1:
        return rgb, 1
    h, w = rgb.shape[:2]
    return cv2.resize(rgb[: h // factor * factor, : w // factor * factor], (w // factor, h // factor), interpolation=cv2.INTER_NEAREST), factor


def propose_boxes(rgb: np.ndarray, split_pairs: bool = False, work_side: int = WORK_SIDE) -> list[BoxProposal]:
    """Box proposals for one flat-lay RGB image, in its own pixel coordinates."""
    height, width = rgb.shape[:2]
    small, factor = shrink_for_search(rgb, work_side)
    sh, sw = small.shape[:2]
    background = measure_background(small)
    distance = colour_distance(small, background.colour)
    smooth = cv2.GaussianBlur(distance, (3, 3), 0)
    low, high = canny_thresholds(smooth, background.threshold)
    edges = cv2.Canny(smooth, low, high)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (_odd(0.02 * max(sh, sw)),) * 2)
    closed = cv2.morphologyEx(edges, cv2.MORPH_CLOSE, kernel)
    # The outer contours of the closed edge map are its connected components (holes do not
    # matter for a box), found far faster than by labelling every pixel.
    contours, _ = cv2.findContours(closed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return []
    rects = np.array([cv2.boundingRect(c) for c in contours], dtype=np.int64).reshape(-1, 4)
    outline = np.array([cv2.arcLength(c, True) for c in contours])
    keep = [i for i in range(len(contours)) if rects[i, 2] * rects[i, 3] >= MIN_COMPONENT_AREA * sh * sw]
    if not keep:
        return []
    edge_contrast = float(distance[edges > 0].mean())
    proposals = []
    for group in _group_components(rects, rects[:, 2] * rects[:, 3], keep, split_pairs):
        x0, y0, x1, y1 = _refined_box(distance, background.threshold, [contours[i] for i in group], rects[group])
        # One coherent outline carries the edges of a clean product; a box merging scattered
        # components (clutter, props, a pair kept as one box) deserves a look first.
        share = float(outline[group].max() / outline.sum())
        proposals.append(BoxProposal(
            x0 * factor, y0 * factor, min(width, x1 * factor), min(height, y1 * factor),
            _confidence((x0, y0, x1, y1), (sw, sh), share, edge_contrast, background.threshold),
        ))
    return sorted(proposals, key=lambda p: (p.x_min, p.y_min))


def _refined_box(distance: np.ndarray, threshold: float, contours: list[np.ndarray], rects: np.ndarray) -> tuple[int, int, int, int]:
    """Tighten a group's coarse box to the extreme foreground pixels lying on its outline.

    Only the coarse box plus a 2-pixel margin is examined, so this costs little for any size.
    """
    h, w = distance.shape
    x0 = max(0, int(rects[:, 0].min()) - 2)
    y0 = max(0, int(rects[:, 1].min()) - 2)
    x1 = min(w, int((rects[:, 0] + rects[:, 2]).max()) + 2)
    y1 = min(h, int((rects[:, 1] + rects[:, 3]).max()) + 2)
    region = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    cv2.drawContours(region, contours, -1, 1, thickness=3, offset=(-x0, -y0))
    foreground = cv2.morphologyEx((distance[y0:y1, x0:x1] > threshold).astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    bx0, by0, bx1, by1 = tight_box_xyxy(foreground & region) or tight_box_xyxy(region)
    return x0 + bx0, y0 + by0, x0 + bx1, y0 + by1


def _confidence(box: tuple[int, int, int, int], size_wh: tuple[int, int], edge_share: float, edge_contrast: float, threshold: float) -> float:
    """High when one outline holds most edges (little clutter), edges are contrasty and the box is inside the frame.

    A box touching the frame edge usually means a cropped product or a non-plain background.
    """
    x0, y0, x1, y1 = box
    w, h = size_wh
    touches_frame = x0 <= 0 or y0 <= 0 or x1 >= w or y1 >= h
    contrast = min(1.0, edge_contrast / (3.0 * threshold))
    return round(float(edge_share * contrast * (0.5 if touches_frame else 1.0)), 4)


# ---------------------------------------------------------------------------------------------
# Per-image tasks (picklable, for curate.parallel executors)


def autobox_file(task: tuple[str, bool]) -> dict[str, Any]:
    """Decode one image and propose boxes; relative xyxy + confidence, or the reason it failed."""
    path, split_pairs = task
    try:
        rgb = load_image_rgb(path)
    except CurateError as exc:
        return {"error": str(exc), "boxes": []}
    h, w = rgb.shape[:2]
    return {"error": None, "width": w, "height": h, "boxes": [(*p.xyxy_rel(w, h), p.confidence) for p in propose_boxes(rgb, split_pairs)]}


# ---------------------------------------------------------------------------------------------
# Boxes on the tables


def iou_summary(ious: np.ndarray) -> dict[str, Any]:
    ious = np.asarray(ious, dtype=np.float64)
    if not len(ious):
        return {"boxes": 0}
    return {
        "boxes": int(len(ious)),
        "median": float(np.median(ious)),
        "mean": float(ious.mean()),
        "p05": float(np.percentile(ious, 5)),
        "share_iou_ge_0.5": float((ious >= 0.5).mean()),
        "share_iou_ge_0.75": float((ious >= 0.75).mean()),
        "share_iou_ge_0.9": float((ious >= 0.9).mean()),
        "histogram": np.histogram(ious, bins=10, range=(0, 1))[0].astype(int).tolist(),
    }


def write_iou_histogram(ious: np.ndarray, path: Path) -> None:
    """PNG histogram of proposal-vs-manual IoU, with the median marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(ious, bins=20, range=(0, 1), color="#4c72b0")
    if len(ious):
        ax.axvline(float(np.median(ious)), color="#c44e52", label=f"median {np.median(ious):.3f}")
        ax.legend(loc="upper left")
    ax.set_xlabel("IoU of the best proposal with the manual box")
    ax.set_ylabel("boxes")
    ax.set_title(f"auto-box QA ({len(ious)} manual boxes)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def boxable(objects: pd.DataFrame) -> pd.Series:
    """Objects auto-boxing may box: no box yet, and not a whole-image label a curator left
    without one on purpose (box_origin manual: the garment is not entirely in frame)."""
    return objects[BOX_COLUMNS[0]].isna() & objects["box_origin"].ne("manual")


def autobox_targets(images: pd.DataFrame, objects: pd.DataFrame, qa: bool) -> pd.DataFrame:
    """Images to box: flat-lays with objects to box, or (QA) images with manual boxes."""
    boxed = objects[BOX_COLUMNS[0]].notna()
    if qa:
        ids = objects.loc[boxed & objects["box_origin"].isin(MANUAL_ORIGINS), "image_id"].unique()
        return images[images["image_id"].isin(ids)]
    unboxed_ids = objects.loc[boxable(objects), "image_id"].unique()
    return images[images["image_id"].isin(unboxed_ids) & images["flat_lay"].fillna(False).astype(bool)]


def apply_proposals(objects: pd.DataFrame, results: dict[str, dict[str, Any]]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Give each boxed image's single unboxed object its proposal; extra proposals (a pair) become copies.

    Images with several unboxed objects are left alone: which box belongs to which label is a
    question for a curator, not a guess.
    """
    objects = objects.copy()
    unboxed = objects[boxable(objects)]
    per_image = unboxed.groupby("image_id").groups
    new_rows, stats = [], {"boxed_objects": 0, "pair_copies": 0, "no_proposal": [], "ambiguous": []}
    for image_id, result in sorted(results.items()):
        rows = per_image.get(image_id, [])
        if not result["boxes"]:
            stats["no_proposal"].append(image_id)
            continue
        if len(rows) != 1:
            stats["ambiguous"].append(image_id)
            continue
        index = rows[0]
        for k, (x0, y0, x1, y1, confidence) in enumerate(result["boxes"]):
            values = {"x_min": x0, "y_min": y0, "x_max": x1, "y_max": y1, "box_origin": "canny", "box_confidence": confidence, "review_status": "unreviewed"}
            if k == 0:
                for col, value in values.items():
                    objects.at[index, col] = value
                stats["boxed_objects"] += 1
            else:
                row = objects.loc[index].to_dict() | values
                row["object_id"] = stable_id(row["object_id"], "pair", k)
                new_rows.append(row)
                stats["pair_copies"] += 1
    if new_rows:
        objects = pd.concat([objects, pd.DataFrame(new_rows)], ignore_index=True)
    for col in BOX_COLUMNS + ("box_confidence",):
        objects[col] = objects[col].astype("float32")
    return objects, stats


def qa_ious(objects: pd.DataFrame, results: dict[str, dict[str, Any]]) -> np.ndarray:
    """For each manual box, the IoU of the best-matching proposal on its image (0 when none)."""
    manual = objects[objects[BOX_COLUMNS[0]].notna() & objects["box_origin"].isin(MANUAL_ORIGINS)]
    ious = []
    for image_id, group in manual.groupby("image_id", sort=True):
        proposals = np.array([b[:4] for b in results.get(image_id, {"boxes": []})["boxes"]], dtype=np.float64).reshape(-1, 4)
        truth = group[list(BOX_COLUMNS)].to_numpy(dtype=np.float64)
        ious.extend(iou_xyxy(truth, proposals).max(axis=1) if len(proposals) else np.zeros(len(truth)))
    return np.asarray(ious)
