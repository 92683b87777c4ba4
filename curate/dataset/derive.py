"""Deriving one dataset from another: a step's new tables, written whole, with the old media.

`derive_dataset` runs `work(source, stage)` -> (images, objects, report) in a staging directory
that already holds the source's media, reports and change log (hard links where possible),
writes the report to reports/<step>.json and the tables with their provenance, and swaps the
result in. A failure leaves both the source and any dataset at the target as they were.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from curate.dataset.schema import CHANGES_FILE
from curate.dataset.store import Dataset, is_url, read_dataset, save_tables, staged_dataset, write_text_atomic

Work = Callable[[Dataset, Path], tuple[pd.DataFrame, pd.DataFrame, dict]]


def link_or_copy(src, dst) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def carry_files(source: Path, stage: Path) -> None:
    """Bring media, reports and the change log of an existing dataset into a staging directory.

    Hard links where possible: the stage is swapped in whole, and the old tree is deleted after.
    """
    for name in ("media", "reports"):
        if (source / name).is_dir():
            shutil.copytree(source / name, stage / name, copy_function=link_or_copy, dirs_exist_ok=True)
    if (source / CHANGES_FILE).exists():
        link_or_copy(source / CHANGES_FILE, stage / CHANGES_FILE)


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


def derive_dataset(source: str | Path | Dataset, step: str, work: Work, target: str | Path | None = None, *, name: str | None = None, taxonomy=None) -> tuple[Path, dict]:
    """Run one step from `source` into `target` (default: the source itself, replaced whole).

    Returns the dataset path and the step's report. With `taxonomy` the new tables are also
    checked against its rules before anything is written.
    """
    source_ds = source if isinstance(source, Dataset) else read_dataset(source)
    path = Path(target) if target is not None else source_ds.path
    in_place = path.resolve() == source_ds.path.resolve()
    with staged_dataset(path) as stage:
        carry_files(source_ds.path, stage)
        images, objects, report = work(source_ds, stage)
        write_text_atomic(stage / "reports" / f"{step}.json", json.dumps(report, indent=2, default=str) + "\n")
        meta = derived_meta(source_ds, step, in_place, name if name is not None or in_place else path.name)
        save_tables(stage, images, objects, meta, taxonomy)
    return path, report
