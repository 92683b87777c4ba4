import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import roc_auc_score

from curate.errors import CurateError
from curate.geometry import iou_xyxy
from curate.intel.label_noise import (
    auroc,
    box_disagreements,
    confident_joint,
    label_issues,
    out_of_fold_probabilities,
    per_class_thresholds,
    precision_at_k,
    stratified_folds,
)


def probability_matrices():
    return st.integers(2, 6).flatmap(
        lambda c: st.tuples(
            arrays(np.float64, st.tuples(st.integers(c, 40), st.just(c)), elements=st.floats(0.001, 1)),
            st.just(c),
            st.integers(0, 2**16),
        )
    )


@settings(max_examples=60, deadline=None)
@given(probability_matrices())
def test_scores_are_probabilities_and_the_joint_counts_confident_examples(case):
    raw, classes, seed = case
    probs = raw / raw.sum(axis=1, keepdims=True)
    labels = np.random.default_rng(seed).integers(0, classes, len(probs))
    issues = label_issues(probs, labels)
    assert issues["label_issue_score"].between(0, 1).all()
    np.testing.assert_allclose(issues["label_issue_score"], 1 - probs[np.arange(len(labels)), labels], atol=1e-6)
    thresholds = per_class_thresholds(probs, labels)
    assert ((thresholds >= 0) & (thresholds <= 1)).all()
    joint = confident_joint(probs, labels)
    # Every labelled example lands in the joint at most once, and only in its own label's row.
    assert joint.sum() <= len(labels)
    assert (joint.sum(axis=1) <= np.bincount(labels, minlength=classes)).all()
    # An example is an issue exactly when its confident class is off the diagonal.
    assert issues["label_issue"].sum() == joint.sum() - np.trace(joint)


def test_confident_learning_uses_per_class_thresholds():
    # Class 1 is "hard": its own examples only get 0.4. An example labelled 0 with p1 = 0.45 is
    # confidently class 1 (above t1 = 0.4) even though 0.45 < 0.5.
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.55, 0.45], [0.6, 0.4], [0.6, 0.4]])
    labels = np.array([0, 0, 0, 1, 1])
    np.testing.assert_allclose(per_class_thresholds(probs, labels), [(0.9 + 0.9 + 0.55) / 3, 0.4])
    issues = label_issues(probs, labels)
    assert issues["label_issue"].tolist() == [False, False, True, False, False]
    assert issues["suggested_label"].tolist()[2] == 1


def test_perfect_probabilities_flag_nothing_and_bad_shapes_are_errors():
    labels = np.array([0, 1, 2, 1])
    assert not label_issues(np.eye(3)[labels], labels)["label_issue"].any()
    with pytest.raises(CurateError, match="class indices in 0..2"):
        label_issues(np.eye(3)[labels], np.array([0, 1, 3, 1]))
    with pytest.raises(CurateError, match="no labelled examples"):
        label_issues(np.zeros((0, 3)), np.zeros(0, dtype=int))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=2, max_size=50), st.integers(0, 2**16))
def test_auroc_matches_scikit_learn(scores, seed):
    positive = np.random.default_rng(seed).random(len(scores)) < 0.4
    if positive.all() or not positive.any():
        positive[0] = not positive[0]
    assert auroc(np.array(scores), positive) == pytest.approx(roc_auc_score(positive, scores))


def test_precision_at_k():
    assert precision_at_k(np.array([0.9, 0.1, 0.8, 0.3]), np.array([1, 0, 0, 1]), 2) == 0.5


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=6, max_size=80), st.integers(2, 5), st.integers(0, 100))
def test_stratified_folds_spread_each_class_evenly(labels, folds, seed):
    labels = np.array(labels)
    if len(labels) < folds:
        return
    fold_of = stratified_folds(labels, folds, seed)
    for value in np.unique(labels):
        sizes = np.bincount(fold_of[labels == value], minlength=folds)
        assert sizes.max() - sizes.min() <= 1


def test_out_of_fold_probabilities_recover_planted_flips_on_separable_clusters():
    rng = np.random.default_rng(0)
    classes, per_class = 6, 120
    truth = np.repeat(np.arange(classes), per_class)
    features = rng.standard_normal((classes, 16))[truth] * 3 + rng.standard_normal((len(truth), 16))
    noisy = truth.copy()
    flipped = rng.choice(len(truth), 36, replace=False)
    noisy[flipped] = (truth[flipped] + rng.integers(1, classes, 36)) % classes
    probs = out_of_fold_probabilities(features, noisy, classes, folds=4, seed=0)
    scores = label_issues(probs, noisy)["label_issue_score"].to_numpy()
    is_flipped = np.isin(np.arange(len(truth)), flipped)
    assert precision_at_k(scores, is_flipped, 36) >= 0.9
    assert auroc(scores, is_flipped) >= 0.98


def test_box_iou_and_disagreements():
    assert iou_xyxy([[0, 0, 0.5, 0.5]], [[0.25, 0, 0.75, 0.5]])[0, 0] == pytest.approx(1 / 3)
    truth = pd.DataFrame(
        {"object_id": ["a", "b", "c"], "image_id": ["i1", "i1", "i2"], "object_type": ["full-body", "footwear", "full-body"],
         "x_min": [0.1, 0.6, 0.1], "y_min": [0.1, 0.6, 0.1], "x_max": [0.5, 0.9, 0.5], "y_max": [0.5, 0.9, 0.5]}
    )
    predicted = pd.DataFrame(
        {"image_id": ["i1", "i1", "i2"], "object_type": ["full-body", "full-body", "footwear"],
         "x_min": [0.1, 0.6, 0.5], "y_min": [0.1, 0.1, 0.5], "x_max": [0.5, 0.95, 0.9], "y_max": [0.5, 0.4, 0.9],
         "score": [0.9, 0.8, 0.3]}
    )
    spurious, missing = box_disagreements(truth, predicted)
    score = dict(zip(spurious["object_id"], spurious["box_spurious_score"]))
    assert score["a"] == pytest.approx(0.1)  # matched exactly by a 0.9-confidence prediction
    assert score["b"] == 1.0 and score["c"] == 1.0  # no boots predicted in i1; no dresses in i2
    # The confident dress on the right of i1 has no ground truth; the 0.3 boots in i2 is too unsure.
    assert missing[["image_id", "object_type"]].values.tolist() == [["i1", "full-body"]]
    assert missing["box_missing_score"].iloc[0] == pytest.approx(0.8)
