"""The dataset on disk: read and write the tables and dataset.yaml.

Every write builds a whole new generation of the dataset and makes it current with one rename,
under the dataset's lock (curate.dataset.generations, curate.dataset.lock), so a failed or
killed step leaves the previous dataset as it was, and two writers never lose each other's
work. Rows are sorted by id before writing, so the same content always gives byte-identical
Parquet. Reading goes through `read_dataset`, which follows the `current` link once and checks
the tables' columns and types and dataset.yaml before anything uses them.

DATASET/                (each entry a link into the current generation)
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
from curate.dataset.generations import Stage, carry_entries, remove_path, write_generation
from curate.dataset.layout import CURRENT, LINK_PREFIX, Snapshot, absolute, current_snapshot, not_a_dataset
from curate.dataset.validate import validate_tables
from curate.errors import CurateError, display


def _to_arrow(frame: pd.DataFrame, schema: pa.Schema, file: str) -> pa.Table:
    """Cast with the declared types for schema columns and inferred types for extra columns."""
    frame = conform_frame(frame, schema)
    for column in schema:
        if pa.types.is_list(column.type):
            # pandas gives an empty or all-null list column a float dtype, which Arrow cannot cast
            frame[column.name] = pd.Series([list(v) if isinstance(v, (list, tuple, np.ndarray)) else [] for v in frame[column.name]], index=frame.index, dtype=object)
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
    """A dataset directory loaded into memory: `generation` is the one read (root holds its files)."""

    path: Path
    images: pd.DataFrame
    objects: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)
    generation: int | None = None
    root: Path | None = None

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
    """The current generation's tables and dataset.yaml, checked before use."""
    path = Path(path)
    for attempt in range(3):
        snapshot = current_snapshot(path)
        if snapshot is None:
            raise not_a_dataset(path)
        try:
            return _read_snapshot(path, snapshot)
        except FileNotFoundError as exc:
            if attempt == 2 or current_snapshot(path) == snapshot:
                missing = Path(exc.filename).name if exc.filename else "a table"
                raise CurateError.at(path / missing, "missing: the dataset's current generation has no such file") from None
            # a writer made another generation current and removed this one meanwhile: read that one
    raise AssertionError("unreachable")


def _read_snapshot(path: Path, snapshot: Snapshot) -> Dataset:
    images = read_table(snapshot.root / IMAGES_FILE, IMAGES_SCHEMA, path / IMAGES_FILE)
    objects = read_table(snapshot.root / OBJECTS_FILE, OBJECTS_SCHEMA, path / OBJECTS_FILE)
    objects["attributes"] = [list(a) if a is not None else [] for a in objects["attributes"]]
    meta = read_meta(snapshot.root / META_FILE, path / META_FILE)
    return Dataset(path, images, objects, meta, snapshot.generation, snapshot.root)


def _compatible(found: pa.DataType, expected: pa.DataType) -> bool:
    """Types a table may hold for a schema column (what pandas and other writers produce)."""
    if found == expected or pa.types.is_null(found):
        return True
    for check in (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean, pa.types.is_timestamp):
        if check(expected):
            return check(found) or (pa.types.is_floating(expected) and pa.types.is_integer(found))
    if pa.types.is_string(expected) or pa.types.is_large_string(expected):
        return pa.types.is_string(found) or pa.types.is_large_string(found)
    if pa.types.is_list(expected):
        return (pa.types.is_list(found) or pa.types.is_large_list(found)) and _compatible(found.value_type, expected.value_type)
    return False


def read_table(file: Path, schema: pa.Schema, shown: Path) -> pd.DataFrame:
    """A table with every schema column of a usable type; CurateError naming the column otherwise."""
    if not file.exists():
        raise FileNotFoundError(2, "no such file", str(file))
    try:
        table = pq.read_table(file)
    except (pa.ArrowInvalid, OSError) as exc:
        raise CurateError.at(shown, f"not a readable Parquet table: {exc}") from None
    for column in schema:
        if column.name not in table.column_names:
            raise CurateError.at(shown, f"missing column (expected {column.type})", field=column.name)
        found = table.schema.field(column.name).type
        if not _compatible(found, column.type):
            raise CurateError.at(shown, f"expected {column.type}, found {found}", field=column.name)
    return table.to_pandas()


