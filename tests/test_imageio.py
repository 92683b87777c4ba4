import cv2
import numpy as np
import pytest
from PIL import Image

from curate.errors import CurateError
from curate.imageio import decode_image_bytes, image_format, load_image_rgb, read_image_size, read_image_size_bytes


def exif_with_orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


@pytest.mark.parametrize("fmt,suffix,mode", [("PNG", "png", "RGB"), ("JPEG", "jpg", "RGB"), ("GIF", "gif", "P"), ("BMP", "bmp", "RGB"), ("WEBP", "webp", "RGB"), ("WEBP", "webp", "RGBA")])
def test_header_size_matches_decoded_size(tmp_path, fmt, suffix, mode):
    path = tmp_path / f"img.{suffix}"
    Image.new(mode, (37, 23)).save(path, fmt, **({"lossless": True} if mode == "RGBA" else {}))
    assert read_image_size(path) == (37, 23)


def test_exif_orientation_5_to_8_swaps_width_and_height(tmp_path):
    for orientation, expected in [(1, (40, 20)), (3, (40, 20)), (6, (20, 40)), (8, (20, 40))]:
        path = tmp_path / f"o{orientation}.jpg"
        Image.new("RGB", (40, 20), (200, 10, 10)).save(path, "JPEG", exif=exif_with_orientation(orientation))
        assert read_image_size(path) == expected
        assert load_image_rgb(path).shape == (expected[1], expected[0], 3)


def test_truncated_zero_byte_and_corrupt_files_name_the_file(tmp_path):
    good = tmp_path / "good.jpg"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(good, "JPEG")
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    for path, message in [(truncated, "truncated JPEG"), (empty, "zero-byte"), (text, "not a PNG, JPEG"), (tmp_path / "gone.jpg", "not found")]:
        with pytest.raises(CurateError, match=message) as info:
            read_image_size(path)
        assert str(path) in str(info.value)
        with pytest.raises(CurateError, match=message):
            load_image_rgb(path)


def test_load_handles_cmyk_16bit_gray_and_alpha(tmp_path):
    cmyk = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (8, 6), (0, 255, 255, 0)).save(cmyk, "JPEG", quality=100)
    rgb = load_image_rgb(cmyk)
    assert rgb.shape == (6, 8, 3) and rgb.dtype == np.uint8 and rgb[0, 0, 0] > 200 and rgb[0, 0, 1] < 60

    deep = tmp_path / "deep.png"
    cv2.imwrite(str(deep), np.full((5, 7), 65535 // 2, np.uint16))
    out = load_image_rgb(deep)
    assert out.shape == (5, 7, 3) and abs(int(out[0, 0, 0]) - 127) <= 1

    deep_rgb = tmp_path / "deep_rgb.png"
    cv2.imwrite(str(deep_rgb), np.dstack([np.full((4, 4), v, np.uint16) for v in (0, 0, 65535)]))  # BGR: red
    assert tuple(load_image_rgb(deep_rgb)[0, 0]) == (255, 0, 0)

    gray = tmp_path / "gray.png"
    Image.new("L", (3, 2), 90).save(gray)
    assert load_image_rgb(gray).tolist() == np.full((2, 3, 3), 90).tolist()

    alpha = tmp_path / "alpha.png"
    img = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    img.putpixel((1, 1), (10, 20, 30, 255))
    img.save(alpha)
    out = load_image_rgb(alpha)
    assert tuple(out[0, 0]) == (255, 255, 255) and tuple(out[1, 1]) == (10, 20, 30)


def test_exif_rotation_turns_pixels(tmp_path):
    img = Image.new("RGB", (4, 2), (0, 0, 0))
    img.putpixel((0, 0), (255, 255, 255))  # top-left marker
    path = tmp_path / "rot.jpg"
    img.save(path, "JPEG", quality=100, exif=exif_with_orientation(6))  # displayed rotated 90 deg clockwise
    out = load_image_rgb(path)
    assert out.shape == (4, 2, 3)
    assert out[0, 1].mean() > 150 and out[0, 0].mean() < 100  # marker moved to the top-right


def test_huge_image_is_a_clear_error_not_a_crash(tmp_path, monkeypatch):
    path = tmp_path / "huge.png"
    Image.new("RGB", (40, 30)).save(path)
    monkeypatch.setenv("CURATE_MAX_PIXELS", "500")  # the pixel cap: 1,200 pixels are above it
    with pytest.raises(CurateError, match=r"huge.png: image is 40x30 .* resize the image"):
        load_image_rgb(path)
    assert read_image_size(path) == (40, 30)  # the header is still read


def test_images_in_memory_decode_as_files_do(tmp_path):
    for fmt, suffix, kind in [("PNG", "png", "png"), ("JPEG", "jpg", "jpeg"), ("GIF", "gif", "gif"), ("BMP", "bmp", "bmp"), ("WEBP", "webp", "webp")]:
        path = tmp_path / f"img.{suffix}"
        extra = {"exif": exif_with_orientation(6)} if fmt == "JPEG" else {}  # a rotated JPEG is turned in memory too
        Image.new("RGB", (9, 5), (200, 40, 10)).save(path, fmt, **extra)
        data = path.read_bytes()
        assert image_format(data[:16]) == kind
        assert read_image_size_bytes(data, "request body") == read_image_size(path)
        assert np.array_equal(decode_image_bytes(data, "request body"), load_image_rgb(path))
    assert image_format(b"<html>") is None and image_format(b"") is None


def test_images_in_memory_name_their_source_in_errors(tmp_path):
    good = tmp_path / "good.png"
    Image.new("RGB", (16, 16)).save(good)
    data = good.read_bytes()
    for bad, message in [(b"", "zero-byte"), (data[: len(data) // 2], "truncated PNG"), (b"plain text", "not a PNG, JPEG")]:
        with pytest.raises(CurateError, match=f"^field 'image': .*{message}"):
            decode_image_bytes(bad, "field 'image'")
