"""Stage 3: the attribute tagger, a multi-label sigmoid head over object crops.

Labels are `pattern:<value>`, `style:<value>` and `<key>:<value>` for the other attribute keys
of the taxonomy. Training uses binary cross-entropy (the source document's best) or soft-F1.
Decoding is constrained by the taxonomy, which the source document planned but did not build:
at most one value per key (so never two patterns or two styles), a style only when the
taxonomy allows it for the object's category, and an attribute key only where it applies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
import pandas as pd
from pydantic import Field

from curate.dataset import Dataset
from curate.models.model_dir import (
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
from curate.taxonomy import PATTERN_KEY, STYLE_KEY, Taxonomy, load_taxonomy

ALL = "all"


class AttributesModelSection(CropModelSection):
    loss: Literal["bce", "soft_f1"] = "bce"
    threshold: float = Field(0.5, gt=0, lt=1)
    # Objects with no pattern, style or attribute: `skip` (unknown, left out of training) or
    # `negative` (known to have none, e.g. plain garments: they teach the tagger to say nothing).
    unlabelled: Literal["skip", "negative"] = "skip"


class AttributesRecipe(CropStageRecipe):
    stage: Literal["attributes"] = "attributes"
    model: AttributesModelSection = AttributesModelSection()


# ---------------------------------------------------------------------------------------------
# Labels


def object_labels(pattern: Any, style: Any, attributes: Any) -> list[str]:
    """One object's tagger labels: pattern:<p>, style:<s> and its `key:value` attributes."""
    labels = []
    if isinstance(pattern, str) and pattern:
        labels.append(f"{PATTERN_KEY}:{pattern}")
    if isinstance(style, str) and style:
        labels.append(f"{STYLE_KEY}:{style}")
    labels.extend(a for a in (attributes if attributes is not None else []) if isinstance(a, str) and ":" in a)
    return labels


def frame_labels(objects: pd.DataFrame) -> list[list[str]]:
    return [object_labels(p, s, a) for p, s, a in zip(objects["pattern"], objects["style"], objects["attributes"])]


def multi_hot(label_lists: Sequence[Sequence[str]], vocabulary: Sequence[str]) -> np.ndarray:
    index = {label: i for i, label in enumerate(vocabulary)}
    out = np.zeros((len(label_lists), len(vocabulary)), dtype=np.float32)
    for row, labels in enumerate(label_lists):
        out[row, [index[label] for label in labels if label in index]] = 1.0
    return out


def split_label(label: str) -> tuple[str, str]:
    key, _, value = label.partition(":")
    return key, value


# ---------------------------------------------------------------------------------------------
# Taxonomy-constrained decoding


def allowed_labels(vocabulary: Sequence[str], category: str | None, taxonomy: Taxonomy) -> np.ndarray:
    """Which labels may be emitted for an object of this category."""
    object_type = taxonomy.object_type_of(category) if category in taxonomy.categories else None
    allowed = np.zeros(len(vocabulary), dtype=bool)
    for i, label in enumerate(vocabulary):
        key, value = split_label(label)
        if key == PATTERN_KEY:
            allowed[i] = value in taxonomy.patterns
        elif key == STYLE_KEY:
            allowed[i] = taxonomy.allows_style(category, value)
        elif key in taxonomy.attributes:
            allowed[i] = taxonomy.attribute_applies(key, category, object_type) and value in taxonomy.attributes[key].values
    return allowed


def decode_attributes(probs: np.ndarray, vocabulary: Sequence[str], category: str | None, taxonomy: Taxonomy, threshold: float = 0.5) -> dict[str, Any]:
    """The most likely allowed value of each key, kept when its score reaches `threshold`.

    Returns {"pattern", "style", "attributes" (other key:value labels), "labels" (all emitted),
    "scores" (label -> score of the emitted labels)}.
    """
    probs = np.asarray(probs, dtype=np.float64)
    allowed = allowed_labels(vocabulary, category, taxonomy)
    best: dict[str, int] = {}
    for i, label in enumerate(vocabulary):
        key = split_label(label)[0]
        if allowed[i] and probs[i] >= threshold and (key not in best or probs[i] > probs[best[key]]):
            best[key] = i
    emitted = sorted((vocabulary[i] for i in best.values()), key=lambda label: (split_label(label)[0] not in (PATTERN_KEY, STYLE_KEY), label))
    values = {key: split_label(vocabulary[i])[1] for key, i in best.items()}
    return {
        "pattern": values.get(PATTERN_KEY),
        "style": values.get(STYLE_KEY),
        "attributes": [label for label in emitted if split_label(label)[0] not in (PATTERN_KEY, STYLE_KEY)],
        "labels": emitted,
        "scores": {vocabulary[i]: float(probs[i]) for i in best.values()},
    }


