"""The Keras runtime: importing Keras (and so its backend) only when a model is needed, mixed
precision, pretrained-weights choices and the error a user sees offline, bucketed prediction.

`KERAS_BACKEND` picks the backend (tensorflow by default, jax recommended on GPUs).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from curate.errors import CurateError


def keras_module():
    """Import Keras (and so the configured backend) only when a model is really needed."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras


def backend_name() -> str:
    return keras_module().backend.backend()


def set_precision(mixed: bool) -> None:
    keras_module().mixed_precision.set_global_policy("mixed_bfloat16" if mixed else "float32")


def weights_download_error(what: str, exc: BaseException) -> CurateError:
    """The one line a user sees when pretrained weights cannot be fetched (offline machines)."""
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return CurateError(
        f"downloading {what} failed ({reason}); to train offline, pass a local weights file with "
        f"`--set model.weights=/path/to/weights` (or use `weights: none`)"
    )


def local_weights_path(weights: str, file: str) -> Path | None:
    """`weights` as a local file path, or None for the named choices (none, imagenet, presets)."""
    if "/" not in weights and "\\" not in weights and not weights.endswith((".h5", ".keras", ".weights.h5")):
        return None
    path = Path(weights).expanduser()
    if not path.is_file():
        raise CurateError.at(file, f"weights file not found: {weights}", field="model.weights")
    return path


def predict_in_buckets(model, x, chunk: int = 64):
    """model outputs for x, batches padded to a power of two so a model traces a handful of
    input shapes instead of one per object count (the predictor sees 1, 3, 5... crops)."""
    outputs = []
    for start in range(0, len(x), chunk):
        part = x[start : start + chunk]
        size = 1 << max(len(part) - 1, 0).bit_length()
        padded = part if size == len(part) else np.concatenate([part, np.zeros((size - len(part), *part.shape[1:]), part.dtype)])
        outputs.append(np.asarray(model.predict_on_batch(padded))[: len(part)])
    return np.concatenate(outputs) if outputs else np.zeros((0,))
