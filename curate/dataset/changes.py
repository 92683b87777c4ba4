"""Rows of changes.parquet, the append-only log of curator edits.

One row per changed field of an object (`field` is the column, `before` / `after` its values as
text), or one row for a whole object created (`field` "object", `before` null, `after` the row as
JSON) or deleted (`after` null). The review sync and the box import both write these rows.
"""

from __future__ import annotations

import json
from typing import Iterable

import numpy as np
import pandas as pd

OBJECT_FIELD = "object"


def format_value(value) -> str | None:
    """A cell as change-log text: null for None/NaN, floats as float32, lists as JSON."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (float, np.floating)):
        return str(np.float32(value))
    if isinstance(value, (list, tuple, np.ndarray)):
        return json.dumps(list(value))
    return str(value)


def object_json(row: pd.Series | dict, columns: Iterable[str]) -> str:
    """One object's columns as a JSON object of change-log texts."""
    return json.dumps({c: format_value(row[c]) for c in columns})
