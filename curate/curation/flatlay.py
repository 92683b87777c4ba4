"""Flat-lay detection: is this a product shot on a plain background, with no person?

A flat-lay (or packshot) shows the product whole, inside the frame, on a plain background, so the
outer border of the image is almost entirely background of one colour. On-model photos crop the
person at the frame edge and often stand them in a scene, which breaks that. The answer goes to
`images.flat_lay`; the background colour and noise level are reused by auto-boxing.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from curate.errors import CurateError
from curate.imageio import load_image_reduced

# Fraction of border pixels that must match the background colour for a flat-lay.
FLAT_LAY_MIN_BORDER_MATCH = 0.95
# The border ring's statistics need a few hundred pixels a side: larger JPEGs are decoded reduced.
REDUCED_SIDE = 512
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
        return foreground_threshold(self.noise)


def foreground_threshold(noise: float) -> float:
    return max(4.0 * noise, MIN_FOREGROUND_CONTRAST)


def border_ring(image: np.ndarray, width: int, step: int = 1) -> np.ndarray:
    """Every `step`-th pixel (along rows and columns) of the outer `width`-pixel frame, as (n, C)."""
    h, w = image.shape[:2]
    pixels = image.reshape(h, w, -1)[::step, ::step]
    hs, ws, ws_w = pixels.shape[0], pixels.shape[1], max(1, width // step)
    channels = pixels.shape[2]
    parts = [pixels[:ws_w], pixels[hs - ws_w :], pixels[ws_w : hs - ws_w, :ws_w], pixels[ws_w : hs - ws_w, ws - ws_w :]]
    return np.concatenate([p.reshape(-1, channels) for p in parts])


def median_u8(values: np.ndarray) -> float:
    """Median of a uint8 array from its histogram (linear time, no sort)."""
    cumulative = np.cumsum(np.bincount(values.ravel(), minlength=256))
    return float(np.searchsorted(cumulative, (cumulative[-1] + 1) // 2))


def colour_distance(image: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Per-pixel max-over-channels absolute difference from a colour: HxWxC uint8 -> HxW uint8."""
    colour = np.atleast_1d(colour)
    # A scalar reference keeps this one pass over the pixels (broadcasting numpy is 10x slower).
    diff = cv2.absdiff(image, tuple(float(c) for c in colour) + (0.0,) * (4 - colour.size))
    if diff.ndim == 2:
        return diff
    channels = cv2.split(diff)
    out = channels[0]
    for channel in channels[1:]:
        out = cv2.max(out, channel)
    return out


def measure_background(rgb: np.ndarray) -> Background:
    """Colour, noise and plainness of the border ring (2% of the shorter side) of an RGB image."""
    h, w = rgb.shape[:2]
    width = max(2, round(0.02 * min(h, w)))
    # Statistics of a few thousand border pixels are as good as of all of them, and cheaper.
    ring = border_ring(rgb, width, step=max(1, min(h, w) // 256))
    colour = np.array([median_u8(ring[:, c]) for c in range(ring.shape[1])], dtype=np.float32)
    distance = colour_distance(ring[:, None, :], colour).ravel()
    noise = median_u8(distance) * 1.4826
    tolerance = min(foreground_threshold(noise), PLAIN_TOLERANCE)
    return Background(colour, noise, float((distance <= tolerance).mean()))


def is_flat_lay(rgb: np.ndarray, min_border_match: float = FLAT_LAY_MIN_BORDER_MATCH) -> tuple[bool, float]:
    """(flat-lay?, border match score) for one RGB image."""
    background = measure_background(rgb)
    return background.border_match >= min_border_match, background.border_match


def flat_lay_file(path: str) -> dict:
    """Per-image task for executors: the flat-lay answer and score, or why the file is unreadable."""
    try:
        flat, score = is_flat_lay(load_image_reduced(path, REDUCED_SIDE)[0])
    except CurateError as exc:
        return {"error": str(exc)}
    return {"error": None, "flat_lay": flat, "score": score}
