"""Which labels are most likely wrong: confident learning over out-of-fold class probabilities.

Confident learning (Northcutt, Jiang and Chuang, "Confident Learning: Estimating Uncertainty in
Dataset Labels", JAIR 2021) compares each example's given label with the classes the model is
confidently sure of, where "confident" uses one threshold per class: the mean predicted
probability of that class over the examples labelled with it. Per-class thresholds matter
because a model is systematically less sure of hard classes (shirt vs t-shirt); one global
cut-off would flag every hard-class example.

The probabilities must be out-of-fold (each example scored by a model that never saw it), else
a model that memorised a wrong label vouches for it. `out_of_fold_probabilities` produces them
by k-fold over the given features.

Boxes are checked the same way against a detector: ground-truth boxes no prediction supports are
likely spurious, confident predictions no ground truth explains are likely missing.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from curate.dataset import BOX_COLUMNS
from curate.errors import CurateError
from curate.geometry import iou_xyxy

FitPredict = Callable[[np.ndarray, np.ndarray, np.ndarray, int], np.ndarray]


def _check_probabilities(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels)
    if probs.ndim != 2 or len(probs) != len(labels):
        raise CurateError(f"expected an (n, classes) probability matrix for {len(labels)} labels, got shape {probs.shape}")
    if len(labels) == 0:
        raise CurateError("no labelled examples to score")
    if labels.min() < 0 or labels.max() >= probs.shape[1]:
        raise CurateError(f"labels must be class indices in 0..{probs.shape[1] - 1}")
    return probs, labels.astype(np.int64)


def per_class_thresholds(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """t_j = mean predicted probability of class j over the examples labelled j.

    A class nobody is labelled with gets threshold 1, so it is never a confident class except
    for an example the model puts entirely on it.
    """
    probs, labels = _check_probabilities(probs, labels)
    n_classes = probs.shape[1]
    sums = np.bincount(labels, weights=probs[np.arange(len(labels)), labels], minlength=n_classes)
    counts = np.bincount(labels, minlength=n_classes)
    return np.where(counts > 0, sums / np.maximum(counts, 1), 1.0)


def confident_classes(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per example, the most probable class among those at or above their threshold (-1: none)."""
    probs, labels = _check_probabilities(probs, labels)
    above = probs >= per_class_thresholds(probs, labels)[None, :]
    masked = np.where(above, probs, -np.inf)
    best = masked.argmax(axis=1)
    return np.where(above.any(axis=1), best, -1)