# ---------------------------------------------------------------------------------------------
# Training


def soft_f1_loss(y_true, y_pred):
    """1 - the differentiable F1 (probabilities as soft counts), averaged over labels."""
    ops = keras_module().ops
    y_true = ops.cast(y_true, y_pred.dtype)
    tp = ops.sum(y_pred * y_true, axis=0)
    fp = ops.sum(y_pred * (1 - y_true), axis=0)
    fn = ops.sum((1 - y_pred) * y_true, axis=0)
    return 1 - ops.mean(2 * tp / (2 * tp + fp + fn + 1e-7))


def train_attributes(recipe: AttributesRecipe, recipe_file: str = "recipe") -> Path:
    dataset, taxonomy, size = crop_stage_inputs(recipe, recipe_file)

    def labelled(frame: pd.DataFrame) -> pd.Series:
        if recipe.model.unlabelled == "negative":
            return frame["object_type"].notna()
        return pd.Series([bool(labels) for labels in frame_labels(frame)], index=frame.index)

    objects = dataset.objects.assign(first_label=[labels[0] if labels else None for labels in frame_labels(dataset.objects)])
    data = crop_splits(Dataset(dataset.path, dataset.images, objects, dataset.meta), recipe.splits, labelled, "first_label", size, recipe.training.seed, "attribute training")
    train_labels = frame_labels(data.train_objects)
    vocabulary = sorted({label for labels in train_labels for label in labels})
    keras = keras_module()
    model = build_crop_model(recipe, size, len(vocabulary), "sigmoid", recipe_file)
    loss = keras.losses.BinaryCrossentropy() if recipe.model.loss == "bce" else soft_f1_loss
    run = fit_crop_model(
        model, lambda: {"loss": loss, "metrics": [keras.metrics.BinaryAccuracy(threshold=recipe.model.threshold, name="binary_accuracy")]},
        data.train_images, multi_hot(train_labels, vocabulary), data.val_images, multi_hot(frame_labels(data.val_objects), vocabulary),
        recipe.training, "val_loss", "min", flip=recipe.augmentation.flip,
    )
    identity = dataset_identity(dataset)
    info = ModelInfo(
        "attributes", model_version("attributes", identity["sha256"], recipe_to_yaml(recipe)), {ALL: vocabulary}, size,
        recipe.model.backbone, identity, taxonomy.identity(),
        {"validation": data.val_source, "threshold": recipe.model.threshold, "loss": recipe.model.loss, "unlabelled": recipe.model.unlabelled, "training": run},
    )
    return save_model_dir(recipe.output, {ALL: model}, info, recipe)


class TaggerPredictor:
    """A loaded tagger: crops + categories -> constrained attribute predictions."""

    def __init__(self, model_dir: str | Path, taxonomy: Taxonomy | None = None):
        self.dir = Path(model_dir)
        self.info = read_model_info(self.dir, "attributes")
        self.model = load_keras_models(self.dir, self.info)[ALL]
        self.vocabulary: list[str] = self.info["labels"][ALL]
        self.threshold = float(self.info.get("threshold", 0.5))
        self.image_size = int(self.info["image_size"])
        self.taxonomy = taxonomy or load_taxonomy()

    def probabilities(self, crops: np.ndarray) -> np.ndarray:
        if not len(crops):
            return np.zeros((0, len(self.vocabulary)))
        return predict_in_buckets(self.model, crops)

    def decode(self, probs: np.ndarray, categories: Sequence[str | None]) -> list[dict[str, Any]]:
        return [decode_attributes(p, self.vocabulary, c, self.taxonomy, self.threshold) for p, c in zip(probs, categories)]
