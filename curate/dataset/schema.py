"""The two tables' schema: file names, columns and Arrow types, vocabularies, stable ids, and
frames that hold every schema column.

images.parquet: one row per image; objects.parquet: one row per labelled object (whole-image
labels have a null box); changes.parquet: the append-only log of curator edits. Extra columns
are allowed and kept after the schema's own.
"""

from __future__ import annotations

import hashlib

import pandas as pd
import pyarrow as pa

SCHEMA_VERSION = 1

IMAGES_FILE = "images.parquet"
OBJECTS_FILE = "objects.parquet"
CHANGES_FILE = "changes.parquet"
META_FILE = "dataset.yaml"

SPLITS = ("train", "val", "test", "gold")
BOX_ORIGINS = ("manual", "canny", "sagemaker", "augmented", "predicted", "source")
REVIEW_STATUSES = ("unreviewed", "accepted", "rejected", "edited")
BOX_COLUMNS = ("x_min", "y_min", "x_max", "y_max")

IMAGES_SCHEMA = pa.schema(
    [
        ("image_id", pa.string()),
        ("path", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("sha256", pa.string()),
        ("phash", pa.string()),
        ("source", pa.string()),
        ("source_id", pa.string()),
        ("product_id", pa.string()),
        ("brand", pa.string()),
        ("name", pa.string()),
        ("flat_lay", pa.bool_()),
        ("split", pa.string()),
        ("parent_image_id", pa.string()),
        ("augmentation", pa.string()),
    ]
)

OBJECTS_SCHEMA = pa.schema(
    [
        ("object_id", pa.string()),
        ("image_id", pa.string()),
        ("x_min", pa.float32()),
        ("y_min", pa.float32()),
        ("x_max", pa.float32()),
        ("y_max", pa.float32()),
        ("object_type", pa.string()),
        ("category", pa.string()),
        ("pattern", pa.string()),
        ("style", pa.string()),
        ("attributes", pa.list_(pa.string())),
        ("source_label", pa.string()),
        ("box_origin", pa.string()),
        ("box_confidence", pa.float32()),
        ("review_status", pa.string()),
    ]
)

CHANGES_SCHEMA = pa.schema(
    [
        ("object_id", pa.string()),
        ("image_id", pa.string()),
        ("field", pa.string()),
        ("before", pa.string()),
        ("after", pa.string()),
        ("when", pa.timestamp("us", tz="UTC")),
    ]
)

REQUIRED_NON_NULL = {
    IMAGES_FILE: ("image_id", "path", "source", "source_id"),
    OBJECTS_FILE: ("object_id", "image_id", "source_label", "review_status"),
}


def stable_id(*parts: object) -> str:
    """A short stable hash of the parts, e.g. image_id = stable_id(source, source_id)."""
    return hashlib.sha1("\x1f".join(map(str, parts)).encode("utf-8")).hexdigest()[:16]


def empty_table(schema: pa.Schema) -> pd.DataFrame:
    return schema.empty_table().to_pandas()


def images_frame(rows: list[dict] | pd.DataFrame) -> pd.DataFrame:
    """A DataFrame with every images column (missing ones null), in schema order."""
    frame = pd.DataFrame(rows, dtype=object) if len(rows) else empty_table(IMAGES_SCHEMA)
    return conform_frame(frame, IMAGES_SCHEMA)


def objects_frame(rows: list[dict] | pd.DataFrame) -> pd.DataFrame:
    """A DataFrame with every objects column (missing ones null), in schema order."""
    frame = pd.DataFrame(rows, dtype=object) if len(rows) else empty_table(OBJECTS_SCHEMA)
    if "review_status" not in frame.columns:
        frame["review_status"] = "unreviewed"
    if "attributes" not in frame.columns:
        frame["attributes"] = [[] for _ in range(len(frame))]
    return conform_frame(frame, OBJECTS_SCHEMA)


def conform_frame(frame: pd.DataFrame, schema: pa.Schema) -> pd.DataFrame:
    """Add missing schema columns as nulls; put schema columns first, extra columns after."""
    frame = frame.copy()
    for name in schema.names:
        if name not in frame.columns:
            frame[name] = None
    extra = [c for c in frame.columns if c not in schema.names]
    return frame[list(schema.names) + extra].reset_index(drop=True)
