"""Box geometry: every converter round-trips, IoU has the properties a metric relies on."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils

from curate.geometry import (
    area_xyxy,
    clip_xyxy,
    edge_shift_xyxy_px,
    intersection_over_first,
    iou_xyxy,
    padded_box_xyxy_px,
    tight_box_xyxy,
    xywh_rel_to_px,
    xywh_to_xyxy,
    xyxy_px_to_rel,
    xyxy_rel_to_px,
    xyxy_rel_to_px_enclosing,
    xyxy_to_cxcywh,
    xyxy_to_xywh,
)

unit = st.floats(0, 1, allow_nan=False)


@st.composite
def rel_boxes(draw, min_side=1e-3):
    x1, x2 = sorted((draw(unit), draw(unit)))
    y1, y2 = sorted((draw(unit), draw(unit)))
    assume(x2 - x1 > min_side and y2 - y1 > min_side)
    return np.array([x1, y1, x2, y2])


def box_arrays(max_size=6):
    return st.lists(rel_boxes(), min_size=1, max_size=max_size).map(np.array)


sizes = st.tuples(st.integers(1, 4000), st.integers(1, 4000))


@given(box_arrays())
def test_xywh_and_xyxy_round_trip(boxes):
    xywh = xyxy_to_xywh(boxes)
    assert (xywh[:, 2:] > 0).all()
    np.testing.assert_allclose(xywh_to_xyxy(xywh), boxes, atol=1e-12)
    np.testing.assert_allclose(xyxy_to_xywh(xywh_to_xyxy(xywh)), xywh, atol=1e-12)


@given(box_arrays(), sizes)
def test_relative_and_pixel_round_trip(boxes, image_wh):
    px = xyxy_rel_to_px(boxes, image_wh)
    assert px[:, [0, 2]].max() <= image_wh[0] and px[:, [1, 3]].max() <= image_wh[1]
    np.testing.assert_allclose(xyxy_px_to_rel(px, image_wh), boxes, rtol=1e-12, atol=1e-12)
    # the xywh form scales the same way, size included
    np.testing.assert_allclose(xywh_rel_to_px(xyxy_to_xywh(boxes), image_wh), xyxy_to_xywh(px), rtol=1e-9, atol=1e-9)


@given(box_arrays())
def test_centre_form_inverts_by_half_sizes(boxes):
    cx, cy, w, h = xyxy_to_cxcywh(boxes).T
    np.testing.assert_allclose(np.c_[cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], boxes, atol=1e-12)


def test_converters_keep_float32_and_shape():
    box = np.float32([0.1, 0.2, 0.5, 0.6])
    assert xyxy_to_xywh(box).dtype == np.float32 and xyxy_to_xywh(box).shape == (4,)
    assert xywh_to_xyxy([1, 2, 3, 4]).tolist() == [1.0, 2.0, 4.0, 6.0]
    per_box = xyxy_rel_to_px([[0.5, 0.5, 1, 1], [0.5, 0.5, 1, 1]], (np.array([10, 20]), np.array([100, 200])))
    assert per_box.tolist() == [[5, 50, 10, 100], [10, 100, 20, 200]]


@given(box_arrays(), sizes)
def test_enclosing_pixel_box_covers_the_box(boxes, image_wh):
    px = xyxy_rel_to_px(boxes, image_wh)
    enclosing = xyxy_rel_to_px_enclosing(boxes, image_wh)
    assert enclosing.dtype == np.int64
    assert (enclosing[:, :2] <= px[:, :2]).all() and (enclosing[:, 2:] >= px[:, 2:]).all()
    assert (enclosing[:, :2] > px[:, :2] - 1).all() and (enclosing[:, 2:] < px[:, 2:] + 1).all()


def test_clip_and_padded_box():
    np.testing.assert_array_equal(clip_xyxy([-0.1, 0.2, 1.3, 0.9]), [0, 0.2, 1, 0.9])
    np.testing.assert_array_equal(clip_xyxy([-3, 5, 120, 90], (100, 80)), [0, 5, 100, 80])
    assert padded_box_xyxy_px((0.25, 0.25, 0.75, 0.75), 0.1, (100, 200)) == (20, 40, 80, 160)
    assert padded_box_xyxy_px((0.0, 0.0, 1.0, 1.0), 0.2, (50, 40)) == (0, 0, 50, 40)
    assert padded_box_xyxy_px((0.5, 0.5, 0.5, 0.5), 0.1, (10, 10)) == (5, 5, 6, 6)  # at least one pixel
    assert padded_box_xyxy_px(None, 0.1, (30, 20)) == (0, 0, 30, 20)


def test_tight_box_of_a_mask():
    mask = np.zeros((20, 30), dtype=bool)
    assert tight_box_xyxy(mask) is None
    mask[4:9, 10:21] = True
    mask[15, 2] = True
    assert tight_box_xyxy(mask) == (2, 4, 21, 16)


@settings(max_examples=60)
@given(box_arrays(), box_arrays())
def test_iou_is_symmetric_and_bounded(a, b):
    forward, backward = iou_xyxy(a, b), iou_xyxy(b, a)
    assert forward.shape == (len(a), len(b))
    np.testing.assert_allclose(forward, backward.T, atol=1e-12)
    assert ((forward >= 0) & (forward <= 1 + 1e-12)).all()


@given(box_arrays())
def test_iou_of_a_box_with_itself_is_one(boxes):
    np.testing.assert_allclose(np.diag(iou_xyxy(boxes, boxes)), 1.0, atol=1e-9)
    np.testing.assert_allclose(np.diag(intersection_over_first(boxes, boxes)), 1.0, atol=1e-9)


@given(rel_boxes(), st.floats(0, 0.5))
def test_disjoint_boxes_have_zero_iou(box, gap):
    x1, y1, x2, y2 = box
    right = np.array([x2 + gap, y1, x2 + gap + (x2 - x1), y2])
    below = np.array([x1, y2 + gap, x2, y2 + gap + (y2 - y1)])
    assert iou_xyxy(box, right)[0, 0] == 0.0 and iou_xyxy(box, below)[0, 0] == 0.0
    assert intersection_over_first(box, right)[0, 0] == 0.0


def test_intersection_over_first_and_area():
    inner, outer = [0.2, 0.2, 0.4, 0.4], [0.0, 0.0, 1.0, 1.0]
    assert intersection_over_first(inner, outer)[0, 0] == pytest.approx(1.0)
    assert intersection_over_first(outer, inner)[0, 0] == pytest.approx(0.04)
    assert area_xyxy([[0, 0, 2, 3], [1, 1, 0, 0]]).tolist() == [6.0, 0.0]  # an inverted box has no area
    assert iou_xyxy(np.zeros((0, 4)), [outer]).shape == (0, 1)


@settings(max_examples=40, deadline=None)
@given(box_arrays(), box_arrays())
def test_iou_agrees_with_pycocotools(a, b):
    to_coco = lambda boxes: (xyxy_to_xywh(boxes) * 1000).tolist()  # noqa: E731
    expected = mask_utils.iou(to_coco(a), to_coco(b), [0] * len(b))
    np.testing.assert_allclose(iou_xyxy(a, b), expected, atol=1e-6)


def test_edge_shift_is_the_furthest_edge_move_in_pixels():
    a = [[0.25, 0.2, 0.75, 0.5], [0.1, 0.1, 0.2, 0.2]]
    b = [[0.30, 0.2, 0.75, 0.5], [0.1, 0.1, 0.2, 0.2]]
    assert edge_shift_xyxy_px(a, b, (120, 160)).tolist() == pytest.approx([6.0, 0.0])
    assert edge_shift_xyxy_px(a[0], [0.25, 0.2, 0.75, 0.5 + 1 / 320], (120, 160)).tolist() == pytest.approx([0.5])
