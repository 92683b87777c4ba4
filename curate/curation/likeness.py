"""Evidence that two photos are the same picture, beyond a 64-bit grey hash.

Variants of one product photographed in the same pose on white (a shoe in five colours, one
wallet with two logos) collide in a grey DCT hash, and so do different products of one shape.
Copies of one picture (resized, stretched to another aspect, re-encoded, cropped by a few
percent) differ only by resampling noise. So a pair the hash proposes is compared on its
pixels, in colour:

- each image is resized to a square (undoing any change of aspect) at three symmetric crops
  (none, 2% and 4%), SIDE x SIDE pixels each;
- the residual of a pair is the smallest, over one image uncropped against every crop of the
  other, of the mean per-pixel colour difference (the largest over R, G, B) over the pixels
  where either image is not background: a small product on a large white frame is judged on
  the product, not on the white;
- a pair is the same picture when its residual is at most `max_residual` (7 levels of 255 by
  default; copies measure 1-4, same-pose variants of different products 9 and more).
"""

from __future__ import annotations

import numpy as np
import cv2

SIDE = 24
# The square first drawn from the image, before each crop is resized to SIDE.
WORK = 96
CROPS = (0.0, 0.02, 0.04)
# Pixels farther than this from the border colour are foreground.
FOREGROUND = 12
MAX_RESIDUAL = 7.0


def signature(rgb: np.ndarray) -> np.ndarray:
    """(len(CROPS), SIDE, SIDE, 3) uint8: the frame resized to a square after each symmetric crop."""
    square = cv2.resize(rgb, (WORK, WORK), interpolation=cv2.INTER_AREA)
    out = []
    for crop in CROPS:
        k = int(round(crop / 2 * WORK))
        out.append(cv2.resize(square[k : WORK - k, k : WORK - k], (SIDE, SIDE), interpolation=cv2.INTER_AREA))
    return np.stack(out)


def _border_colour(thumb: np.ndarray) -> np.ndarray:
    ring = np.concatenate([thumb[0], thumb[-1], thumb[:, 0], thumb[:, -1]])
    return np.median(ring, axis=0).astype(np.int16)


def _residual(a: np.ndarray, b: np.ndarray, bg_a: np.ndarray, bg_b: np.ndarray) -> float:
    a16, b16 = a.astype(np.int16), b.astype(np.int16)
    diff = np.abs(a16 - b16).max(axis=-1)
    mask = (np.abs(a16 - bg_a).max(axis=-1) > FOREGROUND) | (np.abs(b16 - bg_b).max(axis=-1) > FOREGROUND)
    return float(diff[mask].mean()) if mask.sum() >= 8 else float(diff.mean())


def residual(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """The aligned foreground colour residual of two signatures (0: the same pixels)."""
    bg_a, bg_b = _border_colour(sig_a[0]), _border_colour(sig_b[0])
    best = min(_residual(sig_a[0], sig_b[k], bg_a, bg_b) for k in range(len(sig_b)))
    return min(best, min(_residual(sig_a[k], sig_b[0], bg_a, bg_b) for k in range(1, len(sig_a))))


def signature_to_bytes(sig: np.ndarray) -> bytes:
    return np.ascontiguousarray(sig, dtype=np.uint8).tobytes()


def signature_from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.uint8).reshape(len(CROPS), SIDE, SIDE, 3)
