"""Seeded synthetic data with exact ground truth, for the tests and the benchmarks.

- product shots: Fashion-MNIST items (read straight from the official IDX files) upscaled and
  drawn onto a plain canvas at a random position; the ground-truth box is the tight box of the
  item's pixels;
- a Fashion-MNIST dataset in the real on-disk format, optionally with planted label noise, and
  the project's small CNN category model trained on it (catalogue-intelligence tests and bench).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from curate.dataset import images_frame, objects_frame, save_tables, stable_id
from curate.geometry import tight_box_xyxy
from curate.models.classifier import CategoryModel, CategoryRecipe, load_category_model, train_category
from curate.sources.fashion_mnist import locate_fashion_mnist, read_split, stratified_indices
from curate.taxonomy import load_mapping, load_taxonomy


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


def fashion_mnist_dataset(out: Path, per_class: dict[str, int], seed: int = 0, flip_share: float = 0.0) -> tuple[Path, set[str], dict[str, str]]:
    """Write a Fashion-MNIST dataset (PNG files + tables, Bag dropped as the mapping says).

    With flip_share > 0 that share of the train objects get a random other category. Returns the
    dataset path, the flipped object ids and the true category of each object.
    """
    tax = load_taxonomy()
    mapping = load_mapping("fashion-mnist", tax)
    folder = locate_fashion_mnist().folder
    rng = np.random.default_rng(seed)
    images, objects, truth = [], [], {}
    (out / "media").mkdir(parents=True, exist_ok=True)
    for split, count in per_class.items():
        pixels, labels = read_split(folder, split)
        for i in stratified_indices(labels, count, seed):
            target = mapping.resolve_id(int(labels[i])).target
            if target is None:
                continue
            image_id = stable_id("fashion-mnist", split, int(i))
            rel = f"media/{split}-{int(i):05d}.png"
            cv2.imwrite(str(out / rel), pixels[i])
            images.append({"image_id": image_id, "path": rel, "width": 28, "height": 28, "source": "fashion-mnist", "source_id": f"{split}/{i}", "split": split, "flat_lay": True})
            object_id = stable_id(image_id, 0)
            truth[object_id] = target.category
            objects.append({"object_id": object_id, "image_id": image_id, "object_type": target.object_type, "category": target.category, "source_label": str(labels[i]), "box_origin": None})
    flipped: set[str] = set()
    if flip_share > 0:
        categories = sorted({o["category"] for o in objects})
        train_ids = {im["image_id"] for im in images if im["split"] == "train"}
        train_objects = [o for o in objects if o["image_id"] in train_ids]
        for k in rng.choice(len(train_objects), round(flip_share * len(train_objects)), replace=False):
            obj = train_objects[k]
            obj["category"] = rng.choice([c for c in categories if c != obj["category"]])
            obj["object_type"] = tax.object_type_of(obj["category"])
            flipped.add(obj["object_id"])
    save_tables(out, images_frame(images), objects_frame(objects), {"name": out.name}, tax)
    return out, flipped, truth


def train_category_model(dataset_path: Path, out: Path, epochs: int = 6, seed: int = 0) -> CategoryModel:
    """Train the project's small CNN category model (as `curate train category` does) on the
    train split and load it as an embedder."""
    recipe = CategoryRecipe(
        dataset=str(dataset_path),
        output=str(out),
        model={"backbone": "small_cnn", "weights": "none", "image_size": 28, "dropout": 0.2},
        training={"batch_size": 64, "epochs": epochs, "learning_rate": 0.002, "lr_schedule": "cosine", "early_stopping_patience": 3, "seed": seed},
        augmentation={"flip": True, "rotation": 0.0, "zoom": 0.0},
    )
    return load_category_model(train_category(recipe))
