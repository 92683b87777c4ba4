"""Flat-lay detection on studio photography: a person standing whole on white is no flat-lay,
a product on a studio sweep is one, and every answer has a reason."""

import cv2
import numpy as np
import pytest
from skimage import data

from curate.curation import person
from curate.curation.background import distance_map, measure_background
from curate.curation.flatlay import classify_photo, flat_lay_file
from curate.demo.synthetic import draw_on_canvas


@pytest.fixture(scope="module")
def astronaut_on_white():
    """scikit-image's astronaut cut out of her photo (GrabCut) and put on white, whole inside the frame."""
    photo = data.astronaut()
    mask = np.zeros(photo.shape[:2], np.uint8)
    cv2.grabCut(cv2.cvtColor(photo, cv2.COLOR_RGB2BGR), mask, (40, 15, 300, 497), np.zeros((1, 65)), np.zeros((1, 65)), 3, cv2.GC_INIT_WITH_RECT)
    person_mask = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    canvas = np.full((700, 560, 3), 255, np.uint8)
    canvas[100:612, 24:536] = np.where(person_mask[..., None], photo, 255)
    return canvas


@pytest.mark.parametrize("size_wh", [(560, 700), (225, 281)], ids=["large", "catalogue-size"])
def test_whole_person_on_white_is_on_model(astronaut_on_white, size_wh):
    rgb = cv2.resize(astronaut_on_white, size_wh, interpolation=cv2.INTER_AREA)
    answer = classify_photo(rgb)
    assert answer.border_match > 0.99  # the border alone would call it a flat-lay
    assert not answer.flat_lay
    assert answer.reason.startswith("person on a plain background: face at")
    x0, y0, x1, y1 = answer.person["box_xyxy_rel"]
    assert 0.25 < x0 < x1 < 0.6 and 0.1 < y0 < y1 < 0.4  # her face, not her mission patch
    assert answer.person["skin"] >= person.MIN_FACE_SKIN


def test_person_cut_by_the_frame_is_on_model_by_the_border():
    answer = classify_photo(data.astronaut())
    assert not answer.flat_lay and answer.reason.startswith("border not plain")
    assert answer.person is None


def test_products_on_white_and_on_a_studio_sweep_are_flat_lays(fmnist_items):
    rng = np.random.default_rng(4)
    item, _ = fmnist_items("upper-body", 1)[0]
    shot, _ = draw_on_canvas(item, rng)
    answer = classify_photo(shot)
    assert answer.flat_lay and answer.reason.startswith("plain background") and answer.person is None
    # the same product on a grey studio sweep: darker at the top, with a vignette
    ys, xs = np.mgrid[0:224, 0:224]
    sweep = 200 + 45 * (ys / 223) - 20 * ((xs - 112) / 112) ** 2
    swept = np.where(shot < 200, shot.astype(np.float64), sweep[..., None]).clip(0, 255).astype(np.uint8)
    background = measure_background(swept)
    assert background.coefficients is not None and background.border_match > 0.99
    assert classify_photo(swept).flat_lay
    # the fitted model makes the sweep background, not foreground
    assert (distance_map(swept, background)[:20] > background.threshold).mean() < 0.01


def test_face_like_products_are_not_people():
    # a watch face on a strap: a round dial with two hands and markers, on white
    rgb = np.full((300, 225, 3), 255, np.uint8)
    cv2.rectangle(rgb, (95, 10), (130, 290), (40, 40, 40), -1)
    cv2.circle(rgb, (112, 150), 55, (205, 170, 140), -1)  # a skin-coloured (gold) dial
    cv2.circle(rgb, (112, 150), 55, (60, 60, 60), 3)
    for angle in range(0, 360, 30):
        a = np.deg2rad(angle)
        cv2.line(rgb, (int(112 + 45 * np.cos(a)), int(150 + 45 * np.sin(a))), (int(112 + 50 * np.cos(a)), int(150 + 50 * np.sin(a))), (30, 30, 30), 2)
    cv2.line(rgb, (112, 150), (112, 112), (20, 20, 20), 3)
    cv2.line(rgb, (112, 150), (140, 150), (20, 20, 20), 3)
    answer = classify_photo(rgb)
    assert answer.flat_lay and answer.person is None


def test_flat_lay_task_reports_the_reason(tmp_path, astronaut_on_white):
    path = tmp_path / "model.png"
    cv2.imwrite(str(path), cv2.cvtColor(astronaut_on_white, cv2.COLOR_RGB2BGR))
    result = flat_lay_file(str(path))
    assert result["error"] is None and result["flat_lay"] is False and "face" in result["reason"]
    assert "error" in flat_lay_file(str(tmp_path / "missing.png"))
