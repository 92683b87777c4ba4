"""Auto-boxing real packshot failure classes on synthetic photos: a shoe with a floor reflection,
a white sole on white, a soft shadow under the product, text beside it, a set kept as one box,
and a reason when there is nothing to box."""

import cv2
import numpy as np
import pytest

from curate.curation.autobox import autobox_file, propose
from curate.demo.synthetic import fashion_mnist
from curate.geometry import tight_box_xyxy

H, W = 300, 225


@pytest.fixture(scope="module")
def sneaker():
    """A Fashion-MNIST sneaker scaled up, as a dark product mask (True where the shoe is)."""
    images, labels = fashion_mnist("test", limit=400)
    shoe = images[np.flatnonzero(labels == 7)[1]]
    big = cv2.resize(shoe, None, fx=6, fy=6, interpolation=cv2.INTER_LINEAR)
    return big > 40


def _studio(mask, top=80, left=22, sole=0):
    """The shoe in dark grey on white, with an optional pale sole band of `sole` rows under it."""
    rgb = np.full((H, W, 3), 255, np.uint8)
    mh, mw = mask.shape
    region = rgb[top : top + mh, left : left + mw]
    region[mask] = (60, 62, 70)
    ys, xs = np.nonzero(mask)
    box = [left + xs.min(), top + ys.min(), left + xs.max() + 1, top + ys.max() + 1]
    if sole:
        bottom = top + ys.max() + 1
        x0, x1 = left + xs.min() + 4, left + xs.max() - 4
        rgb[bottom : bottom + sole, x0:x1] = (228, 228, 228)  # white sole, a crisp outline
        cv2.rectangle(rgb, (x0, bottom), (x1 - 1, bottom + sole - 1), (175, 175, 175), 1)
        box[3] = bottom + sole
    return rgb, box


def _edges_within(found, truth, tolerance=0.03):
    return all(abs(f - t) <= tolerance * s for f, t, s in zip(found, truth, (W, H, W, H)))


def test_floor_reflection_is_left_out(sneaker):
    rgb, truth = _studio(sneaker)
    bottom = truth[3]
    # the reflection: the shoe mirrored under its sole, faded into the white floor
    shoe = rgb[truth[1] : bottom].astype(np.float32)
    mirror = shoe[::-1][: H - bottom]
    fade = np.linspace(0.22, 0.02, len(mirror))[:, None, None]
    floor = rgb[bottom : bottom + len(mirror)].astype(np.float32)
    rgb[bottom : bottom + len(mirror)] = (floor * (1 - fade) + mirror * fade).astype(np.uint8)
    result = propose(rgb)
    assert len(result.boxes) == 1
    box = result.boxes[0]
    assert _edges_within((box.x_min, box.y_min, box.x_max, box.y_max), truth), (box, truth)
    assert any("reflection" in note for note in result.notes)


def test_white_sole_stays_inside_the_box(sneaker):
    rgb, truth = _studio(sneaker, sole=9)
    box = propose(rgb).boxes[0]
    assert box.y_max >= truth[3] - 1, (box, truth)  # never cut the sole
    assert _edges_within((box.x_min, box.y_min, box.x_max, box.y_max), truth)


def test_soft_shadow_under_the_shoe_is_left_out(sneaker):
    rgb, truth = _studio(sneaker)
    shadow = np.zeros((H, W), np.float32)
    shadow[truth[3] - 6 : truth[3] + 14, truth[0] + 5 : truth[2] - 5] = 45.0
    shadow = cv2.GaussianBlur(shadow, (0, 0), 7)
    rgb = (rgb.astype(np.float32) - shadow[..., None] * (rgb > 200)).clip(0, 255).astype(np.uint8)
    box = propose(rgb).boxes[0]
    assert _edges_within((box.x_min, box.y_min, box.x_max, box.y_max), truth), (box, truth)


def test_text_far_from_the_product_is_left_out_and_noted(sneaker):
    rgb, truth = _studio(sneaker, top=60)
    cv2.putText(rgb, "MATTE", (150, 285), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (90, 90, 90), 1)
    result = propose(rgb)
    box = result.boxes[0]
    assert _edges_within((box.x_min, box.y_min, box.x_max, box.y_max), truth)
    assert any("far from the product" in note for note in result.notes)


def test_two_piece_set_is_one_box_by_default(sneaker):
    rgb = np.full((H, W, 3), 255, np.uint8)
    cv2.rectangle(rgb, (30, 30), (120, 140), (200, 40, 40), -1)  # a top
    cv2.rectangle(rgb, (70, 160), (190, 270), (40, 40, 160), -1)  # its shorts
    boxes = propose(rgb).boxes
    assert len(boxes) == 1
    found = (boxes[0].x_min, boxes[0].y_min, boxes[0].x_max, boxes[0].y_max)
    assert max(abs(f - t) for f, t in zip(found, (30, 30, 191, 271))) <= 1  # the edge pixel just outside may count
    assert len(propose(rgb, split_pairs=True).boxes) == 2


def test_nothing_to_box_gives_a_reason(tmp_path):
    blank = np.full((H, W, 3), 250, np.uint8)
    result = propose(blank)
    assert result.boxes == [] and result.reason.startswith("no product found")
    path = tmp_path / "blank.png"
    cv2.imwrite(str(path), blank)
    task = autobox_file((str(path), False))
    assert task["boxes"] == [] and task["reason"].startswith("no product found")
    assert tight_box_xyxy(np.zeros((3, 3), bool)) is None
