"""Stage 1: the object detector over the four object types.

Two architectures, chosen by `model.architecture`:

- `centernet` (the default): a centre-point detector on an ImageNet EfficientNet-Lite0 trunk
  (`curate.models.centernet`), whose weights work offline; it converges in a few hundred steps
  on two CPU cores;
- `retinanet`: KerasHub's RetinaNet on a ResNet (`curate.models.retinanet`), for the COCO presets
  and ImageNet ResNets where they can be downloaded.

After training, a score threshold is chosen per class on the validation split by maximising F1
at IoU 0.5 (the source document fixed 0.99 by hand) and stored with the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from curate.dataset import BOX_COLUMNS
from curate.errors import CurateError
from curate.models.data import detection_arrays, resize_square
from curate.models.metrics import best_f1_threshold, match_detections
from curate.models.model_dir import (
    ModelInfo,
    dataset_identity,
    load_keras_models,
    load_training_inputs,
    model_version,
    read_model_info,
    save_model_dir,
)
from curate.models.recipe import StageRecipe, TrainingSection
from curate.models.retinanet import RESNET_ENCODERS, RETINANET_PRESETS, build_retinanet, keras_hub, retinanet_detections
from curate.models.runtime import local_weights_path, set_precision
from curate.models.training import fit, train_val_objects
from curate.recipes import RecipeModel, recipe_to_yaml
from curate.taxonomy import OBJECT_TYPES

ALL = "all"
ARCHITECTURE_BACKBONES = {"centernet": ("efficientnet_lite0",), "retinanet": tuple(RESNET_ENCODERS)}


class DetectorModelSection(RecipeModel):
    architecture: Literal["centernet", "retinanet"] = "centernet"
    backbone: str = "efficientnet_lite0"
    weights: str = "imagenet"
    image_size: int = Field(256, ge=64)
    min_score: float = Field(0.05, gt=0, lt=1)
    max_detections: int = Field(100, gt=0)
    # centernet: channels of the feature pyramid and of the two heads
    width: int = Field(64, ge=8, le=512)
    # retinanet: pyramid levels, non-maximum suppression and the head depth (3x3 convolutions of
    # 256 filters before each output: RetinaNet's 4 by default; they cost most of a small
    # detector's time, so a brief CPU run wants fewer; presets keep their own)
    min_level: int = Field(3, ge=2, le=7)
    max_level: int = Field(7, ge=3, le=7)
    head_conv_layers: int = Field(4, ge=0, le=4)
    nms_iou: float = Field(0.5, gt=0, lt=1)

    @model_validator(mode="after")
    def _backbone_fits_architecture(self) -> "DetectorModelSection":
        allowed = ARCHITECTURE_BACKBONES[self.architecture]
        if self.backbone not in allowed:
            other = next((a for a, names in ARCHITECTURE_BACKBONES.items() if self.backbone in names), None)
            hint = f" (it is a {other} backbone: set model.architecture: {other})" if other else ""
            raise ValueError(f"backbone '{self.backbone}' is not one of the {self.architecture} backbones {', '.join(allowed)}{hint}")
        if self.architecture == "centernet":
            if self.image_size % 32:
                raise ValueError(f"centernet image_size must be a multiple of 32, found {self.image_size}")
            if self.weights in RETINANET_PRESETS:
                raise ValueError(f"{self.weights} is a RetinaNet preset: set model.architecture: retinanet")
        return self


class DetectorRecipe(StageRecipe):
    stage: Literal["detector"] = "detector"
    model: DetectorModelSection = DetectorModelSection()
    training: TrainingSection = TrainingSection(batch_size=16, learning_rate=2e-3, lr_schedule="cosine", warmup_steps=30, weight_decay=1e-4)


def build_detector(section: DetectorModelSection, file: str = "recipe"):
    if section.architecture == "retinanet":
        return build_retinanet(section, file)
    from curate.models.backbones import build_backbone, pixel_scaling_layer
    from curate.models.centernet import build_centernet

    backbone = build_backbone(section.backbone, section.weights, section.image_size, file)
    return build_centernet(len(OBJECT_TYPES), section.image_size, backbone, pixel_scaling_layer("lite"), section.width)


# ---------------------------------------------------------------------------------------------
# Prediction


def raw_detections(model, images: np.ndarray, architecture: str, min_score: float = 0.05, max_detections: int = 100) -> list[pd.DataFrame]:
    """Per image: object_type, score and relative xyxy box of every decoded detection."""
    if architecture == "retinanet":
        return retinanet_detections(model, images)
    from curate.models.centernet import centernet_detections

    return centernet_detections(model, images, OBJECT_TYPES, min_score, max_detections)


def choose_thresholds(truth: Sequence[pd.DataFrame], detections: Sequence[pd.DataFrame], iou: float = 0.5) -> dict[str, dict[str, float]]:
    """Per class, the score threshold maximising F1 over all images (IoU >= `iou` matches)."""
    chosen = {}
    for name in OBJECT_TYPES:
        scores, hits, n_gt = [], [], 0
        for gt, dt in zip(truth, detections):
            g = gt[gt["object_type"] == name][list(BOX_COLUMNS)].to_numpy(dtype=np.float64)
            d = dt[dt["object_type"] == name]
            n_gt += len(g)
            scores.append(d["score"].to_numpy())
            hits.append(match_detections(g, d[list(BOX_COLUMNS)].to_numpy(dtype=np.float64), d["score"].to_numpy(), iou))
        chosen[name] = {**best_f1_threshold(np.concatenate(scores), np.concatenate(hits), n_gt), "ground_truth": n_gt}
    return chosen


def apply_thresholds(detections: pd.DataFrame, thresholds: dict[str, dict[str, float]]) -> pd.DataFrame:
    # A plain float array: mapping an empty string column would keep its string dtype.
    limit = np.array([thresholds.get(t, {}).get("threshold", 0.5) for t in detections["object_type"]], dtype=np.float64)
    return detections[detections["score"].to_numpy(dtype=np.float64) >= limit].reset_index(drop=True)


class DetectorPredictor:
    def __init__(self, model_dir: str | Path):
        self.dir = Path(model_dir)
        self.info = read_model_info(self.dir, "detector")
        # Model directories written before the centre-point architecture are RetinaNets.
        self.architecture = self.info.get("architecture", "retinanet")
        if self.architecture == "retinanet":
            keras_hub()  # registers the KerasHub classes the saved model refers to
        self.model = load_keras_models(self.dir, self.info)[ALL]
        self.image_size = int(self.info["image_size"])
        self.min_score = float(self.info.get("min_score", 0.05))
        self.max_detections = int(self.info.get("max_detections", 100))
        self.thresholds: dict[str, dict[str, float]] = self.info.get("thresholds", {})

    def detect(self, images_rgb: Sequence[np.ndarray], thresholded: bool = True) -> list[pd.DataFrame]:
        if not len(images_rgb):
            return []
        batch = np.stack([resize_square(image, self.image_size) for image in images_rgb])
        found = raw_detections(self.model, batch, self.architecture, self.min_score, self.max_detections)
        return [apply_thresholds(d, self.thresholds) for d in found] if thresholded else found


# ---------------------------------------------------------------------------------------------
# Training


def truth_frames(objects: pd.DataFrame, image_ids: Sequence[str]) -> list[pd.DataFrame]:
    groups = dict(list(objects.groupby("image_id", sort=False)))
    empty = objects.iloc[:0]
    return [groups.get(i, empty)[["object_type", *BOX_COLUMNS]].reset_index(drop=True) for i in image_ids]


def train_detector(recipe: DetectorRecipe, recipe_file: str = "recipe") -> Path:
    local_weights_path(recipe.model.weights, recipe_file)
    dataset, taxonomy = load_training_inputs(recipe.dataset, recipe.taxonomy)
    set_precision(recipe.training.mixed_precision)
    train, val, val_source = train_val_objects(
        dataset, recipe.splits, lambda f: f["object_type"].isin(OBJECT_TYPES), "object_type", recipe.training.seed, "detector training", need_boxes=True
    )
    if train.empty or val.empty:
        raise CurateError.at(dataset.path, "the detector needs boxed objects in both the training and the validation images", field="split")
    size = recipe.model.image_size
    x_train, y_train, _ = detection_arrays(dataset, train, size, OBJECT_TYPES)
    x_val, y_val, val_ids = detection_arrays(dataset, val, size, OBJECT_TYPES)
    model = build_detector(recipe.model, recipe_file)
    if recipe.model.architecture == "retinanet":
        run = fit(model, {}, x_train, y_train, x_val, y_val, recipe.training, "val_loss", "min", tf_data=True)
    else:
        from curate.models.centernet import centernet_fit_arguments

        targets, compile_args, transform = centernet_fit_arguments(y_train, y_val, len(OBJECT_TYPES), size)
        run = fit(model, compile_args, x_train, targets[0], x_val, targets[1], recipe.training, "val_loss", "min", transform=transform)
    architecture = recipe.model.architecture
    thresholds = choose_thresholds(truth_frames(val, val_ids), raw_detections(model, x_val, architecture, recipe.model.min_score, recipe.model.max_detections))
    identity = dataset_identity(dataset)
    info = ModelInfo(
        "detector", model_version("detector", identity["sha256"], recipe_to_yaml(recipe)), {ALL: list(OBJECT_TYPES)}, size,
        recipe.model.backbone, identity, taxonomy.identity(),
        {
            "architecture": architecture, "validation": val_source, "thresholds": thresholds, "weights": recipe.model.weights,
            "min_score": recipe.model.min_score, "max_detections": recipe.model.max_detections, "training": run,
        },
    )
    return save_model_dir(recipe.output, {ALL: model}, info, recipe)
