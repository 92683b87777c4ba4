"""The dataset on disk: read and write the tables and dataset.yaml, atomically.

Every file is written to a temporary name and renamed into place, and a whole new dataset is
built in a staging directory and swapped in (`staged_dataset`), so a failed or interrupted step
leaves the previous dataset as it was. Rows are sorted by id before writing, so the same
content always gives byte-identical Parquet.

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
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from curate import __version__
from curate.dataset.schema import (
    CHANGES_FILE,
    CHANGES_SCHEMA,
    IMAGES_FILE,
    IMAGES_SCHEMA,
    META_FILE,
    OBJECTS_FILE,
    OBJECTS_SCHEMA,
    SCHEMA_VERSION,
    conform_frame,
    empty_table,
)
from curate.dataset.validate import validate_tables
from curate.errors import CurateError


def _to_arrow(frame: pd.DataFrame, schema: pa.Schema, file: str) -> pa.Table:
    """Cast with the declared types for schema columns and inferred types for extra columns."""
    frame = conform_frame(frame, schema)
    fields = list(schema)
    for name in frame.columns[len(schema.names):]:
        inferred = pa.Array.from_pandas(frame[name]).type
        # pandas 3 string columns infer as large_string: store one type whatever the input dtype
        fields.append(pa.field(name, pa.string() if inferred == pa.large_string() else inferred))
    try:
        return pa.Table.from_pandas(frame, schema=pa.schema(fields), preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise CurateError.at(file, f"column types do not match the schema: {exc}") from None


@dataclass
class Dataset:
    """A dataset directory loaded into memory."""

    path: Path
    images: pd.DataFrame
    objects: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def reports_dir(self) -> Path:
        return self.path / "reports"

    def image_path(self, relative_or_absolute: str) -> Path:
        """An image's path: relative paths are relative to the dataset directory."""
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


def is_url(path: str) -> bool:
    return "://" in path


def image_paths(images: pd.DataFrame, root: Path) -> list[str]:
    """Absolute paths of the images (relative paths are relative to `root`, the dataset
    directory; URLs stay URLs)."""
    return [p if os.path.isabs(p) or is_url(p) else str(root / p) for p in images["path"].astype(str)]
