"""Image files: size from the header alone, and decoding to RGB whatever the file holds.

`read_image_size` reads a few hundred bytes (PNG, JPEG, GIF, BMP, WebP) so a 100k-image import
does not decode 100k images; it also catches zero-byte and truncated files, which would
otherwise only fail much later, inside a training step. Sizes are the displayed ones: an EXIF
orientation that turns the picture by 90 degrees (JPEG APP1, PNG eXIf, WebP EXIF chunk) swaps
width and height, so boxes recorded against the size match the decoded pixels.

Images decode always to uint8 RGB, HxWx3, as displayed: the EXIF orientation is applied
(rotated or mirrored pixels, not just reported); CMYK is converted to RGB (inverted Adobe CMYK
included, no colour profile); 16-bit grayscale keeps its top 8 bits instead of clipping at 255,
16-bit colour is read at 8 bits per channel; grayscale and palette images are expanded; alpha is
composited on white. Two ways:

- `load_image_rgb` (`decode_image_bytes` for bytes in memory), at full size: where pixels are
  written or learned from (augmented copies, crops, model inputs);
- `load_image_reduced`, as small as a step needs (flat-lay detection, hashing and box search
  look at a few hundred pixels a side): JPEGs are decoded at 1/2, 1/4 or 1/8 scale by the codec
  itself, so a 13,000 x 13,000 photo never exists in memory at full size.

Every decode refuses more pixels than CURATE_MAX_PIXELS (default 64 million: a full-size decode
costs 3-6 bytes a pixel at its peak), which bounds every worker's memory; this cap replaces
Pillow's decompression-bomb limit.
"""

from __future__ import annotations

import errno
import io
import os
import struct
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from curate.errors import CurateError

# EXIF orientations 5-8 rotate by 90 degrees, so the displayed image is the stored one transposed.
_TRANSPOSING_ORIENTATIONS = {5, 6, 7, 8}
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_TAIL_BYTES = 1024


def read_image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) as displayed, from the file header; raises CurateError naming the file."""
    path = Path(path)
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            return _header_size(path, handle, size)
    except FileNotFoundError:
        if path.is_symlink():
            raise CurateError.at(path, f"image file not found: a broken link to {os.readlink(path)}") from None
        raise CurateError.at(path, "image file not found") from None
    except IsADirectoryError:
        raise CurateError.at(path, "expected an image file, found a folder") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise CurateError.at(path, "symbolic link loop (the link never leads to a file)") from None
        raise CurateError.at(path, f"cannot read the image header: {exc.strerror or exc}") from None


def image_format(head: bytes) -> str | None:
    """'png', 'jpeg', 'gif', 'bmp' or 'webp' from the first 16 bytes, or None for anything else."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:2] == b"\xff\xd8":
        return "jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:2] == b"BM":
        return "bmp"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def read_image_size_bytes(data: bytes, name: str) -> tuple[int, int]:
    """`read_image_size` for an image held in memory; `name` says where it came from in errors."""
    return _header_size(name, io.BytesIO(data), len(data))


def _header_size(path: str | Path, handle, size: int) -> tuple[int, int]:
    try:
        head = handle.read(32)
        if size == 0:
            raise CurateError.at(path, "zero-byte image file")
        width, height = _size_from_header(path, handle, head)
        _check_complete(path, handle, head, size)
    except struct.error as exc:
        raise CurateError.at(path, f"cannot read the image header: {exc}") from None
    if width <= 0 or height <= 0:
        raise CurateError.at(path, f"image header gives an invalid size {width}x{height}")
    return width, height


def _size_from_header(path: Path, handle, head: bytes) -> tuple[int, int]:
    kind = image_format(head)
    if kind == "png" and head[12:16] == b"IHDR":
        return _displayed(struct.unpack(">II", head[16:24]), _png_orientation(handle))
    if kind == "gif":
        return struct.unpack("<HH", head[6:10])
    if kind == "bmp":
        width, height = struct.unpack("<ii", head[18:26])
        return width, abs(height)  # a negative height means rows are stored top-down
    if kind == "webp":
        return _displayed(_webp_size(path, head), _webp_orientation(handle, head))
    if kind == "jpeg":
        return _jpeg_size(path, handle)
    raise CurateError.at(path, "not a PNG, JPEG, GIF, BMP or WebP image")


def _displayed(size: tuple[int, int], orientation: int | None) -> tuple[int, int]:
    return (size[1], size[0]) if orientation in _TRANSPOSING_ORIENTATIONS else size


