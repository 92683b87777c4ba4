"""Decoding images into arrays, and the crop-and-resize a model's input needs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from curate.errors import CurateError


def read_pixels(path: str | Path, channels: int = 3) -> np.ndarray:
    """uint8 pixels, (H, W) for channels=1 or RGB (H, W, 3) for channels=3; alpha is dropped and
    16-bit images are scaled down, so every decodable file gives the same layout."""
    flags = cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR
    image = cv2.imread(str(path), flags | cv2.IMREAD_ANYDEPTH)
    if image is None or image.size == 0:
        raise CurateError.at(path, "cannot decode the image (missing, empty, truncated or not an image file)")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    return image if channels == 1 else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def crop_xyxy_rel(image: np.ndarray, box_xyxy_rel: tuple[float, float, float, float] | None) -> np.ndarray:
    """The part of the image inside a relative box (at least one pixel); None keeps the whole image."""
    if box_xyxy_rel is None:
        return image
    h, w = image.shape[:2]
    x0, y0, x1, y1 = box_xyxy_rel
    left, top = int(np.floor(x0 * w)), int(np.floor(y0 * h))
    right, bottom = max(int(np.ceil(x1 * w)), left + 1), max(int(np.ceil(y1 * h)), top + 1)
    return image[top:min(bottom, h), left:min(right, w)]


def model_input(image: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """float32 in 0..1, resized to (H, W) and with an explicit channel axis."""
    resized = cv2.resize(image, (size_hw[1], size_hw[0]), interpolation=cv2.INTER_AREA)
    if resized.ndim == 2:
        resized = resized[:, :, None]
    return resized.astype(np.float32) / 255.0
