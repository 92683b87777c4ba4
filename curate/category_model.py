"""A trained category classifier (a `curate train category` model directory) as an embedder:
penultimate-layer features and class probabilities for object crops and images.

Only a single model over every category has one embedding space; per-object-type models are
refused. Keras is imported inside functions only (through curate.models).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from curate.dataset import Dataset
from curate.errors import CurateError
from curate.imageio import load_image_rgb
from curate.models.common import META_FILE, MODEL_FILE, file_sha256, load_keras_models, read_model_info
from curate.models.data import crop_resized, object_crops

SINGLE_MODEL = "all"


@dataclass
class CategoryModel:
    path: Path
    info: dict
    labels: list[str]
    taxonomy: dict
    image_size: int
    sha256: str
    _networks: Any = field(default=None, repr=False)

    def describe(self) -> dict:
        return {"sha256": self.sha256, "path": str(self.path), "labels": self.labels}

    def networks(self):
        """(embedding network, classifier) sharing weights; loaded once."""
        if self._networks is None:
            import keras

            classifier = load_keras_models(self.path, self.info)[SINGLE_MODEL]
            # The penultimate features are what the final softmax layer reads.
            embedder = keras.Model(classifier.inputs, classifier.layers[-1].input)
            self._networks = (embedder, classifier)
        return self._networks


def load_category_model(folder: str | Path) -> CategoryModel:
    folder = Path(folder)
    info = read_model_info(folder, "category")
    if list(info["labels"]) != [SINGLE_MODEL]:
        raise CurateError.at(
            folder / META_FILE,
            f"a model per object type ({', '.join(info['labels'])}) has no single embedding space; "
            "train one category model over every category (model.per_object_type: false)",
            field="labels",
        )
    if not (folder / MODEL_FILE).is_file():
        raise CurateError.at(folder / MODEL_FILE, "missing: the model directory has no trained network")
    labels = list(info["labels"][SINGLE_MODEL])
    # The network's weights and its label order identify the embedding space; model.json also
    # gathers evaluation results, which must not invalidate stored embeddings.
    digest = hashlib.sha256(f"{file_sha256(folder / MODEL_FILE)}\x1f{json.dumps(labels)}".encode()).hexdigest()
    return CategoryModel(folder, info, labels, dict(info.get("taxonomy") or {}), int(info["image_size"]), digest)


def check_model_matches(model: CategoryModel, dataset: Dataset) -> None:
    """The model must be trained on the dataset's taxonomy version and know its categories."""
    expected = dataset.meta.get("taxonomy") or {}
    meta_file = model.path / META_FILE
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


def embed_arrays(model: CategoryModel, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (N, size, size, 3) -> (embeddings (N, dim), probabilities (N, classes)), float32."""
    embedder, classifier = model.networks()
    return (
        np.asarray(embedder.predict(inputs, verbose=0, batch_size=256), dtype=np.float32).reshape(len(inputs), -1),
        np.asarray(classifier.predict(inputs, verbose=0, batch_size=256), dtype=np.float32),
    )


def embed_image_files(model: CategoryModel, paths: list[str | Path]) -> tuple[np.ndarray, np.ndarray]:
    """Whole images (search queries) -> their embeddings and class probabilities, in one batch."""
    return embed_arrays(model, np.stack([crop_resized(load_image_rgb(Path(p)), None, 0.0, model.image_size) for p in paths]))


def dataset_embedder(dataset: Dataset, model: CategoryModel):
    """The Embedder (jobs -> embeddings, probabilities) that update_embeddings calls per batch;
    crops are cut exactly as the classifier sees them at inference."""

    def embed(jobs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        return embed_arrays(model, object_crops(dataset, jobs, model.image_size, random_pad=False))

    return embed
