"""Metric code against pycocotools, scikit-learn and values computed by hand (to 1e-6)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, f1_score, hamming_loss, top_k_accuracy_score

from curate.geometry import iou_xyxy
from curate.models.metrics import (
    best_f1_threshold,
    classification_metrics,
    coco_metrics,
    match_detections,
    multilabel_metrics,
)

OBJECT_TYPES = ["upper-body", "lower-body", "full-body", "footwear"]


def boxes_strategy(max_size=6):
    corner = st.tuples(st.floats(0, 0.8), st.floats(0, 0.8), st.floats(0.01, 0.2), st.floats(0.01, 0.2))
    return st.lists(corner, min_size=1, max_size=max_size).map(lambda rows: np.array([[x, y, x + w, y + h] for x, y, w, h in rows]))


def frames(gt_rows, dt_rows):
    images = pd.DataFrame({"image_id": ["a", "b"], "width": [200, 100], "height": [100, 100]})
    cols = ["image_id", "object_type", "x_min", "y_min", "x_max", "y_max"]
    gt = pd.DataFrame(gt_rows, columns=cols)
    dt = pd.DataFrame(dt_rows, columns=cols + ["score"])
    return images, gt, dt


def test_coco_metrics_hand_computed_single_box():
    # Ground truth 0.0-0.5 x 0.0-0.5; the detection is shifted so that IoU = 0.62 exactly
    # (in pixels: 100x50 box vs a box of the same size sharing 76.54... px of width).
    # IoU thresholds .50 .55 .60 match, .65-.95 do not: mAP = 3/10, AP50 = 1, AP75 = 0.
    w = 2 * 0.62 / (1 + 0.62) * 0.5  # overlap width (relative) giving IoU 0.62 for equal boxes
    images, gt, dt = frames(
        [("a", "upper-body", 0.0, 0.0, 0.5, 0.5)],
        [("a", "upper-body", 0.5 - w, 0.0, 1.0 - w, 0.5, 0.9)],
    )
    assert iou_xyxy(gt.iloc[:, 2:].to_numpy(), dt.iloc[:, 2:6].to_numpy())[0, 0] == pytest.approx(0.62, abs=1e-9)
    m = coco_metrics(images, gt, dt, OBJECT_TYPES)
    assert m["mAP"] == pytest.approx(0.3, abs=1e-6)
    assert m["AP50"] == pytest.approx(1.0, abs=1e-6)
    assert m["AP75"] == pytest.approx(0.0, abs=1e-6)
    assert m["AR1"] == pytest.approx(0.3, abs=1e-6)
    assert m["AR100"] == pytest.approx(0.3, abs=1e-6)
    assert m["per_class"]["upper-body"]["AP"] == pytest.approx(0.3, abs=1e-6)
    assert m["per_class"]["lower-body"]["AP"] == -1.0  # no ground truth: undefined, as in COCO


def test_coco_metrics_hand_computed_precision_recall_curve():
    # Two ground truth boxes of one class; three detections scored 0.9 (hit), 0.8 (miss), 0.7 (hit).
    # Interpolated precision is 1 up to recall 0.5, then 2/3 up to recall 1. COCO samples 101
    # recall points: 51 points (0..0.5) at 1 and 50 points at 2/3 -> AP = (51 + 50 * 2/3) / 101.
    images, gt, dt = frames(
        [("a", "footwear", 0.1, 0.1, 0.2, 0.2), ("b", "footwear", 0.5, 0.5, 0.7, 0.7)],
        [("a", "footwear", 0.1, 0.1, 0.2, 0.2, 0.9), ("a", "footwear", 0.6, 0.6, 0.8, 0.8, 0.8), ("b", "footwear", 0.5, 0.5, 0.7, 0.7, 0.7)],
    )
    m = coco_metrics(images, gt, dt, OBJECT_TYPES)
    expected = (51 + 50 * 2 / 3) / 101
    assert m["AP50"] == pytest.approx(expected, abs=1e-6)
    assert m["mAP"] == pytest.approx(expected, abs=1e-6)
    assert m["AR1"] == pytest.approx(1.0, abs=1e-6)  # one detection per image suffices here


@settings(max_examples=12, deadline=None)
@given(boxes_strategy(5))
def test_perfect_detections_score_one(boxes):
    rows = [("a", OBJECT_TYPES[i % 4], *b) for i, b in enumerate(boxes)]
    images, gt, dt = frames(rows, [(*r, 0.5 + 0.01 * i) for i, r in enumerate(rows)])
    m = coco_metrics(images, gt, dt, OBJECT_TYPES)
    for key in ("mAP", "AP50", "AP75", "AR100"):
        assert m[key] == pytest.approx(1.0, abs=1e-6)


def test_match_detections_and_best_threshold_by_hand():
    gt = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], dtype=float)
    dt = np.array([[0, 0, 10, 10], [0, 0, 10, 9], [20, 20, 30, 30], [50, 50, 60, 60]], dtype=float)
    scores = np.array([0.9, 0.95, 0.4, 0.3])
    tp = match_detections(gt, dt, scores)
    # 0.95 takes the first box (IoU 0.9); 0.9 then finds it taken -> false positive.
    assert tp.tolist() == [False, True, True, False]
    # Cut after 0.95: P=1, R=.5, F1=2/3; after 0.9: P=.5, R=.5; after 0.4: P=2/3, R=1, F1=.8.
    best = best_f1_threshold(scores, tp, n_gt=2)
    assert best["threshold"] == pytest.approx(0.4)
    assert best["f1"] == pytest.approx(0.8, abs=1e-9)
    assert best["precision"] == pytest.approx(2 / 3, abs=1e-9)
    assert best["recall"] == pytest.approx(1.0)


def test_classification_metrics_by_hand_and_against_sklearn():
    labels = ["a", "b", "c"]
    y_true = ["a", "a", "b", "c", "c", "c"]
    ranked = [["a", "b", "c"], ["b", "a", "c"], ["b", "c", "a"], ["c", "a", "b"], ["a", "c", "b"], ["b", "a", "c"]]
    m = classification_metrics(y_true, ranked, labels)
    assert m["accuracy"] == pytest.approx(3 / 6, abs=1e-9)
    # per class F1: a: tp1 fp1 fn1 -> .5 ; b: tp1 fp2 fn0 -> .5 ; c: tp1 fp0 fn2 -> .5
    assert m["macro_f1"] == pytest.approx(0.5, abs=1e-9)
    assert m["confusion"]["matrix"] == [[1, 1, 0], [0, 1, 0], [1, 1, 1]]
    top1 = [r[0] for r in ranked]
    assert m["accuracy"] == pytest.approx(accuracy_score(y_true, top1), abs=1e-9)
    assert m["macro_f1"] == pytest.approx(f1_score(y_true, top1, average="macro"), abs=1e-9)
    scores = np.array([[3 - r.index(lab) for lab in labels] for r in ranked], dtype=float)
    assert m["top3_accuracy"] == pytest.approx(top_k_accuracy_score(y_true, scores, k=3, labels=labels), abs=1e-9)
    assert m["top3_accuracy"] == 1.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.permutations([0, 1, 2, 3])), min_size=1, max_size=30))
def test_classification_metrics_agree_with_sklearn(rows):
    names = ["w", "x", "y", "z"]
    y_true = [names[t] for t, _ in rows]
    ranked = [[names[i] for i in perm] for _, perm in rows]
    m = classification_metrics(y_true, ranked, names)
    top1 = [r[0] for r in ranked]
    assert m["accuracy"] == pytest.approx(accuracy_score(y_true, top1), abs=1e-6)
    assert m["macro_f1"] == pytest.approx(f1_score(y_true, top1, average="macro", zero_division=0), abs=1e-6)
    scores = np.array([[4 - r.index(n) for n in names] for r in ranked], dtype=float)
    assert m["top3_accuracy"] == pytest.approx(top_k_accuracy_score(y_true, scores, k=3, labels=names), abs=1e-6)


def test_multilabel_metrics_by_hand():
    truth = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=bool)
    pred = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 0]], dtype=bool)
    m = multilabel_metrics(truth, pred, ["p", "q", "r"])
    assert m["exact_match"] == pytest.approx(1 / 3, abs=1e-9)
    assert m["binary_accuracy"] == pytest.approx(7 / 9, abs=1e-9)
    # p: tp2 -> 1 ; q: tp0 fp1 fn1 -> 0 ; r: tp1 -> 1
    assert m["macro_f1"] == pytest.approx(2 / 3, abs=1e-9)
    assert m["per_label"]["q"]["f1"] == 0.0
    assert m["micro_f1"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 1), abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12).flatmap(lambda n: st.tuples(
    st.lists(st.lists(st.booleans(), min_size=5, max_size=5), min_size=n, max_size=n),
    st.lists(st.lists(st.booleans(), min_size=5, max_size=5), min_size=n, max_size=n))))
def test_multilabel_metrics_agree_with_sklearn(pair):
    truth, pred = (np.array(p, dtype=bool) for p in pair)
    m = multilabel_metrics(truth, pred, list("abcde"))
    assert m["exact_match"] == pytest.approx(accuracy_score(truth, pred), abs=1e-6)
    assert m["binary_accuracy"] == pytest.approx(1 - hamming_loss(truth, pred), abs=1e-6)
    seen = (truth | pred).any(axis=0)
    if seen.any():
        expected = f1_score(truth[:, seen], pred[:, seen], average="macro", zero_division=0)
        assert m["macro_f1"] == pytest.approx(expected, abs=1e-6)


def test_per_class_thresholds_keep_what_reaches_them_even_on_an_image_without_detections():
    from curate.models.detector import apply_thresholds

    thresholds = {"footwear": {"threshold": 0.8}, "upper-body": {"threshold": 0.3}}
    found = pd.DataFrame({"object_type": pd.Series(["footwear", "footwear", "upper-body", "lower-body"], dtype="str"),
                          "score": np.array([0.9, 0.7, 0.35, 0.45], dtype=np.float32)})
    kept = apply_thresholds(found, thresholds)
    assert kept["score"].tolist() == pytest.approx([0.9, 0.35])  # lower-body falls back to 0.5
    none = apply_thresholds(found.iloc[:0], thresholds)
    assert none.empty and list(none.columns) == ["object_type", "score"]
