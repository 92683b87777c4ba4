"""The dataset: two Parquet tables (the source of truth), provenance and atomic writes.

    schema.py    columns, Arrow types, vocabularies, stable ids, frames with every column
    validate.py  whole-table validation, every bad row at once
    store.py     read and write the tables and dataset.yaml; staged datasets
    generations.py, layout.py, lock.py   the folder on disk: generations behind one `current`
                 link (a commit is one rename), recovery of interrupted commands, output checks,
                 and the one-writer lock
    derive.py    derive a dataset from another (a curation step's output)
    changes.py   rows of changes.parquet, the log of curator edits
"""

from curate.dataset.changes import OBJECT_FIELD, format_value, object_json

from curate.dataset.derive import carry_files, derive_dataset, rebase_paths
from curate.dataset.schema import (
    BOX_COLUMNS,
    BOX_ORIGINS,
    CHANGES_FILE,
    CHANGES_SCHEMA,
    IMAGES_FILE,
    IMAGES_SCHEMA,
    META_FILE,
    OBJECTS_FILE,
    OBJECTS_SCHEMA,
    REVIEW_STATUSES,
    SCHEMA_VERSION,
    SPLITS,
    empty_table,
    images_frame,
    objects_frame,
    stable_id,
)
from curate.dataset.layout import check_not_input, check_target, current_snapshot, leftovers
from curate.dataset.lock import dataset_lock
from curate.dataset.store import (
    Dataset,
    append_changes,
    carry_from,
    ensure_folder,
    counts,
    image_paths,
    is_url,
    read_dataset,
    save_dataset,
    save_tables,
    staged_dataset,
    staged_folder,
    summary,
    updated_dataset,
    value_counts,
    write_parquet_atomic,
    write_tables,
    write_text_atomic,
)
from curate.dataset.validate import validate_tables

__all__ = [
    "BOX_COLUMNS", "BOX_ORIGINS", "CHANGES_FILE", "CHANGES_SCHEMA", "IMAGES_FILE", "IMAGES_SCHEMA", "META_FILE",
    "OBJECT_FIELD", "OBJECTS_FILE", "OBJECTS_SCHEMA", "REVIEW_STATUSES", "SCHEMA_VERSION", "SPLITS",
    "Dataset", "append_changes", "carry_files", "carry_from", "check_not_input", "check_target", "counts", "current_snapshot",
    "dataset_lock", "derive_dataset", "empty_table", "ensure_folder", "format_value", "image_paths", "images_frame", "is_url", "leftovers",
    "object_json", "objects_frame", "read_dataset", "rebase_paths", "save_dataset", "save_tables", "staged_dataset", "staged_folder",
    "stable_id", "summary", "updated_dataset", "validate_tables", "value_counts", "write_parquet_atomic", "write_tables",
    "write_text_atomic",
]
