"""The training loop the stages share: training and validation rows, crops, fit with early stopping."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

from curate.dataset import Dataset
from curate.models.backbones import backbone_spec, build_image_model, image_size_for
from curate.models.data import BatchTransform, batches, carve_validation, object_crops, split_objects
from curate.models.model_dir import load_training_inputs
from curate.models.recipe import CropStageRecipe, CropTrainingSection, SplitsSection, TrainingSection
from curate.models.runtime import keras_module, local_weights_path, set_precision
from curate.progress import console
from curate.taxonomy import Taxonomy


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    def seconds(self) -> float:
        return time.perf_counter() - self.start


def crop_stage_inputs(recipe: CropStageRecipe, recipe_file: str) -> tuple[Dataset, Taxonomy, int]:
    """The dataset, taxonomy and crop size of a crop stage, after the recipe's model is checked
    (so an unknown backbone or a missing weights file fails before any image is read)."""
    backbone_spec(recipe.model.backbone, recipe_file)
    local_weights_path(recipe.model.weights, recipe_file)
    dataset, taxonomy = load_training_inputs(recipe.dataset, recipe.taxonomy)
    set_precision(recipe.training.mixed_precision)
    return dataset, taxonomy, image_size_for(recipe.model.backbone, recipe.model.image_size, recipe_file)


def build_crop_model(recipe: CropStageRecipe, size: int, n_outputs: int, activation: str, recipe_file: str):
    return build_image_model(
        recipe.model.backbone, recipe.model.weights, size, n_outputs, activation, recipe.model.dropout,
        recipe.model.fine_tune_layers, recipe.augmentation, recipe.training.seed, recipe_file,
    )


@dataclass
class CropSplits:
    train_objects: pd.DataFrame
    val_objects: pd.DataFrame
    train_images: np.ndarray
    val_images: np.ndarray
    val_source: str


def train_val_objects(dataset: Dataset, splits: SplitsSection, keep: Callable[[pd.DataFrame], pd.Series], stratum: str, seed: int, purpose: str, need_boxes: bool = False) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Training and validation objects, and where validation came from: the validation split,
    or, when the dataset has none, a seeded share of training stratified on `stratum` and
    grouped by image."""
    train = split_objects(dataset, splits.train, purpose, need_boxes)
    train = train[keep(train)].reset_index(drop=True)
    if (dataset.images["split"] == splits.val).any():
        val = split_objects(dataset, splits.val, purpose, need_boxes)
        return train, val[keep(val)].reset_index(drop=True), f"split '{splits.val}'"
    held = carve_validation(train["image_id"], train[stratum].astype(str), splits.val_fraction, seed)
    source = f"{splits.val_fraction:.0%} of split '{splits.train}' (the dataset has no '{splits.val}' split)"
    return train[~held].reset_index(drop=True), train[held].reset_index(drop=True), source


def crop_splits(dataset: Dataset, splits: SplitsSection, keep: Callable[[pd.DataFrame], pd.Series], stratum: str, size: int, seed: int, purpose: str) -> CropSplits:
    """Training crops (random 5-20 % padding) and validation crops (fixed padding)."""
    train, val, val_source = train_val_objects(dataset, splits, keep, stratum, seed, purpose)
    return CropSplits(
        train,
        val,
        object_crops(dataset, train, size, random_pad=True, seed=seed),
        object_crops(dataset, val, size, random_pad=False, seed=seed),
        val_source,
    )


