"""Deriving one dataset from another: a step's new tables, written whole, with the old media.

`derive_dataset` runs `work(source, stage)` -> (images, objects, report) with a staging folder
that already holds the source's media, reports and change log (hard links where possible),
writes the report to reports/<step>.json and the tables with their provenance, and makes the
result the target's current generation in one rename. In place, the source is read under the
dataset's lock, so no other command can change it meanwhile. A failure leaves both the source
and any dataset at the target as they were.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from curate.dataset.layout import absolute, changed_since_read, current_snapshot
from curate.dataset.store import Dataset, carry_from, is_url, read_dataset, staged_dataset, updated_dataset, write_tables, write_text_atomic

Work = Callable[[Dataset, Path], tuple[pd.DataFrame, pd.DataFrame, dict]]


def carry_files(source: Path, stage: Path) -> None:
    """Bring media, reports and the change log of an existing dataset into a staging folder
    (hard links where possible)."""
    carry_from(source, stage)


def rebase_paths(images: pd.DataFrame, old_root: Path, new_root: Path) -> pd.DataFrame:
    """Keep relative paths pointing at the same files when the tables move to another directory.

    Paths inside the dataset (media/...) travel with it; anything else becomes absolute.
    """
    if old_root.resolve() == new_root.resolve():
        return images
    paths = []
    for p in images["path"].astype(str):
        inside = not os.path.isabs(p) and p.split("/", 1)[0] == "media"
        paths.append(p if os.path.isabs(p) or is_url(p) or inside else str((old_root / p).resolve()))
    return images.assign(path=paths)


def derived_meta(source: Dataset, step: str, in_place: bool, name: str | None) -> dict[str, Any]:
    """dataset.yaml of the result: in place, the source's own plus the step; else a new dataset
    naming its source."""
    steps = list(source.meta.get("steps", [])) + [step]
    if in_place:
        meta = {k: v for k, v in source.meta.items() if k != "created_at"}
        meta["steps"] = steps
        if name is not None:
            meta["name"] = name
        return meta
    return {"name": name, "sources": [{"dataset": str(source.path)}], "steps": steps}


def _finish(stage: Path, shown: Path, source: Dataset, step: str, work: Work, in_place: bool, name: str | None, taxonomy) -> dict:
    images, objects, report = work(source, stage)
    write_text_atomic(stage / "reports" / f"{step}.json", json.dumps(report, indent=2, default=str) + "\n")
    meta = derived_meta(source, step, in_place, name if name is not None or in_place else shown.name)
    write_tables(stage, images, objects, meta, taxonomy, shown=shown)
    return report


def derive_dataset(source: str | Path | Dataset, step: str, work: Work, target: str | Path | None = None, *, name: str | None = None, taxonomy=None) -> tuple[Path, dict]:
    """Run one step from `source` into `target` (default: the source itself, as its next generation).

    Returns the dataset path and the step's report. With `taxonomy` the new tables are also
    checked against its rules before anything is written. Given a Dataset already read, in
    place, the step fails if another command changed the dataset since.
    """
    source_path = source.path if isinstance(source, Dataset) else Path(source)
    path = Path(target) if target is not None else source_path
    if absolute(path) == absolute(source_path) or (path.exists() and path.resolve() == source_path.resolve()):
        with updated_dataset(path, command=None) as (current, stage):
            if isinstance(source, Dataset) and source.generation != current.generation:
                raise changed_since_read(absolute(path), source.generation, current_snapshot(path))
            report = _finish(stage.path, absolute(path), current, step, work, True, name, taxonomy)
        return path, report
    source_ds = source if isinstance(source, Dataset) else read_dataset(source)
    with staged_dataset(path) as stage:
        carry_from(source_ds, stage)
        report = _finish(stage, absolute(path), source_ds, step, work, False, name, taxonomy)
    return path, report
