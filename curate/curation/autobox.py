"""Canny auto-boxing of flat-lay images: box proposals with a confidence, and QA against manual boxes.

The image is turned into its colour distance from the fitted background (a smooth model, so
studio sweeps and vignettes are background too), and dark-on-light and light-on-dark products
look alike (background near 0, product bright). Canny runs on that with thresholds derived from
the image's own noise and contrast; a closing joins the outline into parts; parts smaller than
a speck limit are ignored, and small parts far from the product (text, logos, specks) are left
out. The product is every foreground pixel of the remaining parts, so a white sole or a pale
strap with a faint outline stays inside the box; pairs, two-piece sets and multi-packs are one
box unless pairs are split on request.

Floor reflections and soft shadows under the product are the rows at the bottom of the box much
fainter than the product (a quarter of its strength or less) that fade out instead of ending at
a crisp outline, while the product's own top and sides are crisp; they are trimmed at the step
where the rows drop from the product. Every image gets a proposal or the reason it has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from curate.curation.background import distance_map, measure_background, median_u8, percentile_u8
from curate.dataset import BOX_COLUMNS, stable_id
from curate.errors import CurateError
from curate.geometry import iou_xyxy, tight_box_xyxy, xyxy_px_to_rel
from curate.imageio import load_image_reduced

# Boxes are searched on a copy subsampled until its longer side is at most this many pixels:
# Canny and the morphology then cost a small, fixed fraction of decoding whatever the photo's size.
WORK_SIDE = 320
# Components whose box covers less than this fraction of the image are specks (dust, noise).
MIN_COMPONENT_AREA = 0.002
# With pairs split, a second box is kept only if its component is at least this share of the largest.
PAIR_MIN_SHARE = 0.3
# Parts smaller than this share of the largest and farther than this share of the image diagonal
# from it are text, logos or specks.
SATELLITE_AREA = 0.05
SATELLITE_GAP = 0.05
# Floor reflections and soft shadows (see faint_bottom): rows at most FAINT of the product's
# strength; the product's own outline at least GUARD of it; a drop from the product below HALF of
# its strength, cut at a step of STEP times; a faint region ending at CRISP times the threshold,
# or OUTLINE times its own median, has an outline of its own and is part of the product.
FAINT = 0.25
GUARD = 0.25
HALF = 0.5
STEP = 1.8
CRISP = 2.0
# Under a contact line, with the product's outline at least CONTACT_GUARD of its strength, a
# faint region may end at up to CRISP_UNDER_CONTACT times the threshold and still be a reflection.
CRISP_UNDER_CONTACT = 4.0
CONTACT_GUARD = 0.5
OUTLINE = 1.05
# Faint pixels farther than this share of the image's longer side from an outline are shadow.
NEAR_EDGE = 0.012
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


@dataclass(frozen=True)
class BoxResult:
    """The proposals for one image, or the reason there are none, and what was left out."""

    boxes: list[BoxProposal]
    reason: str | None = None
    notes: tuple[str, ...] = ()


def propose_boxes(rgb: np.ndarray, split_pairs: bool = False, work_side: int = WORK_SIDE) -> list[BoxProposal]:
    """Box proposals for one flat-lay RGB image, in its own pixel coordinates."""
    return propose(rgb, split_pairs, work_side).boxes


def propose(rgb: np.ndarray, split_pairs: bool = False, work_side: int = WORK_SIDE) -> BoxResult:
    """Box proposals with the reason when there are none and notes on what was left out."""
    height, width = rgb.shape[:2]
    small, factor = shrink_for_search(rgb, work_side)
    sh, sw = small.shape[:2]
    background = measure_background(small)
    distance = distance_map(small, background)
    threshold = background.threshold
    smooth = cv2.GaussianBlur(distance, (3, 3), 0)
    low, high = canny_thresholds(smooth, threshold)
    edges = cv2.Canny(smooth, low, high)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (_odd(0.02 * max(sh, sw)),) * 2)
    closed = cv2.morphologyEx(edges, cv2.MORPH_CLOSE, kernel)
    foreground = cv2.morphologyEx((distance > threshold).astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    # the product's parts: the closed outline and every foreground pixel connected to it
    binary = closed | foreground
    parts, stats, region = _parts(binary, MIN_COMPONENT_AREA * sh * sw)
    if not parts:
        return BoxResult([], f"no product found: nothing differs from the background by more than {threshold:.0f} levels over {MIN_COMPONENT_AREA:.1%} of the image")
    notes: list[str] = []
    satellites = _satellites(stats, parts, float(np.hypot(sh, sw)))
    if satellites:
        notes.append(f"{len(satellites)} small part(s) far from the product left out (text, logo or speck)")
        parts = [i for i in parts if i not in satellites]
    member = (binary > 0) & product_pixels(distance, foreground, edges, threshold)
    edge_contrast = float(distance[edges > 0].mean()) if edges.any() else float(threshold)
    sizes = stats[:, cv2.CC_STAT_AREA]
    groups = _group_components(stats[:, :4], sizes, parts, split_pairs)
    proposals = []
    for group in groups:
        pixels = member & _in_parts(region, group, len(stats))
        box = tight_box_xyxy(pixels)
        if box is None:
            continue
        box = list(box)
        floor = faint_bottom(distance, box, threshold)
        if floor is not None:
            notes.append(f"floor reflection or soft shadow under the product left out ({(box[3] - floor) / sh:.1%} of the image height)")
            box[3] = floor
            box = _narrowed(pixels, box)
        share = float(sizes[group].max() / sizes[parts].sum())
        x0, y0, x1, y1 = box
        proposals.append(BoxProposal(
            x0 * factor, y0 * factor, min(width, x1 * factor), min(height, y1 * factor),
            _confidence((x0, y0, x1, y1), (sw, sh), share, edge_contrast, threshold),
        ))
    if not proposals:
        return BoxResult([], "no product found: the product's parts hold no foreground pixel", tuple(notes))
    return BoxResult(sorted(proposals, key=lambda p: (p.x_min, p.y_min)), None, tuple(notes))


def _parts(binary: np.ndarray, min_box_area: float) -> tuple[list[int], np.ndarray, np.ndarray]:
    """The connected parts of a binary image whose box covers at least min_box_area pixels.

    Returns the part indices, (n, 5) stats (x, y, w, h, pixel area, as OpenCV's) and a region
    image where every part's outline is filled with its index + 1. The outer contours give the
    boxes (a part inside another's hole lies inside that one's box and is taken as part of it);
    labelling without statistics plus a pixel count is several times faster than OpenCV's
    connected-component statistics.
    """
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    rects = np.array([cv2.boundingRect(c) for c in contours], dtype=np.int64).reshape(-1, 4)
    parts = [i for i in range(len(contours)) if rects[i, 2] * rects[i, 3] >= min_box_area]
    region = np.zeros(binary.shape, np.int32)
    if not parts:
        return [], np.zeros((0, 5), np.int64), region
    _, labels = cv2.connectedComponents(binary, connectivity=8)
    pixel_counts = np.bincount(labels.ravel())
    stats = np.zeros((len(parts), 5), np.int64)
    for k, i in enumerate(parts):
        x, y = contours[i][0, 0]
        stats[k, :4] = rects[i]
        stats[k, 4] = pixel_counts[labels[y, x]]
        cv2.drawContours(region, contours, i, k + 1, thickness=cv2.FILLED)
    return list(range(len(parts))), stats, region


def _in_parts(region: np.ndarray, group: list[int], count: int) -> np.ndarray:
    """Pixels of the region image that belong to the group's parts."""
    lookup = np.zeros(count + 1, bool)
    lookup[np.asarray(group) + 1] = True
    return lookup[region]


def product_pixels(distance: np.ndarray, foreground: np.ndarray, edges: np.ndarray, threshold: float) -> np.ndarray:
    """The pixels a box must hold: edges, strong foreground, and faint foreground near an edge.

    Faint foreground far from any edge (a quarter of the product's strength or less, more than
    NEAR_EDGE of the image's size from an outline) is a soft shadow: a gentle ramp that Canny
    leaves alone. A pale part of the product (a white sole, a clear base) has a crisp outline,
    so its pixels stay.
    """
    fg = foreground > 0
    if not fg.any():
        return edges > 0
    strength = percentile_u8(distance[fg], 95)
    reach = max(1, round(NEAR_EDGE * max(distance.shape)))
    near = cv2.dilate(edges, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1,) * 2)) > 0
    return (edges > 0) | (fg & ((distance > FAINT * max(strength, threshold / FAINT)) | near))


