"""Stage 1: the object detector over the four object types (KerasHub RetinaNet).

The backbone (a KerasHub ResNet) and the input size come from the recipe; weights are `none`,
`imagenet` (the backbone's ImageNet preset), a whole-detector KerasHub preset such as
`retinanet_resnet50_fpn_coco`, or a local weights file. After training, a score threshold is
chosen per class on the validation split by maximising F1 at IoU 0.5 (the source document fixed
0.99 by hand) and stored with the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import pandas as pd
from pydantic import Field

from curate.dataset import BOX_COLUMNS
from curate.errors import CurateError
from curate.geometry import clip_xyxy, xyxy_px_to_rel
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
from curate.models.runtime import keras_module, local_weights_path, set_precision, weights_download_error
from curate.models.training import fit, train_val_objects
from curate.recipes import RecipeModel, recipe_to_yaml
from curate.taxonomy import OBJECT_TYPES

ALL = "all"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class DetectorBackbone:
    """A KerasHub ResNet configuration and the preset holding its ImageNet weights."""

    stackwise_num_filters: tuple[int, ...]
    stackwise_num_blocks: tuple[int, ...]
    block_type: str
    imagenet_preset: str | None
    input_kernel: int = 7


DETECTOR_BACKBONES: dict[str, DetectorBackbone] = {
    # A few-layer network for tests and tiny images; nothing pretrained exists for it.
    "resnet_tiny": DetectorBackbone((64, 32, 32, 32), (1, 1, 1, 1), "basic_block", None, input_kernel=3),
    "resnet_18": DetectorBackbone((64, 128, 256, 512), (2, 2, 2, 2), "basic_block", "resnet_18_imagenet"),
    "resnet_34": DetectorBackbone((64, 128, 256, 512), (3, 4, 6, 3), "basic_block", None),
    "resnet_50": DetectorBackbone((64, 128, 256, 512), (3, 4, 6, 3), "bottleneck_block", "resnet_50_imagenet"),
    "resnet_101": DetectorBackbone((64, 128, 256, 512), (3, 4, 23, 3), "bottleneck_block", "resnet_101_imagenet"),
}
DETECTOR_PRESETS = ("retinanet_resnet50_fpn_coco", "retinanet_resnet50_fpn_v2_coco")


class DetectorModelSection(RecipeModel):
    backbone: str = "resnet_50"
    weights: str = "none"
    image_size: int = Field(512, ge=64)
    min_level: int = Field(3, ge=2, le=7)
    max_level: int = Field(7, ge=3, le=7)
    # 3x3 convolutions (256 filters) before each of the box and class outputs: RetinaNet's 4 by
    # default; they cost most of a small detector's time, so a brief CPU run wants fewer.
    # Presets keep their own.
    head_conv_layers: int = Field(4, ge=0, le=4)
    min_score: float = Field(0.05, gt=0, lt=1)
    max_detections: int = Field(100, gt=0)
    nms_iou: float = Field(0.5, gt=0, lt=1)


class DetectorRecipe(StageRecipe):
    stage: Literal["detector"] = "detector"
    model: DetectorModelSection = DetectorModelSection()
    training: TrainingSection = TrainingSection(batch_size=8, learning_rate=1e-4)


def _hub():
    keras_module()
    import keras_hub

    return keras_hub


def build_detector(section: DetectorModelSection, file: str = "recipe"):
    """A RetinaNet over the four object types with the requested backbone and weights."""
    hub = _hub()
    size = section.image_size
    path = local_weights_path(section.weights, file)
    decoder = hub.layers.NonMaxSuppression(
        bounding_box_format="xyxy", from_logits=True, iou_threshold=section.nms_iou,
        confidence_threshold=section.min_score, max_detections=section.max_detections,
    )
    converter = hub.layers.RetinaNetImageConverter(
        scale=[1 / (255 * s) for s in IMAGENET_STD], offset=[-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)]
    )
    preprocessor = hub.models.RetinaNetObjectDetectorPreprocessor(image_converter=converter)
    if section.weights in DETECTOR_PRESETS:
        try:
            return hub.models.RetinaNetObjectDetector.from_preset(
                section.weights, num_classes=len(OBJECT_TYPES), bounding_box_format="xyxy", prediction_decoder=decoder, preprocessor=preprocessor
            )
        except Exception as exc:  # the preset lives on Kaggle
            raise weights_download_error(f"the KerasHub preset {section.weights}", exc) from None
    if section.backbone not in DETECTOR_BACKBONES:
        raise CurateError.at(file, f"unknown detector backbone '{section.backbone}'; expected one of {', '.join(DETECTOR_BACKBONES)}", field="model.backbone")
    spec = DETECTOR_BACKBONES[section.backbone]
    if path is None and section.weights not in ("none", "imagenet"):
        raise CurateError.at(file, f"unknown weights '{section.weights}'; expected none, imagenet, {', '.join(DETECTOR_PRESETS)} or a local file path", field="model.weights")
    if section.weights == "imagenet":
        if spec.imagenet_preset is None:
            raise CurateError.at(file, f"backbone {section.backbone} has no ImageNet weights; use none or a local weights file", field="model.weights")
        try:
            encoder = hub.models.ResNetBackbone.from_preset(spec.imagenet_preset, image_shape=(size, size, 3))
        except Exception as exc:
            raise weights_download_error(f"ImageNet weights for {section.backbone} (KerasHub preset {spec.imagenet_preset})", exc) from None
    else:
        encoder = hub.models.ResNetBackbone(
            input_conv_filters=[64], input_conv_kernel_sizes=[spec.input_kernel],
            stackwise_num_filters=list(spec.stackwise_num_filters), stackwise_num_blocks=list(spec.stackwise_num_blocks),
            stackwise_num_strides=[1, 2, 2, 2], block_type=spec.block_type, image_shape=(size, size, 3),
        )
    backbone = hub.models.RetinaNetBackbone(
        image_encoder=encoder, min_level=section.min_level, max_level=section.max_level, use_p5=True, image_shape=(size, size, 3)
    )
    detector = hub.models.RetinaNetObjectDetector(
        backbone=backbone, num_classes=len(OBJECT_TYPES), bounding_box_format="xyxy", prediction_decoder=decoder, preprocessor=preprocessor,
        pre_logits_num_conv_layers=section.head_conv_layers,
    )
    if path is not None:
        detector.load_weights(path)
    return detector


# ---------------------------------------------------------------------------------------------
# Prediction


def raw_detections(model, images: np.ndarray, batch_size: int = 8) -> list[pd.DataFrame]:
    """Per image: object_type, score and relative xyxy box of every decoded detection."""
    size = images.shape[1]
    out = []
    for start in range(0, len(images), batch_size):
        part = images[start : start + batch_size].astype(np.float32)
        # Every batch has the same shape: a smaller last batch would make Keras retrace the
        # predict function with an unknown batch size, which KerasHub's NMS layer cannot take.
        padded = np.concatenate([part, np.zeros((batch_size - len(part), *part.shape[1:]), np.float32)])
        pred = {k: np.asarray(v)[: len(part)] for k, v in model.predict(padded, batch_size=batch_size, verbose=0).items()}
        for boxes, scores, labels, n in zip(pred["boxes"], pred["confidence"], pred["labels"], pred["num_detections"]):
            n = int(n)
            rel = clip_xyxy(xyxy_px_to_rel(np.asarray(boxes[:n], dtype=np.float64).reshape(-1, 4), (size, size)))
            frame = pd.DataFrame(rel, columns=list(BOX_COLUMNS))
            frame.insert(0, "score", np.asarray(scores[:n], dtype=np.float64))
            frame.insert(0, "object_type", [OBJECT_TYPES[int(c)] for c in labels[:n]])
            valid = (frame["x_max"] > frame["x_min"]) & (frame["y_max"] > frame["y_min"])
            out.append(frame[valid].reset_index(drop=True))
    return out


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
        _hub()  # registers the KerasHub classes the saved model refers to
        self.dir = Path(model_dir)
        self.info = read_model_info(self.dir, "detector")
        self.model = load_keras_models(self.dir, self.info)[ALL]
        self.image_size = int(self.info["image_size"])
        self.thresholds: dict[str, dict[str, float]] = self.info.get("thresholds", {})

    def detect(self, images_rgb: Sequence[np.ndarray], thresholded: bool = True) -> list[pd.DataFrame]:
        if not len(images_rgb):
            return []
        batch = np.stack([resize_square(image, self.image_size) for image in images_rgb])
        found = raw_detections(self.model, batch)
        return [apply_thresholds(d, self.thresholds) for d in found] if thresholded else found


# ---------------------------------------------------------------------------------------------
# Training


def truth_frames(objects: pd.DataFrame, image_ids: Sequence[str]) -> list[pd.DataFrame]:
    groups = dict(list(objects.groupby("image_id", sort=False)))
    empty = objects.iloc[:0]
    return [groups.get(i, empty)[["object_type", *BOX_COLUMNS]].reset_index(drop=True) for i in image_ids]


def train_detector(recipe: DetectorRecipe, recipe_file: str = "recipe") -> Path:
    if recipe.model.backbone not in DETECTOR_BACKBONES:
        raise CurateError.at(recipe_file, f"unknown detector backbone '{recipe.model.backbone}'; expected one of {', '.join(DETECTOR_BACKBONES)}", field="model.backbone")
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
    run = fit(model, {}, x_train, y_train, x_val, y_val, recipe.training, "val_loss", "min", tf_data=True)
    thresholds = choose_thresholds(truth_frames(val, val_ids), raw_detections(model, x_val))
    identity = dataset_identity(dataset)
    info = ModelInfo(
        "detector", model_version("detector", identity["sha256"], recipe_to_yaml(recipe)), {ALL: list(OBJECT_TYPES)}, size,
        recipe.model.backbone, identity, taxonomy.identity(),
        {"validation": val_source, "thresholds": thresholds, "weights": recipe.model.weights, "training": run},
    )
    return save_model_dir(recipe.output, {ALL: model}, info, recipe)
