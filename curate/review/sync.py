"""FiftyOne -> tables: apply the sync plan to objects.parquet and changes.parquet, then send the
synced samples back so FiftyOne holds exactly the rows now on disk."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from curate.dataset import OBJECTS_FILE, dataset_lock, read_dataset, save_tables
from curate.errors import Problem
from curate.review.connection import import_fiftyone, load_review_dataset
from curate.review.labels import ACCEPT, ORIGIN_TAGS, REJECT, default_review_name, prepare_tables, rows_by_image
from curate.review.send import overwrite_samples
from curate.review.sync_plan import plan_sync, read_fiftyone_state
from curate.taxonomy import load_taxonomy


@dataclass
class SyncReport:
    name: str
    applied: dict[str, int] = field(default_factory=dict)  # edited/created/deleted/accepted/rejected
    conflicts: list[Problem] = field(default_factory=list)
    stale: int = 0
    changes: int = 0


def sync_dataset(dataset_path: str | Path, name: str | None = None, taxonomy=None) -> SyncReport:
    """Apply curator edits from FiftyOne to objects.parquet and log each one in changes.parquet.

    Rows changed on disk since they were sent and also edited in FiftyOne are conflicts: the whole
    sample is left alone on both sides and reported. Nothing is written if any edited box is invalid.
    """
    with dataset_lock(dataset_path):  # no other command may change the tables between reading and writing
        return _sync(dataset_path, name, taxonomy)


def _sync(dataset_path: str | Path, name: str | None, taxonomy) -> SyncReport:
    dataset = read_dataset(dataset_path)
    tax = taxonomy or load_taxonomy()
    name = name or default_review_name(dataset)
    fo = import_fiftyone()
    ds = load_review_dataset(fo, name)
    state = read_fiftyone_state(ds)
    plan = plan_sync(state, dataset.objects, tax, name, str(dataset.path / OBJECTS_FILE))
    report = SyncReport(name, plan.applied, plan.conflicts, plan.stale, len(plan.changes))
    if plan.objects is None:
        return report

    # the edited objects and their log entries are one commit: both are written, or neither
    save_tables(dataset.path, dataset.images, plan.objects, dataset.meta, changes=plan.change_log(), expect_generation=dataset.generation)
    refreshed = read_dataset(dataset.path)
    images, prepared, _ = prepare_tables(refreshed, tax)
    by_id = images.set_index("image_id", drop=False)
    overwrite_samples(fo, ds, refreshed, by_id, rows_by_image(prepared), {state.sample_ids[i]: i for i in plan.touched_images}, drop_tags=ORIGIN_TAGS + (ACCEPT, REJECT))
    return report
