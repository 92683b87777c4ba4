"""The tables in FiftyOne's terms: what is mirrored where, row hashes, tags, prepared tables.

Pure pandas: nothing here imports FiftyOne. Every object row is mirrored as a label (boxes in
`ground_truth`, a whole-image label in `category` + `attributes`) carrying the MIRRORED columns;
the row hash over exactly those columns is what the sync compares.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from curate.dataset import BOX_COLUMNS, Dataset
from curate.taxonomy.rules import label_issues

GROUND_TRUTH = "ground_truth"
CATEGORY = "category"
ATTRIBUTES = "attributes"
PREDICTIONS = "predictions"

# Label attributes on every mirrored object (`attributes` is a reserved Detection field, hence
# `other_attributes` for the "key:value" list).
LABEL_ATTRIBUTES = {
    "object_id": "str",
    "object_type": "str",
    "category": "str",
    "pattern": "str",
    "style": "str",
    "other_attributes": "list",
    "source_label": "str",
    "box_origin": "str",
    "box_confidence": "float",
    "review_status": "str",
    "taxonomy_issue": "str",
}
# images.parquet column -> sample field
SAMPLE_FIELDS = {
    "image_id": "image_id",
    "source": "source",
    "brand": "brand",
    "name": "product_title",
    "flat_lay": "flat_lay",
    "split": "split",
    "product_id": "product_id",
    "sha256": "sha256",
    "parent_image_id": "parent_image_id",
}
# Columns the dedup step may add to images.parquet; mirrored and given a view when present.
DUPLICATE_COLUMN = "duplicate_group"
LEAKAGE_COLUMN = "leakage"

ORIGIN_TAGS = ("canny", "sagemaker", "augmented")
AUTO_ORIGINS = ("canny", "predicted")
ACCEPT, REJECT = "accept", "reject"
# The object columns a curator can see and edit in FiftyOne; the row hash covers exactly these.
MIRRORED = ("object_id", "image_id", *BOX_COLUMNS, "object_type", "category", "pattern", "style",
            "attributes", "source_label", "box_origin", "box_confidence", "review_status")
_NULL = "\x00"
_SEP = "\x1f"

DEFAULT_SAGEMAKER_THRESHOLD = 0.8
# source_label of an object a curator drew in FiftyOne (there is no raw source label to keep)
CURATOR_SOURCE_LABEL = "curator"


def _text_column(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values.notna(), _NULL).map(str).astype(object)


def _float32_text(values: pd.Series) -> pd.Series:
    as_float32 = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float32, na_value=np.nan)
    return pd.Series(as_float32.astype(str), index=values.index, dtype=object)


def object_row_hashes(objects: pd.DataFrame, with_status: bool = True) -> pd.Series:
    """A 16-hex-digit hash per object row over the mirrored columns (boxes compared as float32).

    With `with_status=False` the review status is left out: the hash of what a curator edits.
    """
    if objects.empty:
        return pd.Series([], dtype=object, index=objects.index)
    parts = []
    for col in MIRRORED:
        if col == "review_status" and not with_status:
            continue
        if col in BOX_COLUMNS or col == "box_confidence":
            parts.append(_float32_text(objects[col]))
        elif col == "attributes":
            parts.append(objects[col].map(lambda a: _SEP.join(a) if a is not None and len(a) else ""))
        else:
            parts.append(_text_column(objects[col]))
    joined = parts[0].str.cat(parts[1:], sep=_SEP, na_rep=_NULL)
    hashed = pd.util.hash_pandas_object(joined, index=False).to_numpy(dtype=np.uint64)
    return pd.Series([f"{h:016x}" for h in hashed], index=objects.index, dtype=object)


def image_row_hashes(images: pd.DataFrame, object_pairs: pd.Series) -> pd.Series:
    """A hash per image over its mirrored fields and the (object_id:hash) pairs of its objects."""
    cols = [c for c in [*SAMPLE_FIELDS, "path", "width", "height", DUPLICATE_COLUMN, LEAKAGE_COLUMN] if c in images.columns]
    text = _text_column(images[cols[0]]).str.cat([_text_column(images[c]) for c in cols[1:]], sep=_SEP, na_rep=_NULL)
    pairs = images["image_id"].map(object_pairs).map(lambda p: _SEP.join(p) if isinstance(p, list) else "")
    hashed = pd.util.hash_pandas_object(text.str.cat(pairs, sep=_SEP, na_rep=_NULL), index=False).to_numpy(dtype=np.uint64)
    return pd.Series([f"{h:016x}" for h in hashed], index=images.index, dtype=object)


def origin_tags(images: pd.DataFrame, objects: pd.DataFrame) -> pd.Series:
    """Per image: the sorted box-origin tags (canny, sagemaker, augmented) a curator filters by."""
    tagged = objects.loc[objects["box_origin"].isin(ORIGIN_TAGS), ["image_id", "box_origin"]]
    by_image = tagged.drop_duplicates().groupby("image_id")["box_origin"].agg(set)
    augmented = set(images.loc[images["parent_image_id"].notna() | images["augmentation"].notna(), "image_id"])
    return images["image_id"].map(lambda i: sorted(by_image.get(i, set()) | ({"augmented"} if i in augmented else set())))


def as_python(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as plain objects with None for null (pandas may read them as NaN strings)."""
    frame = frame.copy()
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.StringDtype) or frame[col].dtype == object:
            frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame


def default_review_name(dataset: Dataset) -> str:
    return str(dataset.meta.get("name") or dataset.path.name)


def prepare_tables(dataset: Dataset, tax) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Objects with their row hash and taxonomy issue; images with hash and tags."""
    objects = as_python(dataset.objects)
    objects["row_hash"] = object_row_hashes(objects)
    objects["content_hash"] = object_row_hashes(objects, with_status=False)
    objects["taxonomy_issue"] = label_issues(objects, tax)
    objects = objects.sort_values(["image_id", "object_id"], kind="mergesort")
    pairs = (objects["object_id"] + ":" + objects["row_hash"] + ":" + objects["content_hash"]).groupby(objects["image_id"]).agg(list)
    images = as_python(dataset.images)
    images["curate_hash"] = image_row_hashes(images, pairs)
    images["tags"] = origin_tags(images, objects)
    return images, objects, pairs


def label_entries(row: dict) -> list[str]:
    """An object's attribute labels as FiftyOne shows them: pattern:<p>, style:<s>, then its key:value attributes."""
    entries = [f"pattern:{row['pattern']}"] if row.get("pattern") is not None else []
    entries += [f"style:{row['style']}"] if row.get("style") is not None else []
    return entries + list(row["attributes"] if row.get("attributes") is not None else [])


def rows_by_image(objects: pd.DataFrame) -> dict[str, list[dict]]:
    records = objects.to_dict("records")
    grouped: dict[str, list[dict]] = {}
    for row in records:
        grouped.setdefault(row["image_id"], []).append(row)
    return grouped