def epoch_log_callback(total_epochs: int):
    """One line per epoch on the console (Keras' own bar floods the logs of long runs)."""
    keras = keras_module()

    class EpochLog(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            shown = "  ".join(f"{k} {v:.4f}" for k, v in sorted((logs or {}).items()) if k != "learning_rate")
            seconds = time.perf_counter() - self.started
            console.print(f"epoch {epoch + 1}/{total_epochs}  {shown}  ({seconds:.0f} s)", highlight=False, soft_wrap=True)

    return EpochLog()


def optimizer(training: TrainingSection, total_steps: int):
    """Adam (AdamW with weight decay), the rate constant or cosine-decayed, after an optional
    linear warm-up."""
    keras = keras_module()
    rate = training.learning_rate
    warmup = min(training.warmup_steps, max(total_steps - 1, 0))
    if training.lr_schedule == "cosine":
        if warmup:
            rate = keras.optimizers.schedules.CosineDecay(rate / 10, decay_steps=max(total_steps - warmup, 1), warmup_target=rate, warmup_steps=warmup)
        else:
            rate = keras.optimizers.schedules.CosineDecay(rate, decay_steps=total_steps)
    elif warmup:
        rate = keras.optimizers.schedules.PolynomialDecay(rate / 10, warmup, end_learning_rate=rate, power=1.0)
    if training.weight_decay:
        return keras.optimizers.AdamW(rate, weight_decay=training.weight_decay)
    return keras.optimizers.Adam(rate)


def fit(model, compile_args: dict[str, Any], x_train, y_train, x_val, y_val, training: TrainingSection, monitor: str, mode: str, sample_weight: np.ndarray | None = None, tf_data: bool = False, transform: BatchTransform | None = None) -> dict[str, Any]:
    """Adam, optional warm-up and cosine decay, early stopping that restores the best weights.

    `compile_args` are the stage's losses and metrics (the detector brings its own); `transform`
    augments each training batch."""
    keras = keras_module()
    keras.utils.set_random_seed(training.seed)
    steps = training.steps_per_epoch or int(np.ceil(len(x_train) / training.batch_size))
    model.compile(optimizer=optimizer(training, steps * training.epochs), **compile_args)
    train_data = batches(x_train, y_train, training.batch_size, shuffle=True, seed=training.seed, sample_weight=sample_weight, tf_data=tf_data, transform=transform)
    val_data = batches(x_val, y_val, training.batch_size, shuffle=False, tf_data=tf_data)
    if training.steps_per_epoch and hasattr(train_data, "repeat"):
        train_data = train_data.repeat()
    stopper = keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=training.early_stopping_patience, restore_best_weights=True)
    watch = Stopwatch()
    history = model.fit(
        train_data,
        validation_data=val_data,
        epochs=training.epochs,
        steps_per_epoch=training.steps_per_epoch,
        callbacks=[stopper, epoch_log_callback(training.epochs)],
        shuffle=False,  # the batches are already shuffled per epoch
        verbose=0,
    )
    values = history.history.get(monitor, [float("nan")])
    best = float(np.nanmax(values) if mode == "max" else np.nanmin(values))
    return {
        "epochs_run": len(values),
        "wall_s": round(watch.seconds(), 1),
        "monitor": monitor,
        "best": best,
        "train_examples": int(len(x_train)),
        "val_examples": int(len(x_val)),
        "history": {k: [round(float(v), 6) for v in vals] for k, vals in history.history.items()},
    }


def fit_crop_model(model, compile_args: Callable[[], dict[str, Any]], x_train, y_train, x_val, y_val, training: CropTrainingSection, monitor: str, mode: str, sample_weight: np.ndarray | None = None, flip: bool = False) -> dict[str, Any]:
    """Train a crop model (`backbones.build_image_model`) in the phases `training` names.

    `compile_args` makes the losses and metrics afresh for each phase (a metric object belongs
    to one compiled model). Returns one summary; each phase's own is under `phases`.
    """
    phases = {}
    if training.frozen_epochs:
        phases["frozen"] = fit_head_on_features(model, compile_args(), x_train, y_train, x_val, y_val, training, monitor, mode, sample_weight, flip)
    if training.epochs:
        phases["fine_tune"] = fit(model, compile_args(), x_train, y_train, x_val, y_val, training, monitor, mode, sample_weight)
    last = list(phases.values())[-1]
    return {
        **{k: v for k, v in last.items() if k != "history"},
        "epochs_run": sum(p["epochs_run"] for p in phases.values()),
        "wall_s": round(sum(p["wall_s"] for p in phases.values()), 1),
        "phases": phases,
    }


def fit_head_on_features(model, compile_args: dict[str, Any], x_train, y_train, x_val, y_val, training: CropTrainingSection, monitor: str, mode: str, sample_weight: np.ndarray | None, flip: bool) -> dict[str, Any]:
    """Train the model's dropout + dense head on features of the frozen backbone, computed once.

    The features are those the backbone gives in inference mode (online augmentation off);
    with `flip`, mirrored crops are added once as more training rows.
    """
    keras = keras_module()
    watch = Stopwatch()
    dropout, head = model.get_layer("head_dropout"), model.get_layer("head")
    features = keras.Model(model.inputs, dropout.input)
    f_train = features.predict(x_train, batch_size=64, verbose=0)
    if flip:
        f_train = np.concatenate([f_train, features.predict(x_train[:, :, ::-1], batch_size=64, verbose=0)])
        y_train = np.concatenate([y_train, y_train])
        sample_weight = np.concatenate([sample_weight, sample_weight]) if sample_weight is not None else None
    f_val = features.predict(x_val, batch_size=64, verbose=0)
    inputs = keras.Input(f_train.shape[1:], name="features")
    head_model = keras.Model(inputs, head(dropout(inputs)), name="head_on_features")
    phase = training.model_copy(update={"epochs": training.frozen_epochs, "learning_rate": training.frozen_learning_rate, "steps_per_epoch": None, "warmup_steps": 0})
    run = fit(head_model, compile_args, f_train, y_train, f_val, y_val, phase, monitor, mode, sample_weight)
    run["features_s"] = round(watch.seconds() - run["wall_s"], 1)
    return run
