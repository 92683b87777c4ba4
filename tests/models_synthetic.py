"""A seeded synthetic fashion dataset in the real on-disk format, for the model tests.

Each 128 px picture shows garments as coloured rectangles where they sit on a body: an
upper-body box (red; striped sweaters or plain t-shirts) above a lower-body box (blue; trousers
or skirts), or one full-body box (green dress), and two footwear boxes (orange) at the bottom.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from curate.dataset import images_frame, objects_frame, save_tables, stable_id
from curate.taxonomy import load_taxonomy

SIZE = 128
SPLITS = ("train",) * 6 + ("val", "val", "test", "gold")


def _draw(canvas: np.ndarray, box: tuple[float, float, float, float], colour: tuple[int, int, int], striped: bool) -> None:
    x0, y0, x1, y1 = (int(round(v * SIZE)) for v in box)
    canvas[y0:y1, x0:x1] = colour
    if striped:
        canvas[y0:y1:4, x0:x1] = (255, 255, 255)


def _objects_of(rng: np.random.Generator, index: int) -> list[dict]:
    jitter = lambda: rng.uniform(-0.03, 0.03)  # noqa: E731
    out = []
    if index % 3 == 2:
        out.append(dict(box=(0.3 + jitter(), 0.1 + jitter(), 0.7 + jitter(), 0.75), object_type="full-body", category="dresses", style="a-line", pattern=None, attributes=["length:midi"], colour=(40, 170, 40), striped=False))
    else:
        sweater = index % 2 == 0
        out.append(dict(box=(0.25 + jitter(), 0.08 + jitter(), 0.75 + jitter(), 0.42), object_type="upper-body",
                        category="sweaters" if sweater else "t-shirts", style=None if sweater else "polo",
                        pattern="striped" if sweater else None, attributes=["sleeve style:long sleeve" if sweater else "sleeve style:short sleeve"],
                        colour=(200, 30, 30), striped=sweater))
        skirt = index % 4 in (1, 2)
        out.append(dict(box=(0.3 + jitter(), 0.45 + jitter(), 0.7 + jitter(), 0.6 if skirt else 0.8), object_type="lower-body",
                        category="skirts" if skirt else "trousers", style="pencil" if skirt else None, pattern="checked" if skirt else None,
                        attributes=[] if skirt else ["fit:slim fit"], colour=(30, 30, 200), striped=False))
    for x in (0.3, 0.55):
        out.append(dict(box=(x + jitter(), 0.85, x + 0.15 + jitter(), 0.95), object_type="footwear", category="trainers" if index % 2 else "boots",
                        style=None, pattern=None, attributes=[], colour=(250, 140, 0), striped=False))
    return out


def make_dataset(path: Path, n_images: int = 40, seed: int = 0, object_types: tuple[str, ...] | None = None) -> Path:
    """Write `n_images` pictures and both tables to `path`; splits cycle train/val/test/gold.

    `object_types` keeps only garments of those types (the others are not drawn either)."""
    rng = np.random.default_rng(seed)
    (path / "media").mkdir(parents=True, exist_ok=True)
    images, objects = [], []
    for i in range(n_images):
        canvas = np.full((SIZE, SIZE, 3), 225, dtype=np.uint8)
        canvas += rng.integers(0, 20, size=canvas.shape, dtype=np.uint8)
        image_id = stable_id("synthetic", i)
        for k, obj in enumerate(_objects_of(rng, i)):
            if object_types is not None and obj["object_type"] not in object_types:
                continue
            box = tuple(float(np.clip(v, 0, 1)) for v in obj["box"])
            _draw(canvas, box, obj["colour"], obj["striped"])
            objects.append(dict(object_id=stable_id(image_id, k), image_id=image_id, x_min=box[0], y_min=box[1], x_max=box[2], y_max=box[3],
                                object_type=obj["object_type"], category=obj["category"], style=obj["style"], pattern=obj["pattern"],
                                attributes=obj["attributes"], source_label=obj["category"], box_origin="manual"))
        rel = f"media/{i:04d}.png"
        cv2.imwrite(str(path / rel), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
        images.append(dict(image_id=image_id, path=rel, width=SIZE, height=SIZE, source="synthetic", source_id=str(i), split=SPLITS[i % len(SPLITS)]))
    frame = objects_frame(objects)
    for col in ("x_min", "y_min", "x_max", "y_max"):
        frame[col] = frame[col].astype("float32")
    for col in ("style", "pattern"):
        frame[col] = pd.Series([v if isinstance(v, str) else None for v in frame[col]], dtype=object)
    save_tables(path, images_frame(images), frame, {"name": "synthetic"}, load_taxonomy())
    return path