def _satellites(stats: np.ndarray, parts: list[int], diagonal: float) -> list[int]:
    """Small parts far from the largest one: text, logos, specks."""
    main = max(parts, key=lambda i: stats[i, cv2.CC_STAT_AREA])
    mx, my, mw, mh = stats[main, :4]
    far = []
    for i in parts:
        x, y, w, h = stats[i, :4]
        gap = float(np.hypot(max(0, mx - (x + w), x - (mx + mw)), max(0, my - (y + h), y - (my + mh)))) / diagonal
        if i != main and stats[i, cv2.CC_STAT_AREA] < SATELLITE_AREA * stats[main, cv2.CC_STAT_AREA] and gap > SATELLITE_GAP:
            far.append(i)
    return far


def _narrowed(mask: np.ndarray, box: list[int]) -> list[int]:
    """The box's columns tightened to the product's pixels above its new bottom."""
    x0, y0, x1, y1 = box
    columns = np.flatnonzero(mask[y0:y1, x0:x1].any(axis=0))
    return [x0 + int(columns[0]), y0, x0 + int(columns[-1]) + 1, y1] if len(columns) else box


def faint_bottom(distance: np.ndarray, box: list[int], threshold: float) -> int | None:
    """The row where a floor reflection or soft shadow starts under the product, or None.

    The rows at the bottom of the box whose 95th-percentile distance is at most FAINT of the
    product's (the median of the upper 60% of rows) must span at least 2% of the image, start
    below the top 30% of the box, fade out at their lower edge (no crisp outline: a pale strap,
    a white sole or a bottle's clear base has one), and leave the product's own top and sides
    crisp. The cut is at the step where the rows drop from the product, when there is one.
    """
    x0, y0, x1, y1 = box
    h = y1 - y0
    rows = np.percentile(distance[y0:y1, x0:x1], 95, axis=1)
    strength = float(np.median(rows[: max(1, int(0.6 * h))]))
    y = h
    while y > 0 and rows[y - 1] <= FAINT * strength:
        y -= 1
    if h - y < max(3, 0.02 * distance.shape[0]) or y <= 0.3 * h:
        return None
    outline = _outline_strength(distance, (x0, y0, x1, y0 + y))
    if outline < GUARD * strength:
        return None
    top = y
    while top > 0 and rows[top - 1] <= HALF * strength:
        top -= 1
    steps = [(float(rows[k - 1] / max(rows[k + 1], 1.0)), k) for k in range(max(1, top - 1), min(h - 1, y + 2))]
    ratio, step = max(steps) if steps else (0.0, y)
    # a contact line (a step down from the product) under a product with a crisp outline all
    # round: a strong reflection of a dark product may end crisply too
    crisp = CRISP_UNDER_CONTACT if ratio >= STEP and outline >= CONTACT_GUARD * strength else CRISP
    if _ends_crisp(distance[y0 + y : y1, x0:x1], threshold, distance.shape[0] - (y0 + y), crisp):
        return None
    return y0 + (step if ratio >= STEP else top)


