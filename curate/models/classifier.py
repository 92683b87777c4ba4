"""Stage 2: the category classifier over object crops, and a trained one as an embedder.

One model over every category (the source document's final choice, which also copes with
objects the detector put under the wrong type) or one model per object type. Any registered
backbone (EfficientNet B0-B4 and the other keras.applications networks, or the compact
`small_cnn` and `small_vgg`), the top N backbone layers fine-tuned, dropout, Adam, early
stopping that restores the best weights.

`CategoryModel` loads a trained model directory: crops -> category probabilities, and, for the
single model over every category, its embedding space (penultimate-layer features) for visual
search and label QA. Keras is imported when a network is first needed.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from curate.dataset import Dataset
from curate.errors import CurateError
from curate.imageio import load_image_rgb
from curate.hashing import file_sha256
from curate.models.data import class_weights, crop_resized, object_crops, oversample_indices
from curate.models.model_dir import (
    META_FILE,
    MODEL_FILE,
    ModelInfo,
    dataset_identity,
    load_keras_models,
    model_version,
    read_model_info,
    save_model_dir,
)
from curate.models.recipe import CropModelSection, CropStageRecipe
from curate.models.runtime import keras_module, predict_in_buckets
from curate.models.training import build_crop_model, crop_splits, crop_stage_inputs, fit_crop_model
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
    """Train and save the model directory (`curate.models.stages.train_stage` also evaluates it)."""
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
        runs[key] = fit_crop_model(
            model, lambda: {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}, x_train, y_train[order],
            data.val_images[val_rows], y_val, recipe.training, "val_accuracy", "max", weights, recipe.augmentation.flip,
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
    return out


class CategoryModel:
    """A trained category model directory: object crops -> category probabilities.

    With one model over every category (`model.per_object_type: false`, the default) it is also
    an embedder: penultimate-layer features and class probabilities share one space, which the
    embeddings store, visual search and label QA use. Per-object-type models have no single
    embedding space and are refused there.
    """

    def __init__(self, model_dir: str | Path):
        self.path = Path(model_dir)
        self.info = read_model_info(self.path, "category")
        self.labels: dict[str, list[str]] = self.info["labels"]  # model key (all, or an object type) -> its categories
        self.image_size = int(self.info["image_size"])
        self.taxonomy = dict(self.info.get("taxonomy") or {})
        self._models: dict | None = None
        self._networks = None

    def models(self) -> dict:
        """The Keras model(s) by key, loaded once."""
        if self._models is None:
            self._models = load_keras_models(self.path, self.info)
        return self._models

    def load(self) -> "CategoryModel":
        """Load the networks now (the predictor times inference, not loading)."""
        self.models()
        return self

    def probabilities(self, crops: np.ndarray, object_types: list[str]) -> list[tuple[list[str], np.ndarray]]:
        """Per crop: the label list of the model that scored it and its probabilities."""
        out: list[tuple[list[str], np.ndarray] | None] = [None] * len(crops)
        for key, model in self.models().items():
            rows = np.arange(len(crops)) if key == ALL else np.array([i for i, t in enumerate(object_types) if t == key], dtype=int)
            if len(rows):
                probs = predict_in_buckets(model, crops[rows])
                for row, p in zip(rows, probs):
                    out[row] = (self.labels[key], p)
        # An object type with no model of its own (none in training) gets no category.
        return [entry if entry is not None else ([], np.zeros(0)) for entry in out]

    # -- the embedding space of a single model ------------------------------------------------

    def require_embedding_space(self) -> "CategoryModel":
        if list(self.labels) != [ALL]:
            raise CurateError.at(
                self.path / META_FILE,
                f"a model per object type ({', '.join(self.labels)}) has no single embedding space; "
                "train one category model over every category (model.per_object_type: false)",
                field="labels",
            )
        if not (self.path / MODEL_FILE).is_file():
            raise CurateError.at(self.path / MODEL_FILE, "missing: the model directory has no trained network")
        return self

    @property
    def categories(self) -> list[str]:
        """The single model's labels, in the order of its probabilities."""
        return list(self.labels[ALL])

    @cached_property
    def sha256(self) -> str:
        """Identifies the embedding space: the network's weights and its label order (model.json
        also gathers evaluation results, which must not invalidate stored embeddings)."""
        return hashlib.sha256(f"{file_sha256(self.path / MODEL_FILE)}\x1f{json.dumps(self.categories)}".encode()).hexdigest()

    def describe(self) -> dict:
        return {"sha256": self.sha256, "path": str(self.path), "labels": self.categories}

    def networks(self):
        """(embedding network, classifier) sharing weights; built once."""
        if self._networks is None:
            keras = keras_module()
            classifier = self.models()[ALL]
            # The penultimate features are what the final softmax layer reads.
            self._networks = (keras.Model(classifier.inputs, classifier.layers[-1].input), classifier)
        return self._networks

    def embed(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 (N, size, size, 3) -> (embeddings (N, dim), probabilities (N, classes)), float32."""
        embedder, classifier = self.networks()
        return (
            np.asarray(embedder.predict(inputs, verbose=0, batch_size=256), dtype=np.float32).reshape(len(inputs), -1),
            np.asarray(classifier.predict(inputs, verbose=0, batch_size=256), dtype=np.float32),
        )

    def embed_image_files(self, paths: list[str | Path]) -> tuple[np.ndarray, np.ndarray]:
        """Whole images (search queries) -> their embeddings and class probabilities, in one batch."""
        return self.embed(np.stack([crop_resized(load_image_rgb(Path(p)), None, 0.0, self.image_size) for p in paths]))

    def dataset_embedder(self, dataset: Dataset):
        """The Embedder (jobs -> embeddings, probabilities) that update_embeddings calls per batch;
        crops are cut exactly as the classifier sees them at inference."""

        def embed(jobs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
            return self.embed(object_crops(dataset, jobs, self.image_size, random_pad=False))

        return embed

    def check_dataset(self, dataset: Dataset) -> None:
        """The model must be trained on the dataset's taxonomy version and know its categories."""
        expected = dataset.meta.get("taxonomy") or {}
        meta_file = self.path / META_FILE
        for key in ("name", "version", "sha256"):
            if expected.get(key) is not None and self.taxonomy.get(key) != expected.get(key):
                raise CurateError.at(
                    meta_file,
                    f"the model was trained on taxonomy {self.taxonomy.get('name')} {self.taxonomy.get('version')} "
                    f"but the dataset uses {expected.get('name')} {expected.get('version')} ({key} differs); retrain or re-import",
                    field=f"taxonomy.{key}",
                )
        unknown = sorted(set(dataset.objects["category"].dropna()) - set(self.categories))
        if unknown:
            raise CurateError.at(meta_file, f"the model's labels do not cover the dataset's categories {unknown}", field="labels")


def load_category_model(folder: str | Path) -> CategoryModel:
    """A single category model over every category, ready to embed."""
    return CategoryModel(folder).require_embedding_space()
