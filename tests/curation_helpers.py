"""Seeded synthetic datasets for the curation tests: Fashion-MNIST items drawn on plain canvases."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from curate.dataset import save_tables, images_frame, objects_frame, stable_id
from curate.demo.synthetic import draw_on_canvas, fashion_mnist

# Fashion-MNIST label -> (object type, category); 8 (bag) is excluded by the taxonomy.
FMNIST_CATEGORY = {
    0: ("upper-body", "t-shirts"),
    1: ("lower-body", "trousers"),
    2: ("upper-body", "sweaters"),
    3: ("full-body", "dresses"),
    4: ("upper-body", "coats & jackets"),
    5: ("footwear", "sandals"),
    6: ("upper-body", "shirts"),
    7: ("footwear", "trainers"),
    9: ("footwear", "boots"),
}


def write_rgb(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def fmnist_items(object_type: str | None, count: int, offset: int = 0) -> list[tuple[np.ndarray, int]]:
    """`count` (item, label) pairs of an object type (or any taxonomy-mapped type) from the test split."""
    images, labels = fashion_mnist("test", limit=5000)
    keep = [i for i, label in enumerate(labels) if int(label) in FMNIST_CATEGORY and (object_type is None or FMNIST_CATEGORY[int(label)][0] == object_type)]
    keep = keep[offset : offset + count]
    assert len(keep) == count
    return [(images[i], int(labels[i])) for i in keep]


def synthetic_dataset(root: Path, items: list[tuple[np.ndarray, int]], *, light: bool = True, boxed: bool = True, seed: int = 0, flat_lay: bool | None = True, canvas: int = 224, split: str | None = None) -> tuple[Path, list[tuple[int, int, int, int]]]:
    """Write PNGs under root/src and a dataset at root/ds; returns (dataset path, pixel boxes)."""
    rng = np.random.default_rng(seed)
    image_rows, object_rows, truth = [], [], []
    for n, (item, label) in enumerate(items):
        rgb, box = draw_on_canvas(item, rng, light=light, canvas_wh=(canvas, canvas))
        path = root / "src" / f"{n:05d}.png"
        write_rgb(path, rgb)
        image_id = stable_id("synthetic", n)
        object_type, category = FMNIST_CATEGORY[label]
        image_rows.append({"image_id": image_id, "path": str(path), "width": canvas, "height": canvas, "source": "synthetic", "source_id": str(n), "product_id": f"p{n}", "flat_lay": flat_lay, "split": split})
        row = {"object_id": stable_id(image_id, 0), "image_id": image_id, "object_type": object_type, "category": category, "source_label": str(label)}
        if boxed:
            row |= {"x_min": box[0] / canvas, "y_min": box[1] / canvas, "x_max": box[2] / canvas, "y_max": box[3] / canvas, "box_origin": "manual"}
        object_rows.append(row)
        truth.append(box)
    save_tables(root / "ds", images_frame(image_rows), objects_frame(object_rows))
    return root / "ds", truth