def _png_orientation(handle) -> int | None:
    """The EXIF orientation of a PNG's eXIf chunk (it must come before the image data), or None."""
    handle.seek(8)
    while True:
        header = handle.read(8)
        if len(header) < 8:
            return None
        length, kind = struct.unpack(">I", header[:4])[0], header[4:]
        if kind in (b"IDAT", b"IEND"):
            return None
        if kind == b"eXIf":
            return _tiff_orientation(handle.read(length))
        handle.seek(length + 4, os.SEEK_CUR)  # data and CRC


def _webp_orientation(handle, head: bytes) -> int | None:
    """The EXIF orientation of an extended WebP's EXIF chunk (usually after the image data), or None."""
    if head[12:16] != b"VP8X" or not head[20] & 0x08:  # the header's EXIF flag
        return None
    handle.seek(12)
    while True:
        header = handle.read(8)
        if len(header) < 8:
            return None
        kind, length = header[:4], struct.unpack("<I", header[4:])[0]
        if kind == b"EXIF":
            data = handle.read(length)
            return _tiff_orientation(data[6:] if data.startswith(b"Exif\x00\x00") else data)
        handle.seek(length + (length & 1), os.SEEK_CUR)  # chunks are padded to an even size


def _webp_size(path: Path, head: bytes) -> tuple[int, int]:
    chunk = head[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
        return width, height
    if chunk == b"VP8L":
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    raise CurateError.at(path, f"unknown WebP chunk {chunk!r}")


def _jpeg_size(path: Path, handle) -> tuple[int, int]:
    """Walk the JPEG segments up to the frame header, noting the EXIF orientation on the way."""
    handle.seek(2)
    orientation = 1
    while True:
        marker = handle.read(2)
        if len(marker) < 2:
            raise CurateError.at(path, "JPEG ends before its frame header (truncated file)")
        if marker[0] != 0xFF:
            raise CurateError.at(path, f"corrupt JPEG: expected a segment marker, found {marker.hex()}")
        kind = marker[1]
        if kind == 0xFF:  # fill byte before a marker
            handle.seek(-1, os.SEEK_CUR)
            continue
        if kind in (0x01,) or 0xD0 <= kind <= 0xD7:
            continue
        length_bytes = handle.read(2)
        if len(length_bytes) < 2:
            raise CurateError.at(path, "JPEG ends inside a segment header (truncated file)")
        length = struct.unpack(">H", length_bytes)[0]
        if kind in _JPEG_SOF:
            frame = handle.read(5)
            if len(frame) < 5:
                raise CurateError.at(path, "JPEG ends inside its frame header (truncated file)")
            height, width = struct.unpack(">HH", frame[1:5])
            return (height, width) if orientation in _TRANSPOSING_ORIENTATIONS else (width, height)
        if kind == 0xE1:
            segment = handle.read(length - 2)
            orientation = _exif_orientation(segment) or orientation
            continue
        handle.seek(length - 2, os.SEEK_CUR)


def _exif_orientation(segment: bytes) -> int | None:
    """The Orientation tag (0x0112) of IFD0 in an APP1 Exif segment, or None."""
    if not segment.startswith(b"Exif\x00\x00") or len(segment) < 14:
        return None
    return _tiff_orientation(segment[6:])


def _tiff_orientation(tiff: bytes) -> int | None:
    """The Orientation tag (0x0112) of IFD0 in TIFF-structured EXIF data, or None."""
    if len(tiff) < 8:
        return None
    endian = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if endian is None:
        return None
    ifd = struct.unpack(endian + "I", tiff[4:8])[0]
    if ifd + 2 > len(tiff):
        return None
    entries = struct.unpack(endian + "H", tiff[ifd : ifd + 2])[0]
    for i in range(entries):
        at = ifd + 2 + 12 * i
        if at + 12 > len(tiff):
            return None
        tag, _type, _count = struct.unpack(endian + "HHI", tiff[at : at + 8])
        if tag == 0x0112:
            return struct.unpack(endian + "H", tiff[at + 8 : at + 10])[0]
    return None


def _check_complete(path: Path, handle, head: bytes, size: int) -> None:
    """Catch files cut short in transfer: their end marker (or declared length) is missing."""
    handle.seek(max(0, size - _TAIL_BYTES))
    tail = handle.read()
    if head[:2] == b"\xff\xd8" and b"\xff\xd9" not in tail:
        raise CurateError.at(path, "truncated JPEG: no end-of-image marker")
    if head.startswith(b"\x89PNG") and b"IEND" not in tail:
        raise CurateError.at(path, "truncated PNG: no IEND chunk")
    if head[:4] == b"RIFF" and size < struct.unpack("<I", head[4:8])[0] + 8:
        raise CurateError.at(path, "truncated WebP: file is shorter than its RIFF header says")
    if head[:2] == b"BM" and size < struct.unpack("<I", head[2:6])[0]:
        raise CurateError.at(path, "truncated BMP: file is shorter than its header says")
    if head[:3] == b"GIF" and not tail.rstrip(b"\x00").endswith(b";"):
        raise CurateError.at(path, "truncated GIF: no trailer byte")


DEFAULT_MAX_PIXELS = 64_000_000
MAX_PIXELS_ENV = "CURATE_MAX_PIXELS"
_JPEG_SCALES = (8, 4, 2)


def max_pixels() -> int:
    """The most pixels one decode may produce (CURATE_MAX_PIXELS, else the default)."""
    raw = os.environ.get(MAX_PIXELS_ENV)
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(float(raw))
    except ValueError:
        raise CurateError(f"{MAX_PIXELS_ENV} must be a number of pixels, found '{raw}'") from None
    if value <= 0:
        raise CurateError(f"{MAX_PIXELS_ENV} must be positive, found {value}")
    return value


def jpeg_scale(size_wh: tuple[int, int], min_side: int) -> int:
    """The largest JPEG reduction (8, 4, 2, else 1) that keeps the longer side at least min_side."""
    longer = max(size_wh)
    return next((s for s in _JPEG_SCALES if -(-longer // s) >= min_side), 1)


def _check_cap(path: str | Path, size_wh: tuple[int, int], decoded_wh: tuple[int, int], reduced: bool) -> None:
    cap = max_pixels()
    pixels = decoded_wh[0] * decoded_wh[1]
    if pixels > cap:
        how = f"decoding it at {decoded_wh[0]}x{decoded_wh[1]} needs" if reduced else "a full-size decode needs"
        raise CurateError.at(
            path,
            f"image is {size_wh[0]}x{size_wh[1]} ({size_wh[0] * size_wh[1] / 1e6:.0f} megapixels): {how} {pixels / 1e6:.0f} megapixels, "
            f"above the cap of {cap / 1e6:g} (set {MAX_PIXELS_ENV} to raise it, or resize the image)",
        )


@contextmanager
def _our_pixel_cap():
    """The pixel cap is checked before decoding; Pillow's own bomb limit would refuse earlier
    (at open, before a JPEG can be reduced), so it is lifted while we decode."""
    from PIL import Image

    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def _decode(source, path: str | Path, size: tuple[int, int], min_side: int | None) -> tuple[np.ndarray, tuple[int, int]]:
    from PIL import Image, UnidentifiedImageError

    try:
        with _our_pixel_cap(), Image.open(source) as img:
            scale = jpeg_scale(img.size, min_side) if min_side and img.format == "JPEG" else 1
            if scale > 1:
                # DCT scaling inside the codec: only the reduced image is ever held
                img.draft(img.mode if img.mode in ("CMYK", "L") else "RGB", (-(-img.size[0] // scale), -(-img.size[1] // scale)))
            _check_cap(path, size, img.size, reduced=scale > 1)
            img.load()
            return _displayed_rgb(img), size
    except CurateError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise CurateError.at(path, f"cannot decode image: {exc}") from None


def _displayed_rgb(img) -> np.ndarray:
    """The decoded image as displayed (EXIF orientation applied), as uint8 RGB."""
    from PIL import ImageOps

    return _to_rgb_array(ImageOps.exif_transpose(img))


def load_image_rgb(path: str | Path) -> np.ndarray:
    """Decode at full size to uint8 RGB (HxWx3) as displayed: EXIF-rotated, alpha composited on white."""
    path = Path(path)
    # read_image_size first: the same clear errors for missing, empty and truncated files
    return _decode(path, path, read_image_size(path), None)[0]


def decode_image_bytes(data: bytes, name: str) -> np.ndarray:
    """`load_image_rgb` for an image held in memory; `name` says where it came from in errors."""
    return _decode(io.BytesIO(data), name, read_image_size_bytes(data, name), None)[0]


def load_image_reduced(path: str | Path, min_side: int) -> tuple[np.ndarray, tuple[int, int]]:
    """(RGB array, full displayed (width, height)): decoded as small as keeps the longer side
    at least `min_side` (JPEGs by 1/2, 1/4 or 1/8; other formats at full size)."""
    path = Path(path)
    return _decode(path, path, read_image_size(path), min_side)


def _to_rgb_array(img) -> np.ndarray:
    from PIL import Image

    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grayscale: keep the top 8 bits instead of clipping at 255
        arr = np.asarray(img, dtype=np.uint32)
        peak = 65535 if img.mode.startswith("I;16") or arr.max() > 255 else 255
        gray = (arr * 255 // peak).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if img.mode == "P" or img.mode in ("LA", "PA") or "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, img)
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
