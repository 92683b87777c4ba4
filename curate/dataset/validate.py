"""Whole-table validation: both tables against the schema and each other, every bad row at once.

With a taxonomy, the object rows are also checked against its rules (curate.taxonomy.rules).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from curate.dataset.schema import (
    BOX_COLUMNS,
    BOX_ORIGINS,
    IMAGES_FILE,
    IMAGES_SCHEMA,
    OBJECTS_FILE,
    OBJECTS_SCHEMA,
    REQUIRED_NON_NULL,
    REVIEW_STATUSES,
    SPLITS,
)
from curate.errors import Problem
from curate.taxonomy.rules import table_problems


def validate_tables(images: pd.DataFrame, objects: pd.DataFrame, taxonomy=None, root: str = "dataset") -> list[Problem]:
    """Check both tables against the schema and each other; return every problem found."""
    problems: list[Problem] = []
    img_file = f"{root}/{IMAGES_FILE}"
    obj_file = f"{root}/{OBJECTS_FILE}"

    def report(file: str, frame: pd.DataFrame, mask: pd.Series | np.ndarray, field_name: str, message: str, id_col: str) -> None:
        mask = np.asarray(mask, dtype=bool)
        for idx in np.flatnonzero(mask):
            ident = frame[id_col].iloc[idx] if id_col in frame.columns else None
            problems.append(Problem(file, f"row {idx} ({id_col}={ident})", field_name, message))

    for file, frame, schema, id_col in (
        (img_file, images, IMAGES_SCHEMA, "image_id"),
        (obj_file, objects, OBJECTS_SCHEMA, "object_id"),
    ):
        missing = [c for c in schema.names if c not in frame.columns]
        if missing:
            problems.append(Problem(file, None, ", ".join(missing), "missing columns"))
            continue
        for col in REQUIRED_NON_NULL[Path(file).name]:
            report(file, frame, frame[col].isna(), col, "must not be empty", id_col)
        dup = frame[id_col].duplicated(keep="first") & frame[id_col].notna()
        report(file, frame, dup, id_col, "duplicate id", id_col)
    if problems:
        return problems

    for col in ("width", "height"):
        values = pd.to_numeric(images[col], errors="coerce")
        report(img_file, images, images[col].notna() & ~(values > 0), col, "expected a positive integer", "image_id")
    report(img_file, images, images["split"].notna() & ~images["split"].isin(SPLITS), "split", f"expected one of {', '.join(SPLITS)}", "image_id")

    boxes = objects[list(BOX_COLUMNS)].apply(pd.to_numeric, errors="coerce")
    null_count = boxes.isna().sum(axis=1)
    report(obj_file, objects, (null_count > 0) & (null_count < 4), "box", "box coordinates must be all set or all null", "object_id")
    has_box = null_count == 0
    in_range = ((boxes >= 0) & (boxes <= 1)).all(axis=1)
    report(obj_file, objects, has_box & ~in_range, "box", "coordinates must be relative, within 0..1", "object_id")
    ordered = (boxes["x_min"] < boxes["x_max"]) & (boxes["y_min"] < boxes["y_max"])
    report(obj_file, objects, has_box & in_range & ~ordered, "box", "expected x_min < x_max and y_min < y_max", "object_id")
    report(obj_file, objects, ~objects["image_id"].isin(images["image_id"]), "image_id", "refers to no image in images.parquet", "object_id")
    report(obj_file, objects, objects["box_origin"].notna() & ~objects["box_origin"].isin(BOX_ORIGINS), "box_origin", f"expected one of {', '.join(BOX_ORIGINS)}", "object_id")
    report(obj_file, objects, ~objects["review_status"].isin(REVIEW_STATUSES), "review_status", f"expected one of {', '.join(REVIEW_STATUSES)}", "object_id")
    conf = pd.to_numeric(objects["box_confidence"], errors="coerce")
    report(obj_file, objects, objects["box_confidence"].notna() & ~conf.between(0, 1), "box_confidence", "expected a value in 0..1", "object_id")

    if taxonomy is not None:
        problems.extend(table_problems(objects, taxonomy, obj_file))
    return problems
