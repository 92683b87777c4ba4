"""Hand boxes into a dataset, and the images that need them out to labelImg.

`import_boxes` reads a box table, a VOC folder or an annotation folder `export_for_labelimg`
wrote, checks every row, merges the boxes into the objects table and logs each change in
changes.parquet, all in one staged write: a failure leaves the dataset as it was.
`boxes_from_file` is the same work on tables in memory, for `curate build`.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import pandas as pd

from curate.annotation.check import check_rows
from curate.annotation.labelimg import export_labelimg, is_labelimg_folder, read_labelimg_folder, record_import
from curate.annotation.merge import apply_answers
from curate.annotation.read import TABLE_SUFFIXES, read_boxes
from curate.annotation.selection import select_images
from curate.dataset import CHANGES_SCHEMA, Dataset, append_changes, derive_dataset, read_dataset, write_text_atomic
from curate.errors import CurateError
from curate.sources.common import ON_ERROR_CHOICES
from curate.taxonomy import Taxonomy, load_taxonomy

STEP = "boxes"


def _problem_record(problem) -> dict:
    return {"file": problem.file, "where": problem.where, "field": problem.field, "reason": problem.message}


def boxes_from_file(
    images: pd.DataFrame,
    objects: pd.DataFrame,
    source: str | Path,
    *,
    units: str = "rel",
    key: str | None = None,
    on_error: str = "fail",
    taxonomy: Taxonomy,
    dataset: Dataset | None = None,
    when: pd.Timestamp | None = None,
) -> tuple[pd.DataFrame, list[dict], dict]:
    """(objects with the hand boxes merged in, change-log rows, report) for one box source.

    With `on_error="fail"` any bad row raises CurateError listing every problem, before anything
    is merged; with "skip" an image with a bad row is left as it was and the problem reported.
    `dataset` is needed for an annotation folder (its manifest is checked against the tables).
    """
    if on_error not in ON_ERROR_CHOICES:
        raise CurateError(f"--on-error must be one of {', '.join(ON_ERROR_CHOICES)}, found '{on_error}'")
    source = Path(source)
    folder: dict = {}
    if is_labelimg_folder(source):
        if dataset is None:
            raise CurateError.at(source, "an annotation folder is imported into the dataset it was exported from: use `curate boxes import DATASET FOLDER`")
        read, folder = read_labelimg_folder(source, dataset)
    else:
        read = read_boxes(source, units, key)
    checked = check_rows(read.rows, images, taxonomy)
    problems = read.problems + checked.problems
    if problems and on_error == "fail":
        raise CurateError.from_problems(problems)
    answers = {k: v for k, v in checked.answers.items() if k not in checked.bad_images}
    when = when if when is not None else pd.Timestamp(_dt.datetime.now(_dt.timezone.utc))
    objects, changes, report = apply_answers(images, objects, answers, taxonomy, when)
    conflicts = folder.pop("conflicts", [])
    report = {
        "source": str(source),
        "units": units if source.suffix.lower() in TABLE_SUFFIXES else "px",
        "rows": len(read.rows),
        **report,
        "changes": len(changes),
        "not_in_dataset": checked.not_in_dataset,
        "skipped_images": sorted(checked.bad_images),
        "skipped": [_problem_record(p) for p in problems],
        "conflicts": [_problem_record(p) for p in conflicts],
        **({"folder": folder} if folder else {}),
    }
    return objects, changes, report


def import_boxes(dataset_path: str | Path, source: str | Path, *, units: str = "rel", key: str | None = None, on_error: str = "fail", taxonomy: Taxonomy | None = None) -> dict:
    """Merge hand boxes into the dataset at `dataset_path`; returns the report (reports/boxes.json).

    The tables and the change log are written in one staged swap, and only when something changed.
    """
    dataset = read_dataset(dataset_path)
    tax = taxonomy or load_taxonomy()
    objects, changes, report = boxes_from_file(dataset.images, dataset.objects, source, units=units, key=key, on_error=on_error, taxonomy=tax, dataset=dataset)
    if not changes:
        write_text_atomic(dataset.reports_dir / f"{STEP}.json", json.dumps(report, indent=2, default=str) + "\n")
    else:

        def work(current: Dataset, stage: Path):
            append_changes(stage, pd.DataFrame(changes, columns=list(CHANGES_SCHEMA.names)))
            return current.images, objects, report

        derive_dataset(dataset, STEP, work)
    if "folder" in report:
        record_import(source, report["folder"]["read_files"], objects, set(report["skipped_images"]))
    return report


def export_for_labelimg(
    dataset_path: str | Path,
    out: str | Path,
    *,
    where: str | None = None,
    on_model: bool = False,
    without_boxes: bool = False,
    split: str | None = None,
    image_ids: list[str] | None = None,
    limit: int | None = None,
    taxonomy: Taxonomy | None = None,
) -> dict:
    """Write the selected images as a labelImg folder (see curate.annotation.labelimg)."""
    dataset = read_dataset(dataset_path)
    chosen = select_images(dataset.images, dataset.objects, where=where, on_model=on_model, without_boxes=without_boxes, split=split, image_ids=image_ids, limit=limit)
    described = describe_selection(where=where, on_model=on_model, without_boxes=without_boxes, split=split, image_ids=image_ids, limit=limit)
    return export_labelimg(dataset, chosen["image_id"].tolist(), out, taxonomy or load_taxonomy(), described)


def describe_selection(*, where=None, on_model=False, without_boxes=False, split=None, image_ids=None, limit=None) -> str:
    parts = (["on-model"] if on_model else []) + (["without boxes"] if without_boxes else [])
    parts += [f"split {split}"] if split else []
    parts += [f"{len(image_ids)} named images"] if image_ids is not None else []
    parts += [f"where {where}"] if where else []
    parts += [f"first {limit}"] if limit is not None else []
    return ", ".join(parts)
