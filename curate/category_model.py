"""A trained category classifier as an embedder: penultimate-layer features and class probabilities.

A model directory holds `model.keras` (a Keras 3 classifier whose last layer is the softmax over
the categories) and `model.yaml` (labels in output order, the taxonomy identity it was trained
against, input size and channels). Keras is imported inside functions only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from curate.dataset import BOX_COLUMNS, Dataset
from curate.errors import CurateError
from curate.pixels import crop_xyxy_rel, model_input, read_pixels

MODEL_FILE = "model.keras"
MODEL_META = "model.yaml"


@dataclass
class CategoryModel:
    path: Path
    labels: list[str]
    taxonomy: dict
    input_size: tuple[int, int]
    channels: int
    sha256: str
    _networks: Any = field(default=None, repr=False)

    def describe(self) -> dict:
        return {"sha256": self.sha256, "path": str(self.path), "labels": self.labels}

    def networks(self):
        """(embedding network, classifier) sharing weights; loaded once."""
        if self._networks is None:
            import keras

            classifier = keras.saving.load_model(self.path / MODEL_FILE, compile=False)
            # The penultimate features are what the final softmax layer reads.
            embedder = keras.Model(classifier.inputs, classifier.layers[-1].input)
            self._networks = (embedder, classifier)
        return self._networks


def model_sha256(folder: Path) -> str:
    digest = hashlib.sha256()
    for name in (MODEL_FILE, MODEL_META):
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()


def load_category_model(folder: str | Path) -> CategoryModel:
    folder = Path(folder)
    for name in (MODEL_FILE, MODEL_META):
        if not (folder / name).exists():
            raise CurateError.at(folder / name, "missing: a category model directory needs model.keras and model.yaml")
    meta = yaml.safe_load((folder / MODEL_META).read_text()) or {}
    missing = [k for k in ("labels", "taxonomy", "input_size", "channels") if k not in meta]
    if missing:
        raise CurateError.at(folder / MODEL_META, f"missing keys {', '.join(missing)}", field=missing[0])
    return CategoryModel(folder, list(meta["labels"]), dict(meta["taxonomy"]), tuple(meta["input_size"]), int(meta["channels"]), model_sha256(folder))


def check_model_matches(model: CategoryModel, dataset: Dataset) -> None:
    """The model must be trained on the dataset's taxonomy version and know its categories."""
    expected = dataset.meta.get("taxonomy") or {}
    meta_file = model.path / MODEL_META
    for key in ("name", "version", "sha256"):
        if expected.get(key) is not None and model.taxonomy.get(key) != expected.get(key):
            raise CurateError.at(
                meta_file,
                f"the model was trained on taxonomy {model.taxonomy.get('name')} {model.taxonomy.get('version')} "
                f"but the dataset uses {expected.get('name')} {expected.get('version')} ({key} differs); retrain or re-import",
                field=f"taxonomy.{key}",
            )
    unknown = sorted(set(dataset.objects["category"].dropna()) - set(model.labels))
    if unknown:
        raise CurateError.at(meta_file, f"the model's labels do not cover the dataset's categories {unknown}", field="labels")


def model_inputs(dataset: Dataset, jobs: pd.DataFrame, model: CategoryModel) -> np.ndarray:
    """The batch of crops (or whole images) the jobs name, as the model's input tensor."""
    batch = []
    for row in jobs.itertuples(index=False):
        box = tuple(getattr(row, c) for c in BOX_COLUMNS)
        box = None if any(pd.isna(v) for v in box) else box
        pixels = read_pixels(dataset.image_path(row.path), model.channels)
        batch.append(model_input(crop_xyxy_rel(pixels, box), model.input_size))
    return np.stack(batch)


def embed_arrays(model: CategoryModel, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    embedder, classifier = model.networks()
    return (
        np.asarray(embedder.predict(inputs, verbose=0, batch_size=256), dtype=np.float32).reshape(len(inputs), -1),
        np.asarray(classifier.predict(inputs, verbose=0, batch_size=256), dtype=np.float32),
    )


def dataset_embedder(dataset: Dataset, model: CategoryModel):
    """The Embedder (jobs -> embeddings, probabilities) that update_embeddings calls per batch."""

    def embed(jobs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        return embed_arrays(model, model_inputs(dataset, jobs, model))

    return embed


def save_category_model(network, folder: str | Path, labels: list[str], taxonomy: dict, input_size: tuple[int, int], channels: int) -> CategoryModel:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    network.save(folder / MODEL_FILE)
    meta = {"labels": list(labels), "taxonomy": dict(taxonomy), "input_size": list(input_size), "channels": int(channels)}
    (folder / MODEL_META).write_text(yaml.safe_dump(meta, sort_keys=False))
    return load_category_model(folder)


def small_category_network(input_size: tuple[int, int], channels: int, classes: int, width: int = 64, seed: int = 0):
    """A two-block CNN with a `width`-unit penultimate layer: fast enough to train k times on CPU."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((*input_size, channels))
    x = keras.layers.Conv2D(16, 3, activation="relu")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(32, 3, activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(width, activation="relu", name="embedding")(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="category")(x)
    network = keras.Model(inputs, outputs)
    network.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return network


def fit_small_network(inputs: np.ndarray, labels: np.ndarray, classes: int, epochs: int = 8, width: int = 64, seed: int = 0):
    network = small_category_network(inputs.shape[1:3], inputs.shape[3], classes, width, seed)
    network.fit(inputs, labels, epochs=epochs, batch_size=64, verbose=0)
    return network
