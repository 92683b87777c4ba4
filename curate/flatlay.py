"""Flat-lay detection: is this a product shot on a plain background, with no person?

A flat-lay (or packshot) shows the product whole, inside the frame, on a plain background, so the
outer border of the image is almost entirely background of one colour. On-model photos crop the
person at the frame edge and often stand them in a scene, which breaks that. The answer goes to
`images.flat_lay`; the background colour and noise level are reused by auto-boxing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from curate.errors import CurateError

# Fraction of border pixels that must match the background colour for a flat-lay.
FLAT_LAY_MIN_BORDER_MATCH = 0.95
# Minimum colour distance counted as "not background", whatever the measured noise.
MIN_FOREGROUND_CONTRAST = 12.0
# A plain background stays within this colour distance of its median; a textured scene adapts the
# noise estimate upwards, so the border match is measured with at most this tolerance.
PLAIN_TOLERANCE = 24.0


@dataclass(frozen=True)
class Background:
    """The plain background of an image, measured on its border ring."""

    colour: np.ndarray  # per-channel median of the border, float32 (3,)
    noise: float  # robust spread (scaled MAD) of border pixels' distance to that colour
    border_match: float  # fraction of border pixels within the (capped) foreground threshold

    @property
    def threshold(self) -> float:
        """Colour distance above which a pixel is foreground."""
        return max(4.0 * self.noise, MIN_FOREGROUND_CONTRAST)


def decode_rgb(path: str | Path) -> np.ndarray:
    """Decode an image file to an RGB uint8 array; unreadable files raise CurateError."""
    data = np.fromfile(str(path), dtype=np.uint8) if Path(path).is_file() else None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size else None
    if image is None:
        raise CurateError.at(path, "cannot decode the image (missing, empty, truncated or not an image)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def border_ring(image: np.ndarray, width: int) -> np.ndarray:
    """The pixels of the outer `width`-pixel frame of an HxW or HxWxC image, as (n, C)."""
    h, w = image.shape[:2]
    pixels = image.reshape(h, w, -1)
    parts = [pixels[:width].reshape(-1, pixels.shape[2]), pixels[h - width :].reshape(-1, pixels.shape[2]),
             pixels[width : h - width, :width].reshape(-1, pixels.shape[2]), pixels[width : h - width, w - width :].reshape(-1, pixels.shape[2])]
    return np.concatenate(parts).astype(np.float32)


def colour_distance(image: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Per-pixel max-over-channels absolute difference from a colour, as uint8 HxW."""
    # A scalar reference keeps this one pass over the pixels (broadcasting numpy is 10x slower).
    diff = cv2.absdiff(image, tuple(float(c) for c in np.atleast_1d(colour)) + (0.0,) * (4 - np.atleast_1d(colour).size))
    if diff.ndim == 2:
        return diff
    channels = cv2.split(diff)
    out = channels[0]
    for channel in channels[1:]:
        out = cv2.max(out, channel)
    return out


def measure_background(rgb: np.ndarray) -> Background:
    h, w = rgb.shape[:2]
    width = max(2, round(0.02 * min(h, w)))
    ring = border_ring(rgb, width)
    colour = np.median(ring, axis=0)
    distance = np.abs(ring - colour).max(axis=1)
    noise = float(np.median(distance) * 1.4826)
    threshold = max(4.0 * noise, MIN_FOREGROUND_CONTRAST)
    return Background(colour.astype(np.float32), noise, float((distance <= min(threshold, PLAIN_TOLERANCE)).mean()))


def is_flat_lay(rgb: np.ndarray, min_border_match: float = FLAT_LAY_MIN_BORDER_MATCH) -> tuple[bool, float]:
    """(flat-lay?, border match score) for one RGB image."""
    background = measure_background(rgb)
    return background.border_match >= min_border_match, background.border_match


def flat_lay_file(path: str) -> dict:
    """Per-image task for executors: the flat-lay answer and score, or why the file is unreadable."""
    try:
        flat, score = is_flat_lay(decode_rgb(path))
    except CurateError as exc:
        return {"error": str(exc)}
    return {"error": None, "flat_lay": flat, "score": score}
