"""The centre-point detector's targets, flips and decoding (numpy), and its losses on Keras."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.geometry import iou_xyxy
from curate.models.centernet import (
    DISTANCE_UNIT,
    STRIDE,
    box_giou_loss,
    cell_centres,
    centernet_targets,
    decode_centernet,
    flip_targets_horizontally,
    heatmap_focal_loss,
)

SIZE = 128
N_CLASSES = 4


def logits_of(heatmap: np.ndarray) -> np.ndarray:
    p = np.clip(heatmap, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def distances_from_targets(target: np.ndarray) -> np.ndarray:
    """The box distances a perfect network would predict at every cell (in DISTANCE_UNITs)."""
    centres = cell_centres(SIZE)
    x, y = centres[None, :], centres[:, None]
    d = np.stack([x - target[..., 0], y - target[..., 1], target[..., 2] - x, target[..., 3] - y], axis=-1)
    return np.where(target[..., 4:5] > 0, d / DISTANCE_UNIT, 0.0)


def test_each_object_has_one_peak_of_one_at_its_centre_cell():
    boxes = np.array([[10, 20, 70, 100], [80, 90, 120, 126]], np.float32)
    heatmap, target = centernet_targets(boxes, np.array([0, 3]), N_CLASSES, SIZE)
    assert heatmap.shape == (SIZE // STRIDE, SIZE // STRIDE, N_CLASSES) and target.shape[-1] == 5
    assert (heatmap == 1.0).sum() == 2
    assert heatmap[int(60 // STRIDE), int(40 // STRIDE), 0] == 1.0
    assert heatmap[int(108 // STRIDE), int(100 // STRIDE), 3] == 1.0
    assert heatmap[..., 1:3].max() == 0.0
    # every object's regression weights sum to log(area)
    first = (target[..., :4] == boxes[0]).all(-1)
    assert np.isclose(target[first, 4].sum(), np.log(60 * 80), rtol=1e-5)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 90), st.floats(0, 90), st.floats(24, 38), st.floats(24, 38), st.integers(0, 3)), min_size=1, max_size=3))
def test_decoding_perfect_maps_recovers_the_boxes(objects):
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h, _ in objects], np.float32)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    cells = np.floor(centres / STRIDE)
    # objects sharing a centre cell (or touching ones, whose peaks merge) cannot all be decoded
    if len({tuple(c) for c in cells}) < len(cells) or any(np.abs(a - b).max() <= 1 for i, a in enumerate(cells) for b in cells[i + 1:]):
        return
    classes = np.array([c for *_, c in objects])
    heatmap, target = centernet_targets(boxes, classes, N_CLASSES, SIZE)
    ((found, scores, labels),) = decode_centernet(logits_of(heatmap)[None], distances_from_targets(target)[None], SIZE, 10, 0.5)
    assert len(found) == len(boxes)
    match = iou_xyxy(found, boxes)
    assert (match.max(axis=1) > 0.999).all()
    assert sorted(labels.tolist()) == sorted(classes.tolist()) and np.allclose(scores, 1.0, atol=1e-5)


def test_flipping_the_batch_mirrors_boxes_and_maps():
    boxes = np.array([[10, 20, 50, 90]], np.float32)
    heatmap, target = centernet_targets(boxes, np.array([1]), N_CLASSES, SIZE)
    image = np.zeros((1, SIZE, SIZE, 3), np.uint8)
    image[0, 20:90, 10:50] = 255
    f_image, f_heat, f_target = flip_targets_horizontally(image, heatmap[None], target[None], SIZE)
    assert f_image[0, 50, SIZE - 11].max() == 255 and f_image[0, 50, 5].max() == 0
    ((found, _, labels),) = decode_centernet(logits_of(f_heat), distances_from_targets(f_target[0])[None], SIZE, 5, 0.5)
    assert labels.tolist() == [1]
    np.testing.assert_allclose(found[0], [SIZE - 50, 20, SIZE - 10, 90], atol=1e-3)
    assert (f_target[..., :4][f_target[..., 4] == 0] == 0).all()


def test_losses_are_small_for_perfect_predictions_and_large_for_wrong_ones():
    boxes = np.array([[10, 20, 70, 100]], np.float32)
    heatmap, target = centernet_targets(boxes, np.array([2]), N_CLASSES, SIZE)
    good = float(heatmap_focal_loss(heatmap[None], logits_of(heatmap)[None]))
    bad = float(heatmap_focal_loss(heatmap[None], np.full((1, *heatmap.shape), -2.0, np.float32)))
    assert good < 0.1 and bad > 1.0
    giou = box_giou_loss(SIZE)
    perfect = float(giou(target[None], distances_from_targets(target)[None].astype(np.float32)))
    shrunk = float(giou(target[None], (distances_from_targets(target) * 0.5)[None].astype(np.float32)))
    assert perfect == pytest.approx(0.0, abs=1e-4) and shrunk > 1.0
