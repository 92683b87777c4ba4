"""The taxonomy's rules on object rows: one rule set, used wherever rows are judged.

Each rule flags the rows of an objects table that break it:

- `object_type`   the object type is one of the taxonomy's
- `category`      the category is one of the taxonomy's
- `category_type` the category belongs to the row's object type
- `pattern`       the pattern is in the pattern vocabulary
- `style`         the style is allowed for the category
- `one_pattern`, `one_style`  at most one distinct pattern (style) per object, counting the
  column and the `pattern:` / `style:` entries of the attributes list

Each rule words a violation twice: in full for a table problem (`curate.dataset.validate`
reports the value rules with file, row and field) and briefly for a label in the review App
(`curate.review` shows every rule). De-duplication drops or flags objects that break the
one-value rules (`several_values`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from curate.errors import Problem
from curate.taxonomy.model import PATTERN_KEY, STYLE_KEY, Taxonomy

COLUMNS = ("object_id", "object_type", "category", "pattern", "style", "attributes")


@dataclass(frozen=True)
class Rule:
    name: str
    field: str  # the column a table problem names
    broken: Callable[[pd.DataFrame, Taxonomy | None], np.ndarray]  # rows (bool) that break it
    message: Callable[[dict, Taxonomy | None], str]  # full wording, for table problems
    label: Callable[[dict, Taxonomy | None], str] | None = None  # short wording for a label under review (default: the message)


@dataclass(frozen=True)
class Violation:
    row: int  # position in the table
    rule: str
    field: str
    message: str
    label: str


def _known_category(rows: pd.DataFrame, tax: Taxonomy) -> pd.Series:
    return rows["category"].isin(list(tax.categories))


def _expected_type(row: dict, tax: Taxonomy) -> str:
    return tax.object_type_of(row["category"])


def _category_type_broken(rows: pd.DataFrame, tax: Taxonomy) -> np.ndarray:
    known = _known_category(rows, tax)
    expected = rows["category"].map(lambda c: tax.object_type_of(c) if c in tax.categories else None)
    return (known & (rows["object_type"] != expected)).to_numpy()


def _style_broken(rows: pd.DataFrame, tax: Taxonomy) -> np.ndarray:
    candidates = rows["style"].notna() & _known_category(rows, tax)
    return np.array([c and not tax.allows_style(cat, style) for c, cat, style in zip(candidates, rows["category"], rows["style"])], dtype=bool)


def distinct_values(rows: pd.DataFrame, key: str) -> np.ndarray:
    """Per object, how many distinct values of `key` (pattern or style) it carries: the column's
    value and the values of `key:value` entries in the attributes list."""
    counts = np.zeros(len(rows), dtype=np.int64)
    for i, (value, attributes) in enumerate(zip(rows[key], rows["attributes"])):
        values = set() if value is None else {value}
        for entry in attributes if attributes is not None else ():
            entry_key, _, entry_value = str(entry).partition(":")
            if entry_key == key:
                values.add(entry_value)
        counts[i] = len(values)
    return counts


def _known_values(column: str, vocabulary: Callable[[Taxonomy], Iterable[str]]) -> Rule:
    """The rule that a column's value, where set, is one of the taxonomy's."""
    return Rule(
        column, column,
        lambda rows, tax: (rows[column].notna() & ~rows[column].isin(list(vocabulary(tax)))).to_numpy(),
        lambda row, tax: f"unknown {column.replace('_', ' ')} '{row[column]}'",
    )


RULES: tuple[Rule, ...] = (
    _known_values("object_type", lambda tax: tax.object_types),
    _known_values("category", lambda tax: tax.categories),
    Rule(
        "category_type", "object_type",
        _category_type_broken,
        lambda row, tax: f"category '{row['category']}' belongs to {_expected_type(row, tax)}, found '{row['object_type']}'",
        lambda row, tax: f"category '{row['category']}' is {_expected_type(row, tax)}, not {row['object_type']}",
    ),
    _known_values("pattern", lambda tax: tax.patterns),
    Rule(
        "style", "style",
        _style_broken,
        lambda row, tax: f"style '{row['style']}' is not allowed for category '{row['category']}'",
        lambda row, tax: f"style '{row['style']}' not allowed for '{row['category']}'",
    ),
    *(
        Rule(
            f"one_{key}", "attributes",
            lambda rows, tax, key=key: distinct_values(rows, key) > 1,
            lambda row, tax, key=key: f"more than one {key}",
        )
        for key in (PATTERN_KEY, STYLE_KEY)
    ),
)
RULES_BY_NAME = {rule.name: rule for rule in RULES}
# What a valid table must satisfy; a second pattern or style is a curation question, not an error.
VALUE_RULES = ("object_type", "category", "category_type", "pattern", "style")
ONE_VALUE_RULES = ("one_pattern", "one_style")


def _rows(objects: pd.DataFrame) -> pd.DataFrame:
    """The checked columns, positionally indexed, with None for nulls (pandas may hold NaN)."""
    rows = {}
    for column in COLUMNS:
        values = objects[column].astype(object) if column in objects.columns else pd.Series([None] * len(objects), dtype=object)
        rows[column] = pd.Series(list(values.where(values.notna(), None)), dtype=object)
    return pd.DataFrame(rows, index=range(len(objects)))


def violations(objects: pd.DataFrame, tax: Taxonomy | None, rules: tuple[str, ...] = tuple(RULES_BY_NAME)) -> list[Violation]:
    """Every violation of the named rules, by row position and then in rule order."""
    rows = _rows(objects)
    found: list[Violation] = []
    for name in rules:
        rule = RULES_BY_NAME[name]
        for position in np.flatnonzero(rule.broken(rows, tax)):
            row = rows.iloc[int(position)].to_dict()
            message = rule.message(row, tax)
            found.append(Violation(int(position), name, rule.field, message, rule.label(row, tax) if rule.label else message))
    order = {name: i for i, name in enumerate(RULES_BY_NAME)}
    return sorted(found, key=lambda v: (v.row, order[v.rule]))


def table_problems(objects: pd.DataFrame, tax: Taxonomy, file: str) -> list[Problem]:
    """The value rules as table problems: file, row (with its object_id) and field."""
    ids = objects["object_id"].to_numpy() if "object_id" in objects.columns else [None] * len(objects)
    return [Problem(file, f"row {v.row} (object_id={ids[v.row]})", v.field, v.message) for v in violations(objects, tax, VALUE_RULES)]


def label_issues(objects: pd.DataFrame, tax: Taxonomy) -> pd.Series:
    """Per object, why it breaks the taxonomy in the review App's words ("; "-joined), or None."""
    issues: list[list[str]] = [[] for _ in range(len(objects))]
    for v in violations(objects, tax):
        issues[v.row].append(v.label)
    return pd.Series(["; ".join(i) if i else None for i in issues], index=objects.index, dtype=object)


def several_values(objects: pd.DataFrame) -> pd.Series:
    """True for objects with more than one distinct pattern or more than one distinct style."""
    broken = np.zeros(len(objects), dtype=bool)
    for v in violations(objects, None, ONE_VALUE_RULES):
        broken[v.row] = True
    return pd.Series(broken, index=objects.index)
