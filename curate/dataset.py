"""The dataset on disk: two Parquet tables (the source of truth), provenance, atomic writes.

DATASET/
  dataset.yaml      provenance: name, schema version, taxonomy identity, recipe, sources, counts
  images.parquet    one row per image
  objects.parquet   one row per labelled object (whole-image labels have a null box)
  media/            images the toolkit created
  reports/          JSON, Markdown and PNG reports
  changes.parquet   append-only log of curator edits
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from curate import __version__
from curate.errors import CurateError, Problem

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

_REQUIRED_NON_NULL = {
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
    return _conform(frame, IMAGES_SCHEMA)


def objects_frame(rows: list[dict] | pd.DataFrame) -> pd.DataFrame:
    """A DataFrame with every objects column (missing ones null), in schema order."""
    frame = pd.DataFrame(rows, dtype=object) if len(rows) else empty_table(OBJECTS_SCHEMA)
    if "review_status" not in frame.columns:
        frame["review_status"] = "unreviewed"
    if "attributes" not in frame.columns:
        frame["attributes"] = [[] for _ in range(len(frame))]
    return _conform(frame, OBJECTS_SCHEMA)


def _conform(frame: pd.DataFrame, schema: pa.Schema) -> pd.DataFrame:
    """Add missing schema columns as nulls; put schema columns first, extra columns after."""
    frame = frame.copy()
    for name in schema.names:
        if name not in frame.columns:
            frame[name] = None
    extra = [c for c in frame.columns if c not in schema.names]
    return frame[list(schema.names) + extra].reset_index(drop=True)


def _to_arrow(frame: pd.DataFrame, schema: pa.Schema, file: str) -> pa.Table:
    """Cast with the declared types for schema columns and inferred types for extra columns."""
    frame = _conform(frame, schema)
    fields = list(schema)
    for name in frame.columns[len(schema.names):]:
        inferred = pa.Array.from_pandas(frame[name]).type
        # pandas 3 string columns infer as large_string: store one type whatever the input dtype
        fields.append(pa.field(name, pa.string() if inferred == pa.large_string() else inferred))
    try:
        return pa.Table.from_pandas(frame, schema=pa.schema(fields), preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise CurateError.at(file, f"column types do not match the schema: {exc}") from None


# ---------------------------------------------------------------------------------------------
# Validation: every bad row at once


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
        for col in _REQUIRED_NON_NULL[Path(file).name]:
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
        problems.extend(_taxonomy_problems(objects, taxonomy, obj_file))
    return problems


def _taxonomy_problems(objects: pd.DataFrame, tax, file: str) -> list[Problem]:
    problems: list[Problem] = []
    cols = ["object_id", "object_type", "category", "pattern", "style"]
    clean = objects[cols].astype(object).where(objects[cols].notna(), None)
    for idx, row in enumerate(clean.itertuples(index=False)):
        where = f"row {idx} (object_id={row.object_id})"
        if row.object_type is not None and row.object_type not in tax.object_types:
            problems.append(Problem(file, where, "object_type", f"unknown object type '{row.object_type}'"))
        if row.category is not None:
            if row.category not in tax.categories:
                problems.append(Problem(file, where, "category", f"unknown category '{row.category}'"))
            elif row.object_type != tax.object_type_of(row.category):
                problems.append(Problem(file, where, "object_type", f"category '{row.category}' belongs to {tax.object_type_of(row.category)}, found '{row.object_type}'"))
        if row.pattern is not None and row.pattern not in tax.patterns:
            problems.append(Problem(file, where, "pattern", f"unknown pattern '{row.pattern}'"))
        if row.style is not None and row.category in tax.categories and not tax.allows_style(row.category, row.style):
            problems.append(Problem(file, where, "style", f"style '{row.style}' is not allowed for category '{row.category}'"))
    return problems


# ---------------------------------------------------------------------------------------------
# Reading and writing


@dataclass
class Dataset:
    """A dataset directory loaded into memory."""

    path: Path
    images: pd.DataFrame
    objects: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def media_dir(self) -> Path:
        return self.path / "media"

    @property
    def reports_dir(self) -> Path:
        return self.path / "reports"

    def image_path(self, relative_or_absolute: str) -> Path:
        p = Path(relative_or_absolute)
        return p if p.is_absolute() else self.path / p

    def changes(self) -> pd.DataFrame:
        path = self.path / CHANGES_FILE
        return pq.read_table(path).to_pandas() if path.exists() else empty_table(CHANGES_SCHEMA)


def read_dataset(path: str | Path) -> Dataset:
    path = Path(path)
    if not (path / IMAGES_FILE).exists() or not (path / OBJECTS_FILE).exists():
        raise CurateError.at(path, f"not a dataset: expected {IMAGES_FILE} and {OBJECTS_FILE} in this directory")
    try:
        images = pq.read_table(path / IMAGES_FILE).to_pandas()
        objects = pq.read_table(path / OBJECTS_FILE).to_pandas()
    except (pa.ArrowInvalid, OSError) as exc:
        raise CurateError.at(path, f"cannot read the dataset tables: {exc}") from None
    objects["attributes"] = [list(a) if a is not None else [] for a in objects["attributes"]]
    meta = yaml.safe_load((path / META_FILE).read_text()) if (path / META_FILE).exists() else {}
    return Dataset(path, images, objects, meta or {})


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys, kind="mergesort").reset_index(drop=True)


def write_parquet_atomic(table: pa.Table, target: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text_atomic(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def value_counts(frame: pd.DataFrame, col: str) -> dict[str, int]:
    """Counts of each value of one column, nulls as '(none)', sorted by value."""
    values = frame[col].astype(object).where(frame[col].notna(), "(none)").astype(str)
    return {k: int(v) for k, v in values.value_counts().sort_index().items()}


def counts(images: pd.DataFrame, objects: pd.DataFrame) -> dict[str, Any]:
    return {
        "images": int(len(images)),
        "objects": int(len(objects)),
        "boxes": int(objects["x_min"].notna().sum()),
        "object_type": value_counts(objects, "object_type"),
        "category": value_counts(objects, "category"),
        "split": value_counts(images, "split"),
        "source": value_counts(images, "source"),
    }


def save_tables(
    path: str | Path,
    images: pd.DataFrame,
    objects: pd.DataFrame,
    meta: dict[str, Any] | None = None,
    taxonomy=None,
) -> None:
    """Validate, then write both tables and dataset.yaml, each file atomically.

    Rows are sorted by id, so the same content always gives byte-identical Parquet. Nothing is
    written when validation fails.
    """
    path = Path(path)
    problems = validate_tables(images, objects, taxonomy, root=str(path))
    if problems:
        raise CurateError.from_problems(problems)
    images_table = _to_arrow(_sorted(images, ["image_id"]), IMAGES_SCHEMA, str(path / IMAGES_FILE))
    objects_table = _to_arrow(_sorted(objects, ["image_id", "object_id"]), OBJECTS_SCHEMA, str(path / OBJECTS_FILE))
    path.mkdir(parents=True, exist_ok=True)
    meta = dict(meta or {})
    meta.setdefault("name", path.name)
    meta["schema_version"] = SCHEMA_VERSION
    meta["tool_version"] = __version__
    if taxonomy is not None:
        meta["taxonomy"] = taxonomy.identity()
    meta["counts"] = counts(images, objects)
    meta.setdefault("created_at", _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat())
    write_parquet_atomic(images_table, path / IMAGES_FILE)
    write_parquet_atomic(objects_table, path / OBJECTS_FILE)
    write_text_atomic(path / META_FILE, yaml.safe_dump(meta, sort_keys=False, allow_unicode=True))


def save_dataset(dataset: Dataset, taxonomy=None) -> None:
    save_tables(dataset.path, dataset.images, dataset.objects, dataset.meta, taxonomy)


def append_changes(path: str | Path, changes: pd.DataFrame) -> None:
    """Append rows to changes.parquet (rewritten atomically with old + new rows)."""
    path = Path(path)
    old = Dataset(path, empty_table(IMAGES_SCHEMA), empty_table(OBJECTS_SCHEMA)).changes()
    merged = pd.concat([old, changes[list(CHANGES_SCHEMA.names)]], ignore_index=True) if len(old) else changes
    write_parquet_atomic(pa.Table.from_pandas(merged[list(CHANGES_SCHEMA.names)], schema=CHANGES_SCHEMA, preserve_index=False), path / CHANGES_FILE)


@contextmanager
def staged_dataset(target: str | Path) -> Iterator[Path]:
    """Build a whole new dataset in a staging directory, then swap it in.

    If the block raises, the staging directory is removed and whatever was at `target` stays
    exactly as it was. On success an existing dataset at `target` is replaced as a whole.
    """
    target = Path(target).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    stage.chmod(0o777 & ~umask)  # mkdtemp makes 0700; a dataset directory gets normal permissions
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    backup = None
    if target.exists():
        backup = target.with_name(f".{target.name}.previous-{os.getpid()}")
        os.replace(target, backup)
    os.replace(stage, target)
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


def summary(dataset: Dataset) -> dict[str, dict[str, int]]:
    """Counts by object type, category, pattern, style, split and source (for `curate info`)."""
    objects, images = dataset.objects, dataset.images
    return {
        "object type": value_counts(objects, "object_type"),
        "category": value_counts(objects, "category"),
        "pattern": value_counts(objects, "pattern"),
        "style": value_counts(objects, "style"),
        "split": value_counts(images, "split"),
        "source": value_counts(images, "source"),
    }