def read_meta(file: Path, shown: Path) -> dict[str, Any]:
    """dataset.yaml as a mapping ({} when absent); malformed YAML names its line."""
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise CurateError.at(shown, f"cannot read: {exc}") from None
    try:
        meta = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark is not None else None
        raise CurateError.at(shown, f"malformed YAML: {getattr(exc, 'problem', None) or exc}", where=where) from None
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise CurateError.at(shown, f"expected a mapping of provenance fields, found a {type(meta).__name__}")
    return meta


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


def write_tables(
    folder: str | Path,
    images: pd.DataFrame,
    objects: pd.DataFrame,
    meta: dict[str, Any] | None = None,
    taxonomy=None,
    shown: str | Path | None = None,
) -> None:
    """Validate, then write both tables and dataset.yaml into a folder (a staging folder).

    Rows are sorted by id, so the same content always gives byte-identical Parquet. Nothing is
    written when validation fails; problems name the dataset as `shown` (default: the folder).
    """
    folder = Path(folder)
    shown = Path(shown) if shown is not None else folder
    problems = validate_tables(images, objects, taxonomy, root=display(shown))
    if problems:
        raise CurateError.from_problems(problems)
    images_table = _to_arrow(_sorted(images, ["image_id"]), IMAGES_SCHEMA, str(shown / IMAGES_FILE))
    objects_table = _to_arrow(_sorted(objects, ["image_id", "object_id"]), OBJECTS_SCHEMA, str(shown / OBJECTS_FILE))
    folder.mkdir(parents=True, exist_ok=True)
    meta = dict(meta or {})
    meta.setdefault("name", shown.name)
    meta["schema_version"] = SCHEMA_VERSION
    meta["tool_version"] = __version__
    if taxonomy is not None:
        meta["taxonomy"] = taxonomy.identity()
    meta["counts"] = counts(images, objects)
    meta.setdefault("created_at", _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat())
    write_parquet_atomic(images_table, folder / IMAGES_FILE)
    write_parquet_atomic(objects_table, folder / OBJECTS_FILE)
    write_text_atomic(folder / META_FILE, yaml.safe_dump(meta, sort_keys=False, allow_unicode=True))


# Staging folders of this process (`staged_dataset`): save_tables writes into them directly.
_STAGES: dict[str, Path] = {}


def save_tables(
    path: str | Path,
    images: pd.DataFrame,
    objects: pd.DataFrame,
    meta: dict[str, Any] | None = None,
    taxonomy=None,
    *,
    expect_generation: int | None = None,
    changes: pd.DataFrame | None = None,
) -> None:
    """Make these tables the dataset at `path`: a new generation, committed in one rename.

    Media, reports and the change log of the current generation are kept (hard links); with
    `changes` those rows are appended to the change log in the same commit. `expect_generation`
    (see `save_dataset`) refuses to write over a generation other than the one read. A folder
    that is not a dataset yet becomes one, its files kept (media written before the tables).
    Inside a `staged_dataset` block, `path` is the staging folder and the files are written there.
    """
    key = os.path.abspath(path)
    if key in _STAGES:
        write_tables(path, images, objects, meta, taxonomy, shown=_STAGES[key])
        if changes is not None:
            _append_changes_into(Path(path), changes)
        return
    fresh = current_snapshot(path) is None
    with write_generation(path, fresh=fresh, expect_generation=expect_generation, adopt=True) as stage:
        stage.carry()
        write_tables(stage.path, images, objects, meta, taxonomy, shown=absolute(path))
        if changes is not None:
            _append_changes_into(stage.path, changes)


def save_dataset(dataset: Dataset, taxonomy=None) -> None:
    """Write a dataset read with `read_dataset` back, unless another command changed it since."""
    save_tables(dataset.path, dataset.images, dataset.objects, dataset.meta, taxonomy, expect_generation=dataset.generation)


