"""Fashion-MNIST datasets and small category models for the catalogue-intelligence tests and
benchmarks (bench/ scripts import this file too)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from curate.models.classifier import CategoryModel, CategoryRecipe, load_category_model, train_category
from curate.dataset import images_frame, objects_frame, save_tables, stable_id
from curate.sources.fashion_mnist import locate_fashion_mnist, read_split, stratified_indices
from curate.taxonomy import load_mapping, load_taxonomy


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
