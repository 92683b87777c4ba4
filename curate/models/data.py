"""Input pipelines from the dataset tables, decoded once into in-memory uint8 arrays.

- object crops for the classifier and the tagger: each box padded by a random 5-20 % (the
  source document's trick to keep a little context), resized to the backbone's input size;
  whole-image labels (null box) use the whole image;
- whole images with their boxes (absolute xyxy at the model's input size) for the detector;
- batching with tf.data on the TensorFlow backend and a keras.utils.PyDataset otherwise, both
  gathering batches from the arrays so the accelerator never waits on image decoding;
- class weights or oversampling indices for imbalanced labels.

Online augmentation (flip, rotation, zoom) is part of the model (`backbones.augmentation_layers`)
so it runs on the accelerator and on any backend.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import cv2
import numpy as np
import pandas as pd

from curate.dataset import BOX_COLUMNS, IMAGES_FILE, Dataset
from curate.errors import CurateError
from curate.geometry import padded_box_xyxy_px, xyxy_rel_to_px
from curate.imageio import load_image_rgb
from curate.models.runtime import keras_module
from curate.progress import track

CROP_PAD_RANGE = (0.05, 0.20)


# ---------------------------------------------------------------------------------------------
# Selecting rows


def split_objects(dataset: Dataset, split: str, purpose: str, need_boxes: bool = False) -> pd.DataFrame:
    """Objects of the images in one split, joined with the image path, in a stable order."""
    images = dataset.images
    chosen = images[images["split"] == split]
    if chosen.empty:
        present = sorted(images["split"].dropna().unique().tolist())
        raise CurateError.at(
            dataset.path / IMAGES_FILE,
            f"no images in split '{split}', which {purpose} needs (splits present: {', '.join(present) or 'none'})",
            field="split",
        )
    objects = dataset.objects.merge(chosen[["image_id", "path", "width", "height"]], on="image_id", how="inner")
    if need_boxes:
        objects = objects[objects["x_min"].notna()]
    return objects.sort_values(["image_id", "object_id"], kind="mergesort").reset_index(drop=True)


def carve_validation(groups: Sequence[str], strata: Sequence[str], fraction: float, seed: int) -> np.ndarray:
    """A seeded mask of rows held out for validation: `fraction` of the groups (images) of each
    stratum (label), so no image is on both sides and rare labels are still validated."""
    frame = pd.DataFrame({"group": list(groups), "stratum": list(strata)})
    first = frame.drop_duplicates("group")
    rng = np.random.default_rng(seed)
    held: set[str] = set()
    for _, members in first.groupby("stratum", sort=True):
        ids = members["group"].to_numpy()
        take = int(np.ceil(fraction * len(ids))) if len(ids) > 1 else 0
        held.update(rng.permutation(ids)[:take].tolist())
    return frame["group"].isin(held).to_numpy()


# ---------------------------------------------------------------------------------------------
# Decoding and cropping


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    interpolation = cv2.INTER_AREA if min(image.shape[:2]) > size else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interpolation)


def crop_resized(image: np.ndarray, box_xyxy_rel, pad: float, size: int) -> np.ndarray:
    left, top, right, bottom = padded_box_xyxy_px(box_xyxy_rel, pad, (image.shape[1], image.shape[0]))
    return resize_square(image[top:bottom, left:right], size)


def crop_pads(n: int, random_pad: bool, seed: int = 0, pad_range: tuple[float, float] = CROP_PAD_RANGE) -> np.ndarray:
    """Random pads for training crops; the middle of the range for evaluation and inference."""
    if random_pad:
        return np.random.default_rng(seed).uniform(pad_range[0], pad_range[1], size=n)
    return np.full(n, (pad_range[0] + pad_range[1]) / 2)


def object_crops(dataset: Dataset, objects: pd.DataFrame, size: int, random_pad: bool, seed: int = 0) -> np.ndarray:
    """uint8 (N, size, size, 3) crops, one per object row; each image is decoded once."""
    out = np.empty((len(objects), size, size, 3), dtype=np.uint8)
    pads = crop_pads(len(objects), random_pad, seed)
    boxes = objects[list(BOX_COLUMNS)].to_numpy(dtype=np.float64)
    groups = objects.groupby("path", sort=False).indices
    for path, rows in track(groups.items(), f"cropping {len(objects)} objects", total=len(groups)):
        image = load_image_rgb(dataset.image_path(path))
        for row in rows:
            out[row] = crop_resized(image, None if np.isnan(boxes[row]).any() else boxes[row], pads[row], size)
    return out


def detection_arrays(dataset: Dataset, objects: pd.DataFrame, size: int, class_names: Sequence[str]) -> tuple[np.ndarray, dict[str, np.ndarray], list[str]]:
    """Whole images resized to size x size, with boxes as absolute xyxy at that size.

    Boxes and labels are padded with -1 to the largest object count (KerasHub's convention).
    Returns images, {"boxes", "labels"} and the image ids in row order.
    """
    index = {name: i for i, name in enumerate(class_names)}
    per_image = list(objects.groupby("image_id", sort=True))
    longest = max((len(rows) for _, rows in per_image), default=1)
    images = np.empty((len(per_image), size, size, 3), dtype=np.uint8)
    boxes = np.full((len(per_image), longest, 4), -1.0, dtype=np.float32)
    labels = np.full((len(per_image), longest), -1.0, dtype=np.float32)
    for i, (_, rows) in enumerate(track(per_image, f"loading {len(per_image)} images")):
        images[i] = resize_square(load_image_rgb(dataset.image_path(rows["path"].iloc[0])), size)
        boxes[i, : len(rows)] = xyxy_rel_to_px(rows[list(BOX_COLUMNS)].to_numpy(dtype=np.float32), (size, size))
        labels[i, : len(rows)] = [index[t] for t in rows["object_type"]]
    return images, {"boxes": boxes, "labels": labels}, [image_id for image_id, _ in per_image]


# ---------------------------------------------------------------------------------------------
# Imbalance


def class_weights(labels: np.ndarray, n_classes: int) -> dict[int, float]:
    """Balanced weights n / (k * count), 0 for classes absent from the training split."""
    counts = np.bincount(labels, minlength=n_classes).astype(float)
    present = counts > 0
    weights = np.zeros(n_classes)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return {i: float(w) for i, w in enumerate(weights)}


def oversample_indices(labels: np.ndarray, seed: int) -> np.ndarray:
    """Row indices where every class is drawn (with repetition) up to the largest class count."""
    rng = np.random.default_rng(seed)
    counts = np.bincount(labels)
    target = counts.max()
    parts = []
    for cls in np.flatnonzero(counts):
        rows = np.flatnonzero(labels == cls)
        extra = rng.choice(rows, size=target - len(rows), replace=True) if target > len(rows) else np.empty(0, dtype=int)
        parts.append(np.concatenate([rows, extra]))
    return np.sort(np.concatenate(parts))


# ---------------------------------------------------------------------------------------------
# Batching


def _flatten(y: Any) -> tuple[list[np.ndarray], Any]:
    if isinstance(y, dict):
        keys = sorted(y)
        return [y[k] for k in keys], keys
    return [y], None


def _unflatten(parts: Sequence[Any], keys: Any) -> Any:
    return dict(zip(keys, parts)) if keys is not None else parts[0]


# A batch augmentation on arrays: (images, targets in `y`'s flattened order, rng) -> the same.
BatchTransform = Callable[[np.ndarray, list[np.ndarray], np.random.Generator], tuple[np.ndarray, list[np.ndarray]]]


def _gather(x: np.ndarray, ys: list[np.ndarray], idx: np.ndarray, seed: int, transform: BatchTransform | None) -> tuple[np.ndarray, list[np.ndarray]]:
    idx = np.sort(idx)
    images, targets = x[idx], [a[idx] for a in ys]
    if transform is None:
        return images, targets
    # Seeded by the batch's own rows, so a batch is augmented the same way whichever thread
    # gathers it.
    return transform(images, targets, np.random.default_rng((seed, len(idx), *idx[:8].tolist())))


def batches(x: np.ndarray, y: Any, batch_size: int, shuffle: bool, seed: int = 0, sample_weight: np.ndarray | None = None, tf_data: bool = False, transform: BatchTransform | None = None):
    """Batches gathered from in-memory arrays: tf.data on TensorFlow, a PyDataset elsewhere.

    `y` is an array or a dict of arrays (detector targets). Shuffling is per epoch and seeded.
    `tf_data` forces tf.data on any backend (KerasHub's detectors accept only tf.data or grain).
    `transform` augments each training batch (images and targets together, e.g. a flip that
    also mirrors the detector's target maps).
    """
    keras = keras_module()
    if tf_data or keras.backend.backend() == "tensorflow":
        return _tf_batches(x, y, batch_size, shuffle, seed, sample_weight, transform)
    return _array_batches_class()(x, y, batch_size, shuffle, seed, sample_weight, transform)


def _tf_batches(x, y, batch_size, shuffle, seed, sample_weight, transform):
    import tensorflow as tf

    ys, keys = _flatten(y)
    arrays = [x, *ys] + ([sample_weight] if sample_weight is not None else [])

    def gather(idx):
        images, targets = _gather(x, ys, idx, seed, transform)
        extra = (sample_weight[np.sort(idx)],) if sample_weight is not None else ()
        return (images, *targets, *extra)

    @tf.autograph.experimental.do_not_convert  # plain graph code: no need to re-read the source
    def take(idx):
        parts = tf.numpy_function(gather, [idx], [tf.as_dtype(a.dtype) for a in arrays], stateful=False)
        for part, array in zip(parts, arrays):
            part.set_shape((None, *array.shape[1:]))
        out = (parts[0], _unflatten(parts[1 : 1 + len(ys)], keys))
        return out + (parts[-1],) if sample_weight is not None else out

    index = tf.data.Dataset.range(len(x))
    if shuffle:
        index = index.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return index.batch(batch_size).map(take, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


_array_batches: list[type] = []


def _array_batches_class() -> type:
    """keras.utils.PyDataset over arrays, defined once Keras is imported."""
    if not _array_batches:
        keras = keras_module()

        class ArrayBatches(keras.utils.PyDataset):
            def __init__(self, x, y, batch_size, shuffle, seed, sample_weight, transform):
                # Two threads gather the next batches while the accelerator works on this one.
                super().__init__(workers=2, max_queue_size=8)
                self.x, self.ys, self.keys = x, *_flatten(y)
                self.sample_weight, self.seed, self.transform = sample_weight, seed, transform
                self.batch_size, self.shuffle = batch_size, shuffle
                self.rng = np.random.default_rng(seed)
                self.order = self.rng.permutation(len(x)) if shuffle else np.arange(len(x))

            def __len__(self):
                return int(np.ceil(len(self.x) / self.batch_size))

            def __getitem__(self, i):
                idx = np.sort(self.order[i * self.batch_size : (i + 1) * self.batch_size])
                images, targets = _gather(self.x, self.ys, idx, self.seed, self.transform)
                out = (images, _unflatten(targets, self.keys))
                return out + (self.sample_weight[idx],) if self.sample_weight is not None else out

            def on_epoch_end(self):
                if self.shuffle:
                    self.order = self.rng.permutation(len(self.x))

        _array_batches.append(ArrayBatches)
    return _array_batches[0]
