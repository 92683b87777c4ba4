"""One rule set on object rows: table problems, review labels and the one-value filter agree."""

import pandas as pd
import pytest

from curate.dataset import objects_frame
from curate.taxonomy import load_taxonomy
from curate.taxonomy.rules import RULES, VALUE_RULES, label_issues, several_values, table_problems, violations


@pytest.fixture(scope="module")
def rows():
    base = {"image_id": "i", "source_label": "x", "object_type": "upper-body", "category": "shirts", "attributes": []}
    cases = {
        "ok": {"style": "formal", "pattern": "floral", "attributes": ["sleeve style:long sleeve"]},
        "unknown-type": {"object_type": "hat-ish", "category": None},
        "unknown-category": {"category": "kilts"},
        "wrong-type": {"object_type": "footwear", "category": "jeans"},
        "unknown-pattern": {"pattern": "plaid-ish"},
        "bad-style": {"style": "bomber"},
        "two-patterns": {"pattern": "floral", "attributes": ["pattern:striped"]},
        "same-pattern-twice": {"pattern": "floral", "attributes": ["pattern:floral"]},
        "two-styles": {"attributes": ["style:formal", "style:oxford"]},
    }
    return objects_frame([{**base, "object_id": name, **values} for name, values in cases.items()])


def test_every_rule_flags_its_own_case_and_nothing_else(rows):
    tax = load_taxonomy()
    found = {(rows["object_id"][v.row], v.rule) for v in violations(rows, tax)}
    assert found == {
        ("unknown-type", "object_type"), ("unknown-category", "category"), ("wrong-type", "category_type"),
        ("unknown-pattern", "pattern"), ("bad-style", "style"), ("two-patterns", "one_pattern"), ("two-styles", "one_style"),
    }
    assert [rule.name for rule in RULES] == [*VALUE_RULES, "one_pattern", "one_style"]


def test_table_problems_name_row_field_and_the_full_message(rows):
    problems = {p.where: p for p in table_problems(rows, load_taxonomy(), "ds/objects.parquet")}
    assert set(problems) == {"row 1 (object_id=unknown-type)", "row 2 (object_id=unknown-category)", "row 3 (object_id=wrong-type)",
                             "row 4 (object_id=unknown-pattern)", "row 5 (object_id=bad-style)"}
    wrong = problems["row 3 (object_id=wrong-type)"]
    assert (wrong.file, wrong.field, wrong.message) == ("ds/objects.parquet", "object_type", "category 'jeans' belongs to lower-body, found 'footwear'")
    assert problems["row 5 (object_id=bad-style)"].message == "style 'bomber' is not allowed for category 'shirts'"


def test_review_labels_use_the_short_wording_of_the_same_rules(rows):
    issues = dict(zip(rows["object_id"], label_issues(rows, load_taxonomy())))
    assert issues["ok"] is None and issues["same-pattern-twice"] is None
    assert issues["unknown-type"] == "unknown object type 'hat-ish'"
    assert issues["wrong-type"] == "category 'jeans' is lower-body, not footwear"
    assert issues["two-styles"] == "more than one style"


def test_several_values_counts_distinct_values_only(rows):
    flagged = dict(zip(rows["object_id"], several_values(rows)))
    assert {k for k, v in flagged.items() if v} == {"two-patterns", "two-styles"}


def test_rules_read_nulls_as_pandas_stores_them():
    frame = pd.DataFrame({"object_id": ["a"], "object_type": [float("nan")], "category": [float("nan")],
                          "pattern": [float("nan")], "style": [float("nan")], "attributes": [[]]})
    assert violations(frame, load_taxonomy()) == []