def _append_changes_into(folder: Path, changes: pd.DataFrame) -> None:
    file = folder / CHANGES_FILE
    old = pq.read_table(file).to_pandas() if file.exists() else empty_table(CHANGES_SCHEMA)
    merged = pd.concat([old, changes[list(CHANGES_SCHEMA.names)]], ignore_index=True) if len(old) else changes
    table = pa.Table.from_pandas(merged[list(CHANGES_SCHEMA.names)], schema=CHANGES_SCHEMA, preserve_index=False)
    write_parquet_atomic(table, file)  # a new file: a link shared with the previous generation stays as it was


def append_changes(path: str | Path, changes: pd.DataFrame) -> None:
    """Append rows to changes.parquet, in a new generation of the dataset; inside a step's
    staging folder (`derive_dataset`, `staged_dataset`) the rows join that folder's commit."""
    if os.path.abspath(path) in _STAGES:
        _append_changes_into(Path(path), changes)
        return
    with write_generation(path, fresh=False) as stage:
        stage.carry()
        snapshot = stage.base
        for name in (IMAGES_FILE, OBJECTS_FILE, META_FILE):
            if (snapshot.root / name).exists():
                os.link(snapshot.root / name, stage.path / name)
        _append_changes_into(stage.path, changes)


@contextmanager
def staged_dataset(target: str | Path, *, overwrite: bool = True, command: str | None = None) -> Iterator[Path]:
    """Build a whole new dataset in a staging folder; it becomes the dataset at `target` when the
    block succeeds (one rename), and a failure leaves whatever was there as it was.

    The staging folder starts empty; `save_tables(stage, ...)` writes the tables into it. An
    existing dataset at `target` is replaced only with `overwrite`; anything else there is refused.
    """
    with write_generation(target, fresh=True, overwrite=overwrite, command=command) as stage:
        _STAGES[os.path.abspath(stage.path)] = absolute(target)
        try:
            yield stage.path
        finally:
            del _STAGES[os.path.abspath(stage.path)]


@contextmanager
def updated_dataset(path: str | Path, *, command: str | None = None) -> Iterator[tuple[Dataset, Stage]]:
    """Read the dataset under its lock and build its next generation from it: the block gets the
    dataset and a stage already holding its media, reports and change log."""
    with write_generation(path, fresh=False, command=command) as stage:
        dataset = _read_snapshot(absolute(path), stage.base)
        stage.carry()
        _STAGES[os.path.abspath(stage.path)] = absolute(path)
        try:
            yield dataset, stage
        finally:
            del _STAGES[os.path.abspath(stage.path)]


def carry_from(source: Dataset | str | Path, stage: str | Path) -> list[str]:
    """Hard-link another dataset's media, reports and change log into a staging folder."""
    path = source.path if isinstance(source, Dataset) else Path(source)
    snapshot = current_snapshot(path)
    if snapshot is None:
        raise not_a_dataset(path)
    return carry_entries(snapshot, Path(stage))


def ensure_folder(path: str | Path, name: str) -> Path:
    """DATASET/name as a folder of the current generation (for files kept beside the tables)."""
    path = absolute(path)
    snapshot = current_snapshot(path)
    if snapshot is None:
        raise not_a_dataset(path)
    (snapshot.root / name).mkdir(parents=True, exist_ok=True)
    if snapshot.root != path and not (path / name).exists():
        link = path / f"{LINK_PREFIX}{os.getpid()}-{name}"
        link.unlink(missing_ok=True)
        os.symlink(f"{CURRENT}/{name}", link)
        os.replace(link, path / name)
    return path / name


@contextmanager
def staged_folder(target: str | Path) -> Iterator[Path]:
    """Build a folder that is not a dataset (a model directory) beside `target`, then put it in
    place: the old folder is moved aside and the new one renamed in, so a failure in the block
    leaves the old folder as it was."""
    target = Path(target).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    stage.chmod(0o777 & ~umask)  # mkdtemp makes 0700; a folder gets normal permissions
    try:
        yield stage
    except BaseException:
        remove_path(stage)
        raise
    backup = None
    if target.exists():
        backup = target.with_name(f".{target.name}.previous-{os.getpid()}")
        os.replace(target, backup)
    os.replace(stage, target)
    if backup is not None:
        remove_path(backup)


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