def confident_joint(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """C[i, j]: how many examples labelled i the model confidently puts in class j."""
    probs, labels = _check_probabilities(probs, labels)
    sure = confident_classes(probs, labels)
    counted = sure >= 0
    joint = np.zeros((probs.shape[1], probs.shape[1]), dtype=np.int64)
    np.add.at(joint, (labels[counted], sure[counted]), 1)
    return joint


def self_confidence(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The predicted probability of the given label (low: likely wrong)."""
    probs, labels = _check_probabilities(probs, labels)
    return probs[np.arange(len(labels)), labels]


def normalised_margin(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(p_given - max p_other + 1) / 2 in 0..1 (low: another class is clearly preferred)."""
    probs, labels = _check_probabilities(probs, labels)
    given = probs[np.arange(len(labels)), labels]
    others = probs.copy()
    others[np.arange(len(labels)), labels] = -np.inf
    return (given - others.max(axis=1) + 1.0) / 2.0


QUALITY_METHODS = {
    "self_confidence": self_confidence,
    "normalised_margin": normalised_margin,
}


def label_issues(probs: np.ndarray, labels: np.ndarray, method: str = "self_confidence") -> pd.DataFrame:
    """Per example: `label_issue_score` (0..1, higher = more likely mislabelled), `label_issue`
    (confident learning says another class is confidently right) and `suggested_label`.

    The score is 1 - label quality (self-confidence by default: it ranked planted flips best on
    Fashion-MNIST, ahead of the normalised margin and of threshold-adjusted probabilities).
    """
    if method not in QUALITY_METHODS:
        raise CurateError(f"unknown label quality method '{method}' (expected one of {', '.join(QUALITY_METHODS)})")
    probs, labels = _check_probabilities(probs, labels)
    quality = QUALITY_METHODS[method](probs, labels)
    sure = confident_classes(probs, labels)
    return pd.DataFrame(
        {
            "label_issue_score": (1.0 - quality).astype(np.float32),
            "label_issue": (sure >= 0) & (sure != labels),
            "suggested_label": np.where(sure >= 0, sure, probs.argmax(axis=1)),
        }
    )


def stratified_folds(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """A fold number per example, each class spread evenly over the folds by a seeded shuffle."""
    labels = np.asarray(labels)
    if folds < 2:
        raise CurateError(f"k-fold needs at least 2 folds, got {folds}")
    if len(labels) < folds:
        raise CurateError(f"{len(labels)} labelled examples cannot be split into {folds} folds")
    rng = np.random.default_rng(seed)
    assignment = np.empty(len(labels), dtype=np.int64)
    offset = 0
    for value in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == value))
        # Continue the round-robin across classes so small classes do not all land in fold 0.
        assignment[members] = (np.arange(len(members)) + offset) % folds
        offset += len(members)
    return assignment


def logistic_fit_predict(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, n_classes: int) -> np.ndarray:
    """Multinomial logistic regression on standardised features: the default fold model.

    Strong regularisation (C=0.005) matters when the features come from a network trained on the
    same noisy labels: a loose fit re-learns the directions in which the network memorised a
    wrong label, and the flipped example then looks right again.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    present = np.unique(train_y)
    probs = np.zeros((len(test_x), n_classes))
    if len(present) == 1:
        probs[:, present[0]] = 1.0
        return probs
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300, C=0.005))
    model.fit(train_x, train_y)
    probs[:, present] = model.predict_proba(test_x)
    return probs


def out_of_fold_probabilities(
    features: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    folds: int = 5,
    seed: int = 0,
    fit_predict: FitPredict = logistic_fit_predict,
    progress: Callable = lambda items, description: items,
) -> np.ndarray:
    """Class probabilities for every example from a model trained on the other folds."""
    labels = np.asarray(labels, dtype=np.int64)
    fold_of = stratified_folds(labels, folds, seed)
    probs = np.zeros((len(labels), n_classes))
    for fold in progress(range(folds), "k-fold"):
        test = fold_of == fold
        probs[test] = fit_predict(features[~test], labels[~test], features[test], n_classes)
    return probs


# ---------------------------------------------------------------------------------------------
# Boxes


def box_disagreements(truth: pd.DataFrame, predicted: pd.DataFrame, iou_match: float = 0.5, min_score: float = 0.5, label: str = "object_type") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Compare ground-truth boxes with a detector's, image by image, within each class.

    `predicted` is the detector's output: image_id, the class column `label` (the detector
    predicts object types), x_min, y_min, x_max, y_max and score. Returns (spurious, missing):
    - spurious: one row per ground-truth box (object_id, image_id, box_spurious_score), the score
      being 1 - the best IoU with any prediction of its class weighted by that prediction's
      score; 1 means no prediction supports the box at all.
    - missing: the predictions with score >= min_score whose best IoU with any ground-truth box of
      their class is below iou_match (image_id, class, box, score, box_missing_score =
      score x (1 - best IoU)), highest first.
    """
    cols = list(BOX_COLUMNS)
    truth = truth[truth[cols].notna().all(axis=1)]
    spurious_rows, missing_rows = [], []
    pred_groups = {key: group for key, group in predicted.groupby(["image_id", label], sort=False)}
    truth_groups = {key: group for key, group in truth.groupby(["image_id", label], sort=False)}
    for key, group in truth_groups.items():
        preds = pred_groups.get(key)
        if preds is None or preds.empty:
            support = np.zeros(len(group))
        else:
            iou = iou_xyxy(group[cols].to_numpy(), preds[cols].to_numpy())
            support = (iou * preds["score"].to_numpy()[None, :]).max(axis=1)
        for object_id, score in zip(group["object_id"], 1.0 - support):
            spurious_rows.append({"object_id": object_id, "image_id": key[0], "box_spurious_score": float(score)})
    for key, preds in pred_groups.items():
        preds = preds[preds["score"] >= min_score]
        if preds.empty:
            continue
        gt = truth_groups.get(key)
        best = iou_xyxy(preds[cols].to_numpy(), gt[cols].to_numpy()).max(axis=1) if gt is not None else np.zeros(len(preds))
        for (_, row), overlap in zip(preds.iterrows(), best):
            if overlap < iou_match:
                missing_rows.append(
                    {"image_id": key[0], label: key[1], **{c: float(row[c]) for c in cols},
                     "score": float(row["score"]), "box_missing_score": float(row["score"] * (1.0 - overlap))}
                )
    spurious = pd.DataFrame(spurious_rows, columns=["object_id", "image_id", "box_spurious_score"])
    missing = pd.DataFrame(missing_rows, columns=["image_id", label, *cols, "score", "box_missing_score"])
    missing = missing.sort_values("box_missing_score", ascending=False, kind="mergesort").reset_index(drop=True)
    return spurious, missing


def precision_at_k(scores: np.ndarray, is_positive: np.ndarray, k: int) -> float:
    """Share of true positives among the k highest scores."""
    if k <= 0:
        return 0.0
    top = np.argsort(-np.asarray(scores), kind="stable")[:k]
    return float(np.asarray(is_positive, dtype=bool)[top].mean())


def auroc(scores: np.ndarray, is_positive: np.ndarray) -> float:
    """Area under the ROC curve by the rank-sum (Mann-Whitney U) formula, ties counted half."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(is_positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise CurateError("AUROC needs at least one positive and one negative example")
    ranks = pd.Series(scores).rank(method="average").to_numpy()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
