"""Seeded synthetic data with exact ground truth, for the tests and the benchmarks.

- product shots: Fashion-MNIST items (read straight from the official IDX files) upscaled and
  drawn onto a plain canvas at a random position; the ground-truth box is the tight box of the
  item's pixels;
- a Fashion-MNIST dataset in the real on-disk format, optionally with planted label noise, and
  the project's small CNN category model trained on it (catalogue-intelligence tests and bench);
- a garment dataset (coloured garment rectangles where they sit on a body) and the three stages
  trained on it as tiny models (model-stage and serving tests, the serving bench).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

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


GARMENT_SIZE = 128
GARMENT_SPLITS = ("train",) * 6 + ("val", "val", "test", "gold")


def _draw_garment(canvas: np.ndarray, box: tuple[float, float, float, float], colour: tuple[int, int, int], striped: bool) -> None:
    x0, y0, x1, y1 = (int(round(v * GARMENT_SIZE)) for v in box)
    canvas[y0:y1, x0:x1] = colour
    if striped:
        canvas[y0:y1:4, x0:x1] = (255, 255, 255)


def _garments_of(rng: np.random.Generator, index: int) -> list[dict]:
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


def garment_dataset(path: Path, n_images: int = 40, seed: int = 0, object_types: tuple[str, ...] | None = None) -> Path:
    """A seeded dataset of `n_images` 128 px pictures with garments as coloured rectangles where
    they sit on a body (striped sweaters or plain t-shirts above trousers or skirts, or a dress;
    two shoes), both tables written to `path`; splits cycle train/val/test/gold.

    `object_types` keeps only garments of those types (the others are not drawn either)."""
    rng = np.random.default_rng(seed)
    (path / "media").mkdir(parents=True, exist_ok=True)
    images, objects = [], []
    for i in range(n_images):
        canvas = np.full((GARMENT_SIZE, GARMENT_SIZE, 3), 225, dtype=np.uint8)
        canvas += rng.integers(0, 20, size=canvas.shape, dtype=np.uint8)
        image_id = stable_id("synthetic", i)
        for k, obj in enumerate(_garments_of(rng, i)):
            if object_types is not None and obj["object_type"] not in object_types:
                continue
            box = tuple(float(np.clip(v, 0, 1)) for v in obj["box"])
            _draw_garment(canvas, box, obj["colour"], obj["striped"])
            objects.append(dict(object_id=stable_id(image_id, k), image_id=image_id, x_min=box[0], y_min=box[1], x_max=box[2], y_max=box[3],
                                object_type=obj["object_type"], category=obj["category"], style=obj["style"], pattern=obj["pattern"],
                                attributes=obj["attributes"], source_label=obj["category"], box_origin="manual"))
        rel = f"media/{i:04d}.png"
        cv2.imwrite(str(path / rel), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
        images.append(dict(image_id=image_id, path=rel, width=GARMENT_SIZE, height=GARMENT_SIZE, source="synthetic", source_id=str(i), split=GARMENT_SPLITS[i % len(GARMENT_SPLITS)]))
    frame = objects_frame(objects)
    for col in ("x_min", "y_min", "x_max", "y_max"):
        frame[col] = frame[col].astype("float32")
    for col in ("style", "pattern"):
        frame[col] = pd.Series([v if isinstance(v, str) else None for v in frame[col]], dtype=object)
    save_tables(path, images_frame(images), frame, {"name": "synthetic"}, load_taxonomy())
    return path


TINY_STAGE_TRAINING = {"batch_size": 4, "epochs": 1, "steps_per_epoch": 2, "learning_rate": 0.001}
TINY_STAGE_MODELS = {
    "detector": {"backbone": "resnet_tiny", "image_size": 128, "min_level": 3, "max_level": 5},
    "category": {"backbone": "small_cnn", "image_size": 32},
    "attributes": {"backbone": "small_cnn", "image_size": 32, "loss": "soft_f1"},
}


def train_tiny_stages(dataset_path: Path, out: Path, seed: int = 1, detector_threshold: float | None = None) -> Path:
    """The three stages trained as tiny models (weights none, small inputs, two steps) into
    out/detector, out/category and out/attributes, each through its recipe as `curate train`
    trains it; returns `out`, the directory the merged predictor takes. Two steps leave the
    detector's chosen thresholds near 1; `detector_threshold` replaces them, so pictures carry
    objects for the later stages (serving tests and benchmarks)."""
    from curate.models.stages import STAGES, train_stage
    from curate.recipes import parse_recipe

    for stage, model in TINY_STAGE_MODELS.items():
        doc = {"dataset": str(dataset_path), "output": str(out / stage), "model": model, "training": {**TINY_STAGE_TRAINING, "seed": seed}}
        train_stage(stage, parse_recipe(STAGES[stage].recipe, doc, f"tiny {stage} recipe"), f"tiny {stage} recipe")
    if detector_threshold is not None:
        set_detector_threshold(out / "detector", detector_threshold)
    return out


def set_detector_threshold(detector_dir: Path, threshold: float) -> None:
    """Give every object type of a trained detector the same score threshold (in model.json)."""
    from curate.models.model_dir import read_model_info

    info = read_model_info(detector_dir, "detector")
    info["thresholds"] = {name: {**entry, "threshold": threshold} for name, entry in info["thresholds"].items()}
    (detector_dir / "model.json").write_text(json.dumps(info, indent=2) + "\n")
