"""The evaluation metrics, pure (numpy, pandas; pycocotools for the COCO figures).

- detection: COCO metrics (mAP@[.5:.95], AP50, AP75, AR@1/10/100, per class) from pycocotools,
  greedy matching as COCO does it, the F1-maximising score threshold, F1 of kept detections;
- classification: accuracy, top-3 accuracy, macro F1, per-class scores, confusion matrix;
- multi-label: exact match, binary accuracy (1 - Hamming loss), macro, micro and per-label F1.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any, Sequence

import numpy as np
import pandas as pd

from curate.dataset import BOX_COLUMNS
from curate.geometry import iou_xyxy, xywh_rel_to_px, xyxy_to_xywh

COCO_SUMMARY = ("mAP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large", "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large")


# ---------------------------------------------------------------------------------------------
# Boxes


def match_detections(gt_xyxy: np.ndarray, dt_xyxy: np.ndarray, dt_scores: np.ndarray, iou_threshold: float = 0.5) -> np.ndarray:
    """True-positive flags for detections of one class in one image, matched greedily in
    decreasing score order to the unmatched ground truth box of highest IoU (as COCO does)."""
    order = np.argsort(-np.asarray(dt_scores), kind="mergesort")
    ious = iou_xyxy(dt_xyxy, gt_xyxy)
    taken = np.zeros(len(gt_xyxy), dtype=bool)
    tp = np.zeros(len(dt_scores), dtype=bool)
    for d in order:
        if not len(gt_xyxy):
            break
        candidates = np.where(taken, -1.0, ious[d])
        g = int(np.argmax(candidates))
        if candidates[g] >= iou_threshold:
            taken[g] = tp[d] = True
    return tp


def best_f1_threshold(scores: np.ndarray, tp: np.ndarray, n_gt: int) -> dict[str, float]:
    """The score threshold that maximises F1 (keep detections scoring >= threshold)."""
    if n_gt == 0 or len(scores) == 0:
        return {"threshold": 1.0, "f1": 0.0, "precision": 0.0, "recall": 0.0}
    order = np.argsort(-np.asarray(scores), kind="mergesort")
    s, hits = np.asarray(scores)[order], np.asarray(tp)[order]
    # Only cut between different scores: detections with equal scores stand or fall together.
    last = np.r_[s[1:] != s[:-1], True]
    tps = np.cumsum(hits)[last]
    kept = np.flatnonzero(last) + 1
    precision, recall = tps / kept, tps / n_gt
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(precision), where=(precision + recall) > 0)
    best = int(np.argmax(f1))
    return {"threshold": float(s[last][best]), "f1": float(f1[best]), "precision": float(precision[best]), "recall": float(recall[best])}


# ---------------------------------------------------------------------------------------------
# Detection: COCO metrics via pycocotools


def frames_to_coco(images: pd.DataFrame, gt: pd.DataFrame, dt: pd.DataFrame, class_names: Sequence[str]) -> tuple[dict, list[dict]]:
    """Ground truth and detections as COCO dicts, boxes in pixels of each image.

    images: image_id, width, height; gt: image_id, object_type, box columns (relative);
    dt: the same plus score.
    """
    ids = {image_id: i + 1 for i, image_id in enumerate(images["image_id"])}
    cats = {name: i + 1 for i, name in enumerate(class_names)}
    sizes = images.set_index("image_id")[["width", "height"]]

    def xywh(frame: pd.DataFrame) -> np.ndarray:
        wh = sizes.loc[frame["image_id"]].to_numpy(dtype=np.float64)
        b = frame[list(BOX_COLUMNS)].to_numpy(dtype=np.float64)
        return xywh_rel_to_px(xyxy_to_xywh(b), (wh[:, 0], wh[:, 1])) if len(b) else np.zeros((0, 4))

    gt_boxes, dt_boxes = xywh(gt), xywh(dt)
    coco_gt = {
        "images": [{"id": ids[r.image_id], "width": int(r.width), "height": int(r.height)} for r in images.itertuples()],
        "categories": [{"id": cid, "name": name} for name, cid in cats.items()],
        "annotations": [
            {"id": n + 1, "image_id": ids[r.image_id], "category_id": cats[r.object_type], "bbox": [float(v) for v in box], "area": float(box[2] * box[3]), "iscrowd": 0}
            for n, (r, box) in enumerate(zip(gt.itertuples(), gt_boxes))
        ],
    }
    coco_dt = [
        {"image_id": ids[r.image_id], "category_id": cats[r.object_type], "bbox": [float(v) for v in box], "score": float(r.score)}
        for r, box in zip(dt.itertuples(), dt_boxes)
    ]
    return coco_gt, coco_dt


def coco_metrics(images: pd.DataFrame, gt: pd.DataFrame, dt: pd.DataFrame, class_names: Sequence[str]) -> dict[str, Any]:
    """COCO summary metrics and per-class AP / AP50 / AR100, computed by pycocotools."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    coco_gt, coco_dt = frames_to_coco(images, gt, dt, class_names)
    if not coco_dt:
        return {**{k: 0.0 for k in COCO_SUMMARY}, "per_class": {name: {"AP": 0.0, "AP50": 0.0, "AR100": 0.0, "ground_truth": int((gt["object_type"] == name).sum())} for name in class_names}}
    with contextlib.redirect_stdout(io.StringIO()):
        ground = COCO()
        ground.dataset = coco_gt
        ground.createIndex()
        result = ground.loadRes(coco_dt)
        run = COCOeval(ground, result, "bbox")
        run.evaluate()
        run.accumulate()
        run.summarize()
    summary = {name: float(v) for name, v in zip(COCO_SUMMARY, run.stats)}
    precision = run.eval["precision"]  # [iou, recall, class, area, max dets]
    recall = run.eval["recall"]  # [iou, class, area, max dets]

    def mean_valid(values: np.ndarray) -> float:
        valid = values[values > -1]
        return float(valid.mean()) if valid.size else -1.0

    per_class = {}
    for k, name in enumerate(class_names):
        per_class[name] = {
            "AP": mean_valid(precision[:, :, k, 0, -1]),
            "AP50": mean_valid(precision[0, :, k, 0, -1]),
            "AR100": mean_valid(recall[:, k, 0, -1]),
            "ground_truth": int((gt["object_type"] == name).sum()),
        }
    return {**summary, "per_class": per_class}


