"""Taxonomy-constrained attribute decoding and the predictor's post-processing rules."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.errors import CurateError
from curate.models.postprocess import ALL_RULES, apply_rules, bare_legs, boxes_xyxy, consistent_category, hand_as_footwear, parse_rules
from curate.models.tagger import decode_attributes, multi_hot, object_labels, split_label
from curate.taxonomy import load_taxonomy

TAX = load_taxonomy()
VOCABULARY = sorted(
    [f"pattern:{p}" for p in TAX.patterns]
    + [f"style:{s}" for s in TAX.styles]
    + [f"{key}:{value}" for key, spec in TAX.attributes.items() for value in spec.values]
)
CATEGORIES = sorted(TAX.categories)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(0, 1), min_size=len(VOCABULARY), max_size=len(VOCABULARY)),
    st.sampled_from(CATEGORIES + [None]),
    st.floats(0.05, 0.95),
)
def test_decoder_never_breaks_the_taxonomy(probs, category, threshold):
    decoded = decode_attributes(np.array(probs), VOCABULARY, category, TAX, threshold)
    keys = [split_label(label)[0] for label in decoded["labels"]]
    assert len(keys) == len(set(keys)), "at most one value per key (one pattern, one style)"
    assert keys.count("pattern") <= 1 and keys.count("style") <= 1
    if decoded["style"] is not None:
        assert TAX.allows_style(category, decoded["style"])
    object_type = TAX.object_type_of(category) if category else None
    for label in decoded["attributes"]:
        key, _ = split_label(label)
        assert TAX.attribute_applies(key, category, object_type)
    for label, score in decoded["scores"].items():
        assert score >= threshold
        # the emitted value is the best allowed one of its key
        key = split_label(label)[0]
        rivals = [probs[i] for i, other in enumerate(VOCABULARY) if split_label(other)[0] == key and other in decoded["labels"]]
        assert score == pytest.approx(max(rivals), abs=1e-6)


def test_decoder_by_hand():
    vocab = ["pattern:floral", "pattern:striped", "style:polo", "style:a-line", "style:parka", "sleeve style:long sleeve", "leg style:skinny", "fit:slim fit"]
    probs = np.array([0.7, 0.8, 0.9, 0.95, 0.3, 0.6, 0.99, 0.4])
    # t-shirts allow polo but not a-line (more likely) or parka; leg style does not apply to tops.
    out = decode_attributes(probs, vocab, "t-shirts", TAX, 0.5)
    assert out["pattern"] == "striped"
    assert out["style"] == "polo"
    assert out["attributes"] == ["sleeve style:long sleeve"]
    assert out["labels"] == ["pattern:striped", "style:polo", "sleeve style:long sleeve"]
    # For a skirt a-line is allowed; leg style applies to lower-body, sleeve style does not.
    skirt = decode_attributes(probs, vocab, "skirts", TAX, 0.5)
    assert skirt["style"] == "a-line"
    assert skirt["attributes"] == ["leg style:skinny"]
    # No category predicted: no style can be justified.
    assert decode_attributes(probs, vocab, None, TAX, 0.5)["style"] is None


def test_object_labels_and_multi_hot():
    labels = object_labels("striped", "polo", ["sleeve style:long sleeve"])
    assert labels == ["pattern:striped", "style:polo", "sleeve style:long sleeve"]
    assert object_labels(None, None, None) == []
    hot = multi_hot([labels, ["pattern:striped", "unknown:x"]], ["pattern:striped", "style:polo", "sleeve style:long sleeve"])
    assert hot.tolist() == [[1, 1, 1], [1, 0, 0]]


def planted(rows):
    return pd.DataFrame(rows, columns=["object_type", "score", "x_min", "y_min", "x_max", "y_max"])


def test_hand_as_footwear_rule_on_planted_boxes():
    frame = planted([
        ("upper-body", 0.9, 0.30, 0.10, 0.70, 0.45),
        ("footwear", 0.8, 0.30, 0.85, 0.40, 0.95),  # at the feet: kept
        ("footwear", 0.7, 0.45, 0.45, 0.55, 0.55),  # middle of the picture: a hand
        ("footwear", 0.6, 0.65, 0.25, 0.75, 0.32),  # overlapping the top, not in the middle: a hand
        ("footwear", 0.6, 0.05, 0.20, 0.12, 0.28),  # high up but away from the top: kept
    ])
    assert hand_as_footwear(frame["object_type"].to_numpy(), boxes_xyxy(frame)).tolist() == [False, False, True, True, False]


def test_bare_legs_rule_keeps_the_smaller_of_overlapping_lower_body_boxes():
    frame = planted([
        ("lower-body", 0.9, 0.30, 0.50, 0.70, 0.95),  # shorts + bare legs: dropped
        ("lower-body", 0.8, 0.30, 0.50, 0.70, 0.65),  # the shorts: kept
        ("lower-body", 0.7, 0.80, 0.10, 0.95, 0.30),  # elsewhere, no overlap: kept
        ("upper-body", 0.9, 0.30, 0.50, 0.70, 0.95),  # other types are never touched
    ])
    assert bare_legs(frame["object_type"].to_numpy(), boxes_xyxy(frame)).tolist() == [True, False, False, False]


def test_rules_are_switchable_and_counted():
    frame = planted([
        ("lower-body", 0.9, 0.30, 0.50, 0.70, 0.95),
        ("lower-body", 0.8, 0.30, 0.50, 0.70, 0.65),
        ("footwear", 0.7, 0.45, 0.45, 0.55, 0.55),
    ])
    kept, removed = apply_rules(frame, parse_rules("all"))
    assert len(kept) == 1 and [r["rule"] for r in removed] == ["hand_as_footwear", "bare_legs"]
    kept, removed = apply_rules(frame, parse_rules("bare_legs"))
    assert len(kept) == 2 and [r["rule"] for r in removed] == ["bare_legs"]
    kept, removed = apply_rules(frame, parse_rules("none"))
    assert len(kept) == 3 and removed == []
    with pytest.raises(CurateError, match="unknown rule"):
        parse_rules("hands")


def test_model_modules_import_without_keras_or_tensorflow():
    import subprocess
    import sys

    code = (
        "import sys, curate.models.data, curate.models.detector, curate.models.classifier, curate.models.tagger, "
        "curate.models.evaluate, curate.models.predictor, curate.models.stages, curate.cli.main;"
        "print(','.join(m for m in ('tensorflow', 'keras', 'keras_hub', 'jax', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_category_is_resolved_within_the_detected_object_type():
    types = {"boots": "footwear", "trainers": "footwear", "dresses": "full-body", "shirts": "upper-body"}
    names = ["boots", "dresses", "shirts", "trainers"]
    rules = list(ALL_RULES)
    # agreement: nothing to resolve
    assert consistent_category("footwear", names, np.array([0.7, 0.1, 0.1, 0.1]), types, rules) == ("footwear", 0, None)
    # a confident category corrects the type
    assert consistent_category("full-body", names, np.array([0.95, 0.03, 0.01, 0.01]), types, rules) == ("footwear", 0, "type_from_category")
    # an unsure one is decoded among the detected type's categories
    assert consistent_category("full-body", names, np.array([0.6, 0.3, 0.05, 0.05]), types, rules) == ("full-body", 1, "category_within_type")
    # the detected type has no category the model knows: no category
    assert consistent_category("lower-body", names, np.array([0.6, 0.3, 0.05, 0.05]), types, rules) == ("lower-body", None, "category_within_type")
    # rules switched off: the classifier's best stands, inconsistent or not
    assert consistent_category("full-body", names, np.array([0.6, 0.3, 0.05, 0.05]), types, []) == ("full-body", 0, None)
    assert consistent_category("full-body", names, np.array([0.95, 0.03, 0.01, 0.01]), types, ["category_within_type"]) == ("full-body", 1, "category_within_type")
