"""A centre-point detector: the architecture, its training targets, losses and decoding.

Objects are found as peaks of one heatmap per class, and each peak reads its box from four
distances to the box edges (left, top, right, bottom) predicted at that cell, as in CenterNet
(Zhou et al. 2019). Training follows TTFNet (Liu et al. 2020), which converges several times
faster: the heatmap target is an elliptical Gaussian shaped like the box, and every cell under
that Gaussian regresses the box with a GIoU loss weighted by the Gaussian (so one object gives
many training signals instead of one). No anchors, no non-maximum suppression: a 3x3 peak test
decodes the map, so output shapes are fixed.

The network: an ImageNet EfficientNet-Lite0 trunk, a small feature pyramid from its stride 8,
16 and 32 outputs merged top-down into one stride-8 map, and two heads of one 3x3 convolution
each. On two CPU cores it trains to useful boxes in a few hundred steps.

Everything here but `build_centernet` and the losses is plain numpy: the targets are made once
per image before training, and decoding runs after `predict`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from curate.models.runtime import keras_module

STRIDE = 8
# Box distances are predicted in units of this many pixels (softplus keeps them positive).
DISTANCE_UNIT = 32.0
# TTFNet's alpha: the Gaussian's standard deviation is alpha * side / 6.
GAUSSIAN_ALPHA = 0.54
HEATMAP_PRIOR = 0.1  # initial foreground probability of every heatmap cell
BOX_LOSS_WEIGHT = 5.0


# ---------------------------------------------------------------------------------------------
# The network


def build_centernet(n_classes: int, image_size: int, backbone, scaling_layer, width: int = 64):
    """uint8 image -> {"heatmap": (S/8, S/8, n_classes) logits, "box": (S/8, S/8, 4) distances}.

    `backbone` is a Lite0 on scaled inputs (`curate.models.lite0.lite0_backbone`); its stride 8,
    16 and 32 outputs feed the pyramid.
    """
    from curate.models.lite0 import FEATURE_LAYERS

    keras = keras_module()
    layers = keras.layers
    trunk = keras.Model(backbone.inputs, [backbone.get_layer(FEATURE_LAYERS[s]).output for s in (8, 16, 32)], name="trunk")

    def conv_bn_relu(x, kernel: int, name: str):
        x = layers.Conv2D(width, kernel, padding="same", use_bias=False, name=name)(x)
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
        return layers.ReLU(name=f"{name}_relu")(x)

    inputs = keras.Input((image_size, image_size, 3), dtype="uint8", name="image")
    c8, c16, c32 = trunk(scaling_layer(inputs))
    p32 = conv_bn_relu(c32, 1, "lateral32")
    p16 = layers.Add(name="merge16")([conv_bn_relu(c16, 1, "lateral16"), layers.UpSampling2D(2, interpolation="bilinear", name="up32")(p32)])
    p16 = conv_bn_relu(p16, 3, "smooth16")
    p8 = layers.Add(name="merge8")([conv_bn_relu(c8, 1, "lateral8"), layers.UpSampling2D(2, interpolation="bilinear", name="up16")(p16)])
    features = conv_bn_relu(p8, 3, "smooth8")
    prior = float(-np.log((1 - HEATMAP_PRIOR) / HEATMAP_PRIOR))
    heat = conv_bn_relu(features, 3, "heatmap_conv")
    heatmap = layers.Conv2D(n_classes, 1, bias_initializer=keras.initializers.Constant(prior), dtype="float32", name="heatmap")(heat)
    # softplus rather than ReLU: a ReLU head that starts negative gets no gradient and stays dead
    reg = conv_bn_relu(features, 3, "box_conv")
    box = layers.Conv2D(4, 1, bias_initializer=keras.initializers.Constant(1.0), name="box_distances")(reg)
    box = layers.Activation("softplus", dtype="float32", name="box")(box)
    return keras.Model(inputs, {"heatmap": heatmap, "box": box}, name="centernet")


# ---------------------------------------------------------------------------------------------
# Training targets (numpy, once per image)


def cell_centres(image_size: int, stride: int = STRIDE) -> np.ndarray:
    return (np.arange(image_size // stride, dtype=np.float32) + 0.5) * stride


def centernet_targets(boxes_xyxy_px: np.ndarray, classes: np.ndarray, n_classes: int, image_size: int, stride: int = STRIDE) -> tuple[np.ndarray, np.ndarray]:
    """The heatmap (H, W, n_classes) and box target (H, W, 5: x_min, y_min, x_max, y_max in
    input pixels and the cell's regression weight) of one image.

    Larger objects are drawn first so a small object keeps the cells it shares with a large one;
    each object's regression weights sum to log(area), TTFNet's balance between sizes.
    """
    cells = image_size // stride
    heatmap = np.zeros((cells, cells, n_classes), np.float32)
    target = np.zeros((cells, cells, 5), np.float32)
    centres = cell_centres(image_size, stride)
    boxes = np.asarray(boxes_xyxy_px, dtype=np.float32).reshape(-1, 4)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    for i in np.argsort(-areas, kind="stable"):
        x0, y0, x1, y1 = boxes[i]
        w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
        sx, sy = GAUSSIAN_ALPHA * w / 6, GAUSSIAN_ALPHA * h / 6
        gauss = np.exp(-((centres[None, :] - (x0 + x1) / 2) ** 2) / (2 * sx**2) - ((centres[:, None] - (y0 + y1) / 2) ** 2) / (2 * sy**2))
        peak_row = min(int((y0 + y1) / 2 // stride), cells - 1)
        peak_col = min(int((x0 + x1) / 2 // stride), cells - 1)
        gauss[peak_row, peak_col] = 1.0  # exactly one positive cell per object
        c = int(classes[i])
        heatmap[..., c] = np.maximum(heatmap[..., c], gauss)
        weight = np.where(gauss > 0.01, gauss, 0.0)
        weight *= np.log(max(w * h, 2.0)) / weight.sum()
        chosen = weight > 0
        target[chosen, :4] = (x0, y0, x1, y1)
        target[chosen, 4] = weight[chosen]
    return heatmap, target


def flip_targets_horizontally(images: np.ndarray, heatmaps: np.ndarray, targets: np.ndarray, image_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A batch and its targets mirrored left-right (boxes mirrored inside the box target)."""
    flipped = targets[:, :, ::-1].copy()
    x_min = image_size - flipped[..., 2]
    x_max = image_size - flipped[..., 0]
    flipped[..., 0], flipped[..., 2] = x_min, x_max
    flipped[..., :4] *= (flipped[..., 4:5] > 0)  # empty cells stay all zero
    return images[:, :, ::-1], heatmaps[:, :, ::-1], flipped


# ---------------------------------------------------------------------------------------------
# Losses (Keras ops, any backend)


def heatmap_focal_loss(y_true, y_pred):
    """CenterNet's penalty-reduced focal loss, per positive cell."""
    ops = keras_module().ops
    p = ops.clip(ops.sigmoid(y_pred), 1e-4, 1 - 1e-4)
    positive = ops.cast(ops.equal(y_true, 1.0), p.dtype)
    positive_loss = -ops.log(p) * (1 - p) ** 2 * positive
    negative_loss = -ops.log(1 - p) * p**2 * (1 - y_true) ** 4 * (1 - positive)
    return (ops.sum(positive_loss) + ops.sum(negative_loss)) / ops.maximum(ops.sum(positive), 1.0)


def box_giou_loss(image_size: int, stride: int = STRIDE):
    """The Gaussian-weighted GIoU loss of the boxes read at every weighted cell."""
    ops = keras_module().ops
    centres = cell_centres(image_size, stride)
    grid_x = np.broadcast_to(centres[None, :], (len(centres), len(centres))).copy()
    grid_y = grid_x.T.copy()

    def loss(y_true, y_pred):
        d = y_pred * DISTANCE_UNIT
        px0, py0, px1, py1 = grid_x - d[..., 0], grid_y - d[..., 1], grid_x + d[..., 2], grid_y + d[..., 3]
        tx0, ty0, tx1, ty1, weight = (y_true[..., k] for k in range(5))
        inter = ops.maximum(ops.minimum(px1, tx1) - ops.maximum(px0, tx0), 0) * ops.maximum(ops.minimum(py1, ty1) - ops.maximum(py0, ty0), 0)
        union = (px1 - px0) * (py1 - py0) + (tx1 - tx0) * (ty1 - ty0) - inter + 1e-6
        enclosing = (ops.maximum(px1, tx1) - ops.minimum(px0, tx0)) * (ops.maximum(py1, ty1) - ops.minimum(py0, ty0)) + 1e-6
        giou = inter / union - (enclosing - union) / enclosing
        return BOX_LOSS_WEIGHT * ops.sum((1 - giou) * weight) / ops.maximum(ops.sum(weight), 1e-6)

    return loss


# ---------------------------------------------------------------------------------------------
# Decoding (numpy)


def _max_filter_3x3(maps: np.ndarray) -> np.ndarray:
    """3x3 maximum over the two spatial axes of (B, H, W, C), edges padded with -inf."""
    padded = np.pad(maps, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    h, w = maps.shape[1:3]
    return np.max([padded[:, dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)], axis=0)


def decode_centernet(heatmap_logits: np.ndarray, box_distances: np.ndarray, image_size: int, max_detections: int, min_score: float, stride: int = STRIDE) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per image: (boxes xyxy in input pixels (K, 4), scores (K,), class ids (K,)) of the
    `max_detections` strongest heatmap peaks scoring at least `min_score`."""
    scores = 1.0 / (1.0 + np.exp(-np.asarray(heatmap_logits, dtype=np.float64)))
    peaks = np.where(scores >= _max_filter_3x3(scores), scores, 0.0)
    batch, cells, _, n_classes = scores.shape
    centres = cell_centres(image_size, stride).astype(np.float64)
    out = []
    for b in range(batch):
        flat = peaks[b].reshape(-1)
        k = min(max_detections, flat.size)
        top = np.argpartition(-flat, k - 1)[:k]
        top = top[np.argsort(-flat[top], kind="stable")]
        top = top[flat[top] >= min_score]
        cell, cls = np.divmod(top, n_classes)
        row, col = np.divmod(cell, cells)
        d = np.asarray(box_distances[b], dtype=np.float64)[row, col] * DISTANCE_UNIT
        x, y = centres[col], centres[row]
        boxes = np.clip(np.stack([x - d[:, 0], y - d[:, 1], x + d[:, 2], y + d[:, 3]], axis=1), 0, image_size)
        out.append((boxes, flat[top], cls.astype(np.int64)))
    return out


def batch_targets(boxes_per_image: Sequence[np.ndarray], classes_per_image: Sequence[np.ndarray], n_classes: int, image_size: int) -> dict[str, np.ndarray]:
    """The stacked targets of many images (what `fit` gets as y)."""
    made = [centernet_targets(b, c, n_classes, image_size) for b, c in zip(boxes_per_image, classes_per_image)]
    cells = image_size // STRIDE
    if not made:
        return {"heatmap": np.zeros((0, cells, cells, n_classes), np.float32), "box": np.zeros((0, cells, cells, 5), np.float32)}
    return {"heatmap": np.stack([m[0] for m in made]), "box": np.stack([m[1] for m in made])}


# ---------------------------------------------------------------------------------------------
# What the detector stage calls


def _rows_of(boxes: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One image's real boxes and class ids from the -1-padded arrays of `detection_arrays`."""
    keep = labels >= 0
    return boxes[keep], labels[keep].astype(np.int64)


def centernet_fit_arguments(y_train: dict[str, np.ndarray], y_val: dict[str, np.ndarray], n_classes: int, image_size: int):
    """(train and validation targets, compile arguments, the batch flip) for `training.fit`,
    from the padded boxes and labels of `curate.models.data.detection_arrays`."""
    targets = []
    for y in (y_train, y_val):
        rows = [_rows_of(b, c) for b, c in zip(y["boxes"], y["labels"])]
        targets.append(batch_targets([r[0] for r in rows], [r[1] for r in rows], n_classes, image_size))
    compile_args = {"loss": {"heatmap": heatmap_focal_loss, "box": box_giou_loss(image_size)}}

    def flip_half(images: np.ndarray, maps: list[np.ndarray], rng: np.random.Generator):
        # `maps` come in the sorted key order of the target dict: box, heatmap
        box, heatmap = maps
        chosen = rng.random(len(images)) < 0.5
        if chosen.any():
            images, box, heatmap = images.copy(), box.copy(), heatmap.copy()
            images[chosen], heatmap[chosen], box[chosen] = flip_targets_horizontally(images[chosen], heatmap[chosen], box[chosen], image_size)
        return images, [box, heatmap]

    return targets, compile_args, flip_half


def centernet_detections(model, images: np.ndarray, class_names: Sequence[str], min_score: float, max_detections: int, chunk: int = 16) -> list:
    """Per image, a frame of object_type, score and relative xyxy box of each detection.

    Batches are padded to a power of two (at most `chunk`), so prediction traces a handful of
    input shapes whatever the number of images.
    """
    import pandas as pd

    from curate.geometry import xyxy_px_to_rel

    size = images.shape[1]
    frames = []
    for start in range(0, len(images), chunk):
        part = images[start : start + chunk]
        padded_size = 1 << max(len(part) - 1, 0).bit_length()
        padded = part if padded_size == len(part) else np.concatenate([part, np.zeros((padded_size - len(part), *part.shape[1:]), part.dtype)])
        out = model.predict_on_batch(padded)
        decoded = decode_centernet(np.asarray(out["heatmap"])[: len(part)], np.asarray(out["box"])[: len(part)], size, max_detections, min_score)
        for boxes, scores, classes in decoded:
            # built from filtered arrays in one go: this runs for every picture the predictor sees
            rel = xyxy_px_to_rel(boxes, (size, size)).reshape(-1, 4)
            valid = (rel[:, 2] > rel[:, 0]) & (rel[:, 3] > rel[:, 1])
            rel, names = rel[valid], np.asarray(class_names, dtype=object)[np.asarray(classes, dtype=int)[valid]]
            frames.append(pd.DataFrame({"object_type": names, "score": np.asarray(scores)[valid], "x_min": rel[:, 0], "y_min": rel[:, 1], "x_max": rel[:, 2], "y_max": rel[:, 3]}))
    return frames