def _outline_strength(distance: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """The weakest of the product's top, left and right outline bands (99th percentile of distance)."""
    x0, y0, x1, y1 = box
    band_y, band_x = max(3, int(0.05 * (y1 - y0))), max(3, int(0.05 * (x1 - x0)))
    top = percentile_u8(distance[y0 : y0 + band_y, x0:x1], 99)
    left = percentile_u8(distance[y0:y1, x0 : x0 + band_x], 99)
    right = percentile_u8(distance[y0:y1, x1 - band_x : x1], 99)
    return float(min(top, left, right))


def _ends_crisp(faint: np.ndarray, threshold: float, rows_to_frame: int, crisp: float = 2.0) -> bool:
    """Whether the faint rows end at an outline: their lowest pixels in each column are well above
    the threshold, or above the faint region's own typical level (an outline is darker than the
    inside of a pale part; a reflection or a shadow fades out)."""
    mask = faint > threshold
    if not mask.any():
        return False
    last = np.where(mask.any(axis=0), mask.shape[0] - 1 - np.argmax(mask[::-1], axis=0), -1)
    ends = [faint[max(0, last[x] - 1) : last[x] + 1, x].max() for x in np.flatnonzero(last >= 0) if last[x] < rows_to_frame - 2]
    if not ends:
        return False  # the faint rows run into the frame: nothing to judge them by
    end = float(np.median(ends))
    return end > crisp * threshold or end > OUTLINE * max(float(np.median(faint[mask])), 1.0)


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
        # the search runs on at most WORK_SIDE pixels a side: decode a JPEG at about twice that
        rgb, (width, height) = load_image_reduced(path, 2 * WORK_SIDE)
    except CurateError as exc:
        return {"error": str(exc), "boxes": []}
    h, w = rgb.shape[:2]  # the decoded pixels the boxes are found in
    result = propose(rgb, split_pairs)
    return {
        "error": None, "width": width, "height": height, "boxes": [(*p.xyxy_rel(w, h), p.confidence) for p in result.boxes],
        "reason": result.reason, "notes": list(result.notes),
    }


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
    new_rows: list[dict] = []
    stats: dict[str, Any] = {"boxed_objects": 0, "pair_copies": 0, "no_proposal": [], "no_proposal_reasons": {}, "ambiguous": [], "notes": {}}
    for image_id, result in sorted(results.items()):
        rows = per_image.get(image_id, [])
        if result.get("notes"):
            stats["notes"][image_id] = result["notes"]
        if not result["boxes"]:
            stats["no_proposal"].append(image_id)
            stats["no_proposal_reasons"][image_id] = result.get("reason") or "no product found"
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
