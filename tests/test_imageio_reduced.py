"""Decoding at the size a step needs, under the pixel cap."""

import cv2
import numpy as np
import pytest
from PIL import Image

from curate.curation.autobox import autobox_file, propose_boxes
from curate.curation.dedup import hash_file
from curate.errors import CurateError
from curate.geometry import iou_xyxy
from curate.imageio import MAX_PIXELS_ENV, jpeg_scale, load_image_reduced, load_image_rgb


def flat_lay_jpeg(path, width, height, exif=None):
    image = np.full((height, width, 3), 236, np.uint8)
    cv2.rectangle(image, (width // 4, height // 5), (3 * width // 4, 4 * height // 5), (50, 60, 90), -1)
    Image.fromarray(image).save(path, "JPEG", quality=92, **({"exif": exif} if exif else {}))
    return (width // 4, height // 5, 3 * width // 4 + 1, 4 * height // 5 + 1)


def test_jpeg_scale_keeps_the_longer_side_at_least_the_asked_size():
    assert jpeg_scale((13000, 13000), 640) == 8
    assert jpeg_scale((2000, 1600), 640) == 2
    assert jpeg_scale((1000, 800), 640) == 1


def test_a_large_jpeg_is_decoded_reduced_and_a_png_whole(tmp_path):
    jpeg = tmp_path / "big.jpg"
    flat_lay_jpeg(jpeg, 2400, 1800)
    rgb, size = load_image_reduced(jpeg, 300)
    assert size == (2400, 1800) and rgb.shape == (225, 300, 3)
    png = tmp_path / "big.png"
    Image.new("RGB", (800, 600), (9, 9, 9)).save(png)
    rgb, size = load_image_reduced(png, 100)
    assert size == (800, 600) and rgb.shape == (600, 800, 3)


def test_reduced_decoding_follows_the_exif_orientation(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    flat_lay_jpeg(path, 1600, 800, exif.tobytes())
    rgb, size = load_image_reduced(path, 200)
    assert size == (800, 1600) and rgb.shape == (200, 100, 3)  # 1/8 of the stored 1600x800, turned upright


def test_boxes_found_on_the_reduced_decode_match_the_full_size_ones(tmp_path):
    path = tmp_path / "flat.jpg"
    flat_lay_jpeg(path, 3000, 2400)
    result = autobox_file((str(path), False))
    assert (result["width"], result["height"]) == (3000, 2400)
    full = load_image_rgb(path)
    exact = [(p.x_min / 3000, p.y_min / 2400, p.x_max / 3000, p.y_max / 2400) for p in propose_boxes(full)]
    assert len(result["boxes"]) == len(exact) == 1
    assert iou_xyxy(np.array([result["boxes"][0][:4]]), np.array(exact))[0, 0] > 0.98
    hashed = hash_file(str(path))
    assert (hashed["width"], hashed["height"]) == (3000, 2400) and len(hashed["phash"]) == 16


def test_the_pixel_cap_refuses_a_full_decode_and_allows_a_reduced_one(tmp_path, monkeypatch):
    path = tmp_path / "big.jpg"
    flat_lay_jpeg(path, 2400, 1800)
    monkeypatch.setenv(MAX_PIXELS_ENV, "1000000")
    with pytest.raises(CurateError, match=r"big.jpg: image is 2400x1800 \(4 megapixels\): a full-size decode needs 4 megapixels, above the cap of 1 \(set CURATE_MAX_PIXELS"):
        load_image_rgb(path)
    assert load_image_reduced(path, 600)[0].shape == (450, 600, 3)
    with pytest.raises(CurateError, match="decoding it at 1200x900 needs 1 megapixels"):
        load_image_reduced(path, 1000)
    monkeypatch.setenv(MAX_PIXELS_ENV, "lots")
    with pytest.raises(CurateError, match="CURATE_MAX_PIXELS must be a number of pixels, found 'lots'"):
        load_image_rgb(path)


def test_the_cap_replaces_pillows_bomb_limit(tmp_path, monkeypatch):
    path = tmp_path / "wide.png"
    Image.new("L", (4000, 3000)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow alone would refuse this image
    assert load_image_rgb(path).shape == (3000, 4000, 3)
    assert Image.MAX_IMAGE_PIXELS == 1000
