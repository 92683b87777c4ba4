"""Box geometry: the only home of box maths in curate.

The format is in every name. `xyxy` is (x_min, y_min, x_max, y_max); `xywh` is (x, y, width,
height) with (x, y) the top-left corner (COCO, SageMaker, FiftyOne); `cxcywh` is the centre and
the size (YOLO). `rel` coordinates are fractions of the image (0..1, what the tables hold), `px`
are pixels; `image_wh` is (width, height). Maximum coordinates are exclusive: the pixels of
columns 3, 4 and 5 make x_min 3 and x_max 6.

Converters take one box or an (n, 4) array and return a numpy float array of the same shape,
keeping a float input's dtype (float32 boxes stay float32) and computing integers as float64;
`image_wh` is one size for all boxes, or (widths, heights) arrays with one size per box.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

BoxLike = Sequence[float] | np.ndarray


def _boxes(boxes: BoxLike) -> np.ndarray:
    array = np.asarray(boxes)
    return array if np.issubdtype(array.dtype, np.floating) else array.astype(np.float64)


def _scale(image_wh) -> np.ndarray:
    """(width, height, width, height); per box when width and height are 1-D arrays."""
    width, height = (np.asarray(v, dtype=np.float64) for v in image_wh)
    return np.stack(np.broadcast_arrays(width, height, width, height), axis=-1)


# ---------------------------------------------------------------------------------------------
# Converters


def xywh_to_xyxy(boxes: BoxLike) -> np.ndarray:
    """(x, y, width, height) -> (x_min, y_min, x_max, y_max), in the same unit."""
    b = _boxes(boxes)
    return np.concatenate([b[..., :2], b[..., :2] + b[..., 2:]], axis=-1)


def xyxy_to_xywh(boxes: BoxLike) -> np.ndarray:
    """(x_min, y_min, x_max, y_max) -> (x, y, width, height), in the same unit."""
    b = _boxes(boxes)
    return np.concatenate([b[..., :2], b[..., 2:] - b[..., :2]], axis=-1)


def xyxy_to_cxcywh(boxes: BoxLike) -> np.ndarray:
    """(x_min, y_min, x_max, y_max) -> (centre x, centre y, width, height), in the same unit."""
    b = _boxes(boxes)
    return np.concatenate([(b[..., :2] + b[..., 2:]) / 2, b[..., 2:] - b[..., :2]], axis=-1)


def xyxy_rel_to_px(boxes: BoxLike, image_wh) -> np.ndarray:
    """Relative xyxy -> pixel xyxy (unrounded)."""
    return _boxes(boxes) * _scale(image_wh)


def xyxy_px_to_rel(boxes: BoxLike, image_wh) -> np.ndarray:
    """Pixel xyxy -> relative xyxy."""
    return _boxes(boxes) / _scale(image_wh)


def xywh_rel_to_px(boxes: BoxLike, image_wh) -> np.ndarray:
    """Relative xywh -> pixel xywh (unrounded): the size scales like the corner."""
    return _boxes(boxes) * _scale(image_wh)


def xyxy_rel_to_px_enclosing(boxes: BoxLike, image_wh: tuple[int, int]) -> np.ndarray:
    """Relative xyxy -> the integer pixel box that covers it: minimums floored, maximums ceiled."""
    px = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) * _scale(image_wh)
    return np.column_stack([np.floor(px[:, :2]), np.ceil(px[:, 2:])]).astype(np.int64)


def clip_xyxy(boxes: BoxLike, image_wh: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """Boxes clipped to the frame: (1, 1) for relative boxes, the image size for pixel boxes."""
    b = _boxes(boxes)
    return np.clip(b, 0.0, _scale(image_wh).astype(b.dtype))


def padded_box_xyxy_px(box_xyxy_rel: BoxLike | None, pad: float, image_wh: tuple[int, int]) -> tuple[int, int, int, int]:
    """The box grown by `pad` of its size on every side, clipped to the image, in integer pixels
    (at least one pixel wide and high). A null box (a whole-image label) gives the whole image."""
    width, height = image_wh
    if box_xyxy_rel is None or any(v is None or np.isnan(v) for v in box_xyxy_rel):
        return 0, 0, width, height
    x0, y0, x1, y1 = (float(v) for v in box_xyxy_rel)
    dx, dy = (x1 - x0) * pad, (y1 - y0) * pad
    left = int(np.floor(max(x0 - dx, 0.0) * width))
    top = int(np.floor(max(y0 - dy, 0.0) * height))
    right = int(np.ceil(min(x1 + dx, 1.0) * width))
    bottom = int(np.ceil(min(y1 + dy, 1.0) * height))
    return left, top, max(right, left + 1), max(bottom, top + 1)


def tight_box_xyxy(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """The pixel box (max exclusive) of the True pixels of a 2-D mask; None when there are none."""
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    if not len(xs):
        return None
    return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1


def edge_shift_xyxy_px(a_rel: BoxLike, b_rel: BoxLike, image_wh) -> np.ndarray:
    """How far the furthest edge moved between relative xyxy boxes a and b (pairwise, same shape),
    in pixels of the image: 0.5 or less is what rounding to whole pixels gives."""
    a = np.asarray(a_rel, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b_rel, dtype=np.float64).reshape(-1, 4)
    return np.abs((a - b) * _scale(image_wh)).max(axis=1)


# ---------------------------------------------------------------------------------------------
# Areas and overlaps (xyxy in any common unit)


def area_xyxy(boxes: BoxLike) -> np.ndarray:
    """Area of each box; an inverted box has area 0."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)


def intersection_xyxy(a: BoxLike, b: BoxLike) -> np.ndarray:
    """(n, m) intersection areas of boxes a (n, 4) and b (m, 4)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    width = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    height = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    return width * height


def iou_xyxy(a: BoxLike, b: BoxLike) -> np.ndarray:
    """(n, m) intersection over union of boxes a (n, 4) and b (m, 4); 0 where the union is empty."""
    inter = intersection_xyxy(a, b)
    union = area_xyxy(a)[:, None] + area_xyxy(b)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def intersection_over_first(a: BoxLike, b: BoxLike) -> np.ndarray:
    """(n, m): the share of each box of `a` covered by each box of `b`."""
    area = area_xyxy(a)[:, None]
    inter = intersection_xyxy(a, b)
    return np.divide(inter, area, out=np.zeros_like(inter), where=area > 0)
