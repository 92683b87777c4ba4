"""The plain background of a studio photo, measured on its border ring.

The ring (2% of the shorter side) is fitted with a smooth background: a flat colour (the
median), then a quadratic in x and y per channel refitted twice without the pixels that do not
fit, so studio sweeps, gradients and vignettes are background while a subject cut by the frame
does not bend the model. `border_match` is the share of the ring that fits; `distance_map` is
every pixel's distance from the fitted background, which flat-lay detection, auto-boxing and
augmentation masks threshold at `Background.threshold`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

# Minimum colour distance counted as "not background", whatever the measured noise.
MIN_FOREGROUND_CONTRAST = 12.0
# A plain background stays within this colour distance of its model; a textured scene adapts the
# noise estimate upwards, so the border match is measured with at most this tolerance.
PLAIN_TOLERANCE = 24.0
# Border pixels used for the fit: a few thousand are as good as all of them, and cheaper.
RING_SAMPLES = 4000
# A model whose values span less than this is a flat colour: distances are taken to one colour.
FLAT_SPAN = 2.0


@dataclass(frozen=True)
class Background:
    """The plain background of an image, measured on its border ring."""

    colour: np.ndarray  # per-channel median of the fitted background on the border, float32 (C,)
    noise: float  # robust spread (scaled MAD) of border pixels' distance to the model
    border_match: float  # fraction of border pixels within the (capped) foreground threshold
    coefficients: np.ndarray | None = None  # (6, C) quadratic model in x, y scaled to -1..1; None: flat

    @property
    def threshold(self) -> float:
        """Colour distance above which a pixel is foreground."""
        return foreground_threshold(self.noise)

    def model_image(self, height: int, width: int) -> np.ndarray | None:
        """The fitted background over a height x width frame (float32), or None when it is flat."""
        if self.coefficients is None:
            return None
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        design = _design(xs.ravel() / max(1, width - 1) * 2 - 1, ys.ravel() / max(1, height - 1) * 2 - 1)
        return (design @ self.coefficients).reshape(height, width, -1)


def foreground_threshold(noise: float) -> float:
    return max(4.0 * noise, MIN_FOREGROUND_CONTRAST)


def _design(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(xs), xs, ys, xs * xs, ys * ys, xs * ys], axis=1).astype(np.float32)


@lru_cache(maxsize=64)
def border_ring_coordinates(height: int, width: int, ring: int) -> tuple[np.ndarray, np.ndarray]:
    """(ys, xs) of the outer `ring`-pixel frame, at most RING_SAMPLES of them, evenly spread
    (cached per frame size: a catalogue's photos share a few sizes; the arrays are read-only)."""
    top = np.arange(min(ring, height))
    rows = np.concatenate([top, np.arange(max(height - ring, ring), height)])
    ys_h, xs_h = np.meshgrid(rows, np.arange(width), indexing="ij")
    middle = np.arange(ring, max(ring, height - ring))
    cols = np.concatenate([np.arange(min(ring, width)), np.arange(max(width - ring, ring), width)])
    ys_v, xs_v = np.meshgrid(middle, cols, indexing="ij")
    ys = np.concatenate([ys_h.ravel(), ys_v.ravel()])
    xs = np.concatenate([xs_h.ravel(), xs_v.ravel()])
    if len(ys) > RING_SAMPLES:
        pick = np.linspace(0, len(ys) - 1, RING_SAMPLES).astype(np.int64)
        ys, xs = ys[pick], xs[pick]
    ys.flags.writeable = False
    xs.flags.writeable = False
    return ys, xs


def median_u8(values: np.ndarray) -> float:
    """Median of a uint8 array from its histogram (linear time, no sort)."""
    cumulative = np.cumsum(np.bincount(values.ravel(), minlength=256))
    return float(np.searchsorted(cumulative, (cumulative[-1] + 1) // 2))


def percentile_u8(values: np.ndarray, q: float) -> float:
    """The q-th percentile (nearest rank) of a uint8 array from its histogram (no sort)."""
    cumulative = np.cumsum(np.bincount(values.ravel(), minlength=256))
    return float(np.searchsorted(cumulative, max(1, int(np.ceil(q / 100 * cumulative[-1])))))


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


def distance_map(rgb: np.ndarray, background: Background) -> np.ndarray:
    """Per-pixel max-over-channels distance from the fitted background: HxWxC uint8 -> HxW uint8."""
    model = background.model_image(*rgb.shape[:2])
    if model is None:
        return colour_distance(rgb, background.colour)
    diff = np.abs(rgb.reshape(model.shape).astype(np.float32) - model).max(axis=2)
    return np.clip(diff, 0, 255).astype(np.uint8)


def measure_background(rgb: np.ndarray) -> Background:
    """Smooth background fitted on the border ring (2% of the shorter side) of an RGB image.

    A flat colour first (the median); then twice a quadratic fitted to the ring pixels that lie
    within the tolerance of the current model, so a subject cut by the frame does not bend it.
    """
    h, w = rgb.shape[:2]
    flat_index, design = _ring_design(h, w, max(2, round(0.02 * min(h, w))))
    ring = rgb.reshape(h * w, -1)[flat_index]
    colour = np.array([median_u8(ring[:, c]) for c in range(ring.shape[1])], dtype=np.float32)
    distance_flat = colour_distance(ring[:, None, :], colour).ravel()
    distance, coefficients = distance_flat, None
    # channels x samples: reductions over channels are then elementwise maxima of long rows
    pixels = np.ascontiguousarray(ring.T, dtype=np.float32)
    for _ in range(2):
        keep = distance <= _tolerance(distance, None)
        if keep.sum() < max(12, 0.5 * distance.size):
            break  # most of the border is not background: keep the flat colour
        coefficients = _least_squares(design, pixels, keep)
        distance = _channel_max(pixels - coefficients.T @ design)
    fitted = None if coefficients is None else coefficients.T @ design
    span = 0.0 if fitted is None else float((fitted.max(axis=1) - fitted.min(axis=1)).max())
    if span < FLAT_SPAN:  # a flat colour: the median, as measured before a model existed
        fitted, coefficients, distance = None, None, distance_flat
    noise = _noise(distance)
    match = float((distance <= min(foreground_threshold(noise), PLAIN_TOLERANCE)).mean())
    return Background(
        colour if fitted is None else np.median(fitted, axis=1).astype(np.float32), noise, match, coefficients
    )


def _channel_max(difference: np.ndarray) -> np.ndarray:
    """Max over channels of |difference| for a channels x samples array."""
    out = np.abs(difference[0])
    for row in difference[1:]:
        np.maximum(out, np.abs(row), out=out)
    return out


@lru_cache(maxsize=64)
def _ring_design(height: int, width: int, ring: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat pixel indices of the ring samples and their 6 x samples quadratic design (read-only)."""
    ys, xs = border_ring_coordinates(height, width, ring)
    design = np.ascontiguousarray(_design(xs / max(1, width - 1) * 2 - 1, ys / max(1, height - 1) * 2 - 1).T)
    flat_index = ys * width + xs
    design.flags.writeable = False
    flat_index.flags.writeable = False
    return flat_index, design


def _least_squares(design: np.ndarray, values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """(6, C) least-squares coefficients over the kept samples, from the 6x6 normal equations
    (the terms are scaled to -1..1, so they are well conditioned; a tenth of an SVD's time)."""
    weighted = design * keep
    gram = weighted @ design.T + np.float32(1e-6) * np.eye(6, dtype=np.float32)
    return np.linalg.solve(gram, weighted @ values.T)


def _noise(distance: np.ndarray) -> float:
    """Scaled MAD of the distances that can be background at all (uint8: from the histogram)."""
    if distance.dtype == np.uint8:
        counts = np.bincount(distance, minlength=256)
        plausible = counts[: int(PLAIN_TOLERANCE) + 1]
        cumulative = np.cumsum(plausible if plausible.sum() else counts)
        return float(np.searchsorted(cumulative, (cumulative[-1] + 1) // 2)) * 1.4826
    plausible = distance[distance <= PLAIN_TOLERANCE]
    return float(np.median(plausible if len(plausible) else distance)) * 1.4826


def _tolerance(distance: np.ndarray, noise: float | None) -> float:
    return min(foreground_threshold(_noise(distance) if noise is None else noise), PLAIN_TOLERANCE)