# ---------------------------------------------------------------------------------------------
# Classification and multi-label


def per_label_scores(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    precision = np.divide(tp, tp + fp, out=np.zeros(len(tp)), where=(tp + fp) > 0)
    recall = np.divide(tp, tp + fn, out=np.zeros(len(tp)), where=(tp + fn) > 0)
    f1 = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros(len(tp)), where=(2 * tp + fp + fn) > 0)
    return precision, recall, f1


def classification_metrics(y_true: Sequence[str], ranked: Sequence[Sequence[str]], labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, top-3 accuracy, macro F1 over the labels seen in truth or prediction (as
    scikit-learn does), per-class precision/recall/F1/support and the confusion matrix."""
    y_true = list(y_true)
    top1 = [r[0] if len(r) else "(none)" for r in ranked]
    names = sorted(set(labels) | set(y_true) | set(top1))
    index = {n: i for i, n in enumerate(names)}
    confusion = np.zeros((len(names), len(names)), dtype=np.int64)
    np.add.at(confusion, ([index[t] for t in y_true], [index[p] for p in top1]), 1)
    tp = np.diag(confusion).astype(float)
    fp = confusion.sum(axis=0) - tp
    fn = confusion.sum(axis=1) - tp
    precision, recall, f1 = per_label_scores(tp, fp, fn)
    seen = (confusion.sum(axis=0) + confusion.sum(axis=1)) > 0
    n = max(len(y_true), 1)
    return {
        "examples": len(y_true),
        "accuracy": float(tp.sum() / n),
        "top3_accuracy": float(np.mean([t in list(r)[:3] for t, r in zip(y_true, ranked)])) if y_true else 0.0,
        "macro_f1": float(f1[seen].mean()) if seen.any() else 0.0,
        "per_class": {name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]), "support": int(confusion[i].sum())} for i, name in enumerate(names) if seen[i]},
        "confusion": {"labels": names, "matrix": confusion.tolist()},
    }


def multilabel_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Exact match, binary accuracy (1 - Hamming loss), macro F1 over the labels present in
    truth or prediction, and per-label precision/recall/F1/support."""
    y_true = np.asarray(y_true, dtype=bool)
    y_pred = np.asarray(y_pred, dtype=bool)
    tp = (y_true & y_pred).sum(axis=0).astype(float)
    fp = (~y_true & y_pred).sum(axis=0).astype(float)
    fn = (y_true & ~y_pred).sum(axis=0).astype(float)
    precision, recall, f1 = per_label_scores(tp, fp, fn)
    seen = (tp + fp + fn) > 0
    return {
        "examples": int(len(y_true)),
        "exact_match": float((y_true == y_pred).all(axis=1).mean()) if len(y_true) else 0.0,
        "binary_accuracy": float((y_true == y_pred).mean()) if y_true.size else 0.0,
        "macro_f1": float(f1[seen].mean()) if seen.any() else 0.0,
        "micro_f1": float(2 * tp.sum() / (2 * tp.sum() + fp.sum() + fn.sum())) if (tp.sum() + fp.sum() + fn.sum()) else 0.0,
        "per_label": {label: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]), "support": int(y_true[:, i].sum())} for i, label in enumerate(labels) if seen[i]},
    }


def f1_of_kept(truth: Sequence[pd.DataFrame], kept: Sequence[pd.DataFrame], name: str) -> float:
    """F1 of one class when every kept detection counts (no further thresholding)."""
    tp = fp = n_gt = 0
    for gt, dt in zip(truth, kept):
        g = gt[gt["object_type"] == name][list(BOX_COLUMNS)].to_numpy(dtype=np.float64)
        d = dt[dt["object_type"] == name]
        hits = match_detections(g, d[list(BOX_COLUMNS)].to_numpy(dtype=np.float64), d["score"].to_numpy())
        tp, fp, n_gt = tp + hits.sum(), fp + (~hits).sum(), n_gt + len(g)
    return 2 * tp / (2 * tp + fp + (n_gt - tp)) if (2 * tp + fp + n_gt - tp) else 0.0
