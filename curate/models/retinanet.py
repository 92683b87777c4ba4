"""The RetinaNet architecture of the detector stage (KerasHub): ResNet encoders and COCO presets.

The backbone (a KerasHub ResNet) and the input size come from the recipe; weights are `none`,
`imagenet` (the backbone's ImageNet preset), a whole-detector KerasHub preset such as
`retinanet_resnet50_fpn_coco`, or a local weights file. Presets and ImageNet ResNets are
downloaded from Kaggle, so on an offline machine they fail with one clear line; the centre-point
architecture (`curate.models.centernet`) is the one that trains from offline ImageNet weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from curate.dataset import BOX_COLUMNS
from curate.errors import CurateError
from curate.geometry import clip_xyxy, xyxy_px_to_rel
from curate.models.runtime import keras_module, local_weights_path, weights_download_error
from curate.taxonomy import OBJECT_TYPES

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ResNetEncoder:
    """A KerasHub ResNet configuration and the preset holding its ImageNet weights."""

    stackwise_num_filters: tuple[int, ...]
    stackwise_num_blocks: tuple[int, ...]
    block_type: str
    imagenet_preset: str | None
    input_kernel: int = 7


RESNET_ENCODERS: dict[str, ResNetEncoder] = {
    # A few-layer network for tests and tiny images; nothing pretrained exists for it.
    "resnet_tiny": ResNetEncoder((64, 32, 32, 32), (1, 1, 1, 1), "basic_block", None, input_kernel=3),
    "resnet_18": ResNetEncoder((64, 128, 256, 512), (2, 2, 2, 2), "basic_block", "resnet_18_imagenet"),
    "resnet_34": ResNetEncoder((64, 128, 256, 512), (3, 4, 6, 3), "basic_block", None),
    "resnet_50": ResNetEncoder((64, 128, 256, 512), (3, 4, 6, 3), "bottleneck_block", "resnet_50_imagenet"),
    "resnet_101": ResNetEncoder((64, 128, 256, 512), (3, 4, 23, 3), "bottleneck_block", "resnet_101_imagenet"),
}
RETINANET_PRESETS = ("retinanet_resnet50_fpn_coco", "retinanet_resnet50_fpn_v2_coco")


def keras_hub():
    keras_module()
    import keras_hub

    return keras_hub


def build_retinanet(section, file: str = "recipe"):
    """A RetinaNet over the four object types with the section's backbone and weights."""
    hub = keras_hub()
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
    if section.weights in RETINANET_PRESETS:
        try:
            return hub.models.RetinaNetObjectDetector.from_preset(
                section.weights, num_classes=len(OBJECT_TYPES), bounding_box_format="xyxy", prediction_decoder=decoder, preprocessor=preprocessor
            )
        except Exception as exc:  # the preset lives on Kaggle
            raise weights_download_error(f"the KerasHub preset {section.weights}", exc) from None
    spec = RESNET_ENCODERS[section.backbone]
    if path is None and section.weights not in ("none", "imagenet"):
        raise CurateError.at(file, f"unknown weights '{section.weights}'; expected none, imagenet, {', '.join(RETINANET_PRESETS)} or a local file path", field="model.weights")
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


def retinanet_detections(model, images: np.ndarray, batch_size: int = 8) -> list[pd.DataFrame]:
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
