"""Seeded synthetic product shots with exact ground truth, for tests, benchmarks and the demo.

Fashion-MNIST items (read straight from the IDX gz files) are upscaled and drawn onto a plain
canvas at a random position; the ground-truth box is the tight box of the item's pixels.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import cv2
import numpy as np

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_LABELS = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def read_idx(path: str | Path, limit: int | None = None) -> np.ndarray:
    """Read an IDX file (optionally gzipped) into a uint8 array, e.g. (n, 28, 28) images."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        _, dtype_code, ndim = struct.unpack(">HBB", handle.read(4))
        if dtype_code != 0x08:
            raise ValueError(f"{path}: only unsigned-byte IDX files are supported, found type 0x{dtype_code:02x}")
        shape = list(struct.unpack(f">{ndim}I", handle.read(4 * ndim)))
        if limit is not None:
            shape[0] = min(shape[0], limit)
        data = handle.read(int(np.prod(shape)))
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


def fashion_mnist(split: str = "t10k", limit: int | None = None, root: Path = FASHION_MNIST_DIR) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(root / f"{split}-images-idx3-ubyte.gz", limit)
    labels = read_idx(root / f"{split}-labels-idx1-ubyte.gz", limit)
    return images, labels


def tight_box_xyxy(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Pixel box (x_min, y_min, x_max, y_max), max exclusive, of the True pixels of a mask."""
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    if not len(xs):
        return None
    return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1


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
