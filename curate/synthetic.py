"""Seeded synthetic product shots with exact ground truth, for tests, benchmarks and the demo.

Fashion-MNIST items (read straight from the official IDX files)
are upscaled and drawn onto a plain canvas at a random position; the ground-truth box is the
tight box of the item's pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

from curate.geometry import tight_box_xyxy
from curate.sources.fashion_mnist import locate_fashion_mnist, read_split


def fashion_mnist(split: str = "test", limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The first `limit` (28x28 image, label) pairs of a Fashion-MNIST split, from its IDX files."""
    images, labels = read_split(locate_fashion_mnist("full").folder, split)
    return images[:limit], labels[:limit]


def draw_on_canvas(
    item: np.ndarray,
    rng: np.random.Generator,
    light: bool = True,
    scale: int = 4,
    canvas_wh: tuple[int, int] = (224, 224),
    noise: float = 2.0,
    shadow: bool = False,
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Draw one 28x28 item scaled `scale` times onto a plain RGB canvas at a random position.

    On a light canvas the item is drawn dark-on-light (inverted, as a product on white); on the
    dark canvas light-on-dark, as Fashion-MNIST stores it. Returns the image and the pixel box.
    """
    big = cv2.resize(item, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST).astype(np.float32)
    h, w = big.shape
    cw, ch = canvas_wh
    x0 = int(rng.integers(0, cw - w + 1))
    y0 = int(rng.integers(0, ch - h + 1))
    background = float(rng.uniform(225, 250) if light else rng.uniform(0, 25))
    canvas = np.full((ch, cw), background, dtype=np.float32)
    if shadow:
        blob = np.zeros_like(canvas)
        blob[y0 + 6 : y0 + h + 6, x0 + 6 : x0 + w + 6] = (big > 0)[: ch - y0 - 6, : cw - x0 - 6] * 40.0
        canvas -= cv2.GaussianBlur(blob, (0, 0), 6)
    region = canvas[y0 : y0 + h, x0 : x0 + w]
    alpha = big / 255.0
    ink = 0.0 if light else 255.0
    # Faint item pixels are blended, so the item's own soft edge is part of the ground truth.
    canvas[y0 : y0 + h, x0 : x0 + w] = np.where(big > 0, region * (1 - alpha) + ink * alpha, region)
    canvas += rng.normal(0, noise, canvas.shape).astype(np.float32)
    rgb = np.repeat(np.clip(canvas, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
    bx0, by0, bx1, by1 = tight_box_xyxy(big > 0)
    return rgb, (x0 + bx0, y0 + by0, x0 + bx1, y0 + by1)
