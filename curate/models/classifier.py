"""Stage 2: the category classifier over object crops.

One model over every category (the source document's final choice, which also copes with
objects the detector put under the wrong type) or one model per object type. Any registered
backbone (EfficientNet B0-B4 and the other keras.applications networks, or the compact
`small_cnn` and `small_vgg`), the top N backbone layers fine-tuned, dropout, Adam, early
stopping that restores the best weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from curate.models.common import (
    CropModelSection,
    CropStageRecipe,
    ModelInfo,
    dataset_identity,
    load_keras_models,
    model_version,
    predict_in_buckets,
    read_model_info,
    save_model_dir,
)
from curate.models.data import class_weights, oversample_indices
from curate.models.training import build_crop_model, crop_splits, crop_stage_inputs, fit
from curate.recipes import recipe_to_yaml

ALL = "all"


class CategoryModelSection(CropModelSection):
    per_object_type: bool = False


class CategoryRecipe(CropStageRecipe):
    stage: Literal["category"] = "category"
    model: CategoryModelSection = CategoryModelSection()
    balancing: Literal["none", "class_weight", "oversample"] = "class_weight"


def balanced_training_rows(labels: np.ndarray, n_classes: int, balancing: str, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Row order and per-row weights for the chosen balancing."""
    if balancing == "oversample":
        return oversample_indices(labels, seed), None
    rows = np.arange(len(labels))
    if balancing == "class_weight":
        weights = class_weights(labels, n_classes)
        return rows, np.array([weights[int(c)] for c in labels], dtype=np.float32)
    return rows, None


def model_groups(objects: pd.DataFrame, per_object_type: bool) -> list[str]:
    return sorted(objects["object_type"].dropna().unique().tolist()) if per_object_type else [ALL]


def rows_of_group(objects: pd.DataFrame, key: str) -> np.ndarray:
    return np.ones(len(objects), dtype=bool) if key == ALL else (objects["object_type"] == key).to_numpy()


def combined_runs(runs: dict[str, dict]) -> dict:
    """One training summary over the per-object-type models (or the single model's own)."""
    if len(runs) == 1:
        return next(iter(runs.values()))
    return {
        "epochs_run": max(r["epochs_run"] for r in runs.values()),
        "wall_s": round(sum(r["wall_s"] for r in runs.values()), 1),
        "monitor": "val_accuracy (mean over models)",
        "best": float(np.mean([r["best"] for r in runs.values()])),
    }


def train_category(recipe: CategoryRecipe, recipe_file: str = "recipe") -> Path:
    """Train, save the model directory, and evaluate on the test split when there is one."""
    dataset, taxonomy, size = crop_stage_inputs(recipe, recipe_file)
    data = crop_splits(dataset, recipe.splits, lambda f: f["category"].notna(), "category", size, recipe.training.seed, "category training")

    models, labels, runs = {}, {}, {}
    for key in model_groups(data.train_objects, recipe.model.per_object_type):
        train_rows = rows_of_group(data.train_objects, key)
        names = sorted(data.train_objects.loc[train_rows, "category"].unique().tolist())
        index = {name: i for i, name in enumerate(names)}
        val_rows = rows_of_group(data.val_objects, key) & data.val_objects["category"].isin(index).to_numpy()
        y_train = data.train_objects.loc[train_rows, "category"].map(index).to_numpy(dtype=np.int32)
        y_val = data.val_objects.loc[val_rows, "category"].map(index).to_numpy(dtype=np.int32)
        order, weights = balanced_training_rows(y_train, len(names), recipe.balancing, recipe.training.seed)
        x_train = data.train_images[train_rows][order]
        model = build_crop_model(recipe, size, len(names), "softmax", recipe_file)
        runs[key] = fit(
            model, {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}, x_train, y_train[order],
            data.val_images[val_rows], y_val, recipe.training, "val_accuracy", "max", weights,
        )
        models[key], labels[key] = model, names

    identity = dataset_identity(dataset)
    extra = {"validation": data.val_source, "balancing": recipe.balancing, "training": combined_runs(runs)}
    if len(runs) > 1:
        extra["training_per_model"] = runs
    info = ModelInfo(
        "category", model_version("category", identity["sha256"], recipe_to_yaml(recipe)), labels, size,
        recipe.model.backbone, identity, taxonomy.identity(), extra,
    )
    out = save_model_dir(recipe.output, models, info, recipe)
    if (dataset.images["split"] == recipe.splits.test).any():
        from curate.models.evaluate import evaluate_model

        evaluate_model("category", out, dataset.path, recipe.splits.test)
    return out


class CategoryPredictor:
    """A loaded category model: crops (+ object types when per type) -> category and scores."""

    def __init__(self, model_dir: str | Path):
        self.dir = Path(model_dir)
        self.info = read_model_info(self.dir, "category")
        self.models = load_keras_models(self.dir, self.info)
        self.labels: dict[str, list[str]] = self.info["labels"]
        self.image_size = int(self.info["image_size"])

    def probabilities(self, crops: np.ndarray, object_types: list[str]) -> list[tuple[list[str], np.ndarray]]:
        """Per crop: the label list of the model that scored it and its probabilities."""
        out: list[tuple[list[str], np.ndarray] | None] = [None] * len(crops)
        for key, model in self.models.items():
            rows = np.arange(len(crops)) if key == ALL else np.array([i for i, t in enumerate(object_types) if t == key], dtype=int)
            if len(rows):
                probs = predict_in_buckets(model, crops[rows])
                for row, p in zip(rows, probs):
                    out[row] = (self.labels[key], p)
        # An object type with no model of its own (none in training) gets no category.
        return [entry if entry is not None else ([], np.zeros(0)) for entry in out]
