"""Tables -> FiftyOne: mirror a dataset into a persistent FiftyOne dataset, then keep it in step.

A first send creates the dataset with its declared fields and saved views; a re-run updates
only the samples whose rows changed, and leaves samples holding unsynced curator edits alone.
Every sample remembers the hash of each object row it was sent with (`curate_objects`).
"""

from __future__ import annotations

import os

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from curate.dataset import BOX_COLUMNS, Dataset, read_dataset
from curate.geometry import xyxy_to_xywh
from curate.progress import track
from curate.review.connection import import_fiftyone, load_review_dataset
from curate.review.labels import (
    ATTRIBUTES,
    CATEGORY,
    DEFAULT_SAGEMAKER_THRESHOLD,
    DUPLICATE_COLUMN,
    GROUND_TRUTH,
    LABEL_ATTRIBUTES,
    LEAKAGE_COLUMN,
    ORIGIN_TAGS,
    SAMPLE_FIELDS,
    default_review_name,
    label_entries,
    prepare_tables,
    rows_by_image,
)
from curate.review.sync_plan import edited_images, read_fiftyone_state
from curate.review.views import save_views, view_names
from curate.taxonomy import load_taxonomy


@dataclass
class SendReport:
    name: str
    mode: str  # created | updated | unchanged
    added: int = 0
    updated: int = 0
    deleted: int = 0
    skipped_unsynced: list[str] = field(default_factory=list)
    unmirrored_whole_image: int = 0


def _label_kwargs(row: dict, exclude: str) -> dict[str, Any]:
    """Label attributes from an object row; `exclude` is the one the label itself carries."""
    kwargs = {}
    for name in LABEL_ATTRIBUTES:
        if name == exclude:
            continue
        column = "attributes" if name == "other_attributes" else name
        value = row.get(column)
        if name == "other_attributes":
            value = list(value) if value is not None else []
        elif name == "box_confidence":
            value = None if value is None or pd.isna(value) else float(value)
        elif value is not None and not isinstance(value, str) and pd.isna(value):
            value = None
        kwargs[name] = value
    return kwargs


def _plain(value):
    if value is None:
        return None
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def _sample_labels(fo, rows: list[dict]) -> tuple[Any, Any, Any, int]:
    """ground_truth Detections, category Classification, attributes Classifications, unmirrored."""
    detections, whole = [], []
    for row in rows:
        (whole if pd.isna(row["x_min"]) else detections).append(row)
    dets = []
    for row in detections:
        box = xyxy_to_xywh([float(row[c]) for c in BOX_COLUMNS]).tolist()
        dets.append(fo.Detection(label=row["object_type"], bounding_box=box, **_label_kwargs(row, "object_type")))
    category = attributes = None
    if whole:
        row = whole[0]
        category = fo.Classification(label=row["category"], **_label_kwargs(row, "category"))
        attributes = fo.Classifications(classifications=[fo.Classification(label=e, object_id=row["object_id"]) for e in label_entries(row)])
    return fo.Detections(detections=dets), category, attributes, max(len(whole) - 1, 0)


def _sent_objects(rows: list[dict]) -> list[str]:
    """object_id:row hash:content hash of the rows actually mirrored (boxes, and the first whole-image label)."""
    whole_seen = False
    sent = []
    for row in rows:
        if pd.isna(row["x_min"]):
            if whole_seen:
                continue
            whole_seen = True
        sent.append(f"{row['object_id']}:{row['row_hash']}:{row['content_hash']}")
    return sent


def build_sample(fo, dataset: Dataset, image: dict, rows: list[dict], extra_tags: Iterable[str] = ()) -> tuple[Any, int]:
    ground_truth, category, attributes, unmirrored = _sample_labels(fo, rows)
    fields = {target: _plain(image.get(column)) for column, target in SAMPLE_FIELDS.items()}
    for column in (DUPLICATE_COLUMN, LEAKAGE_COLUMN):
        if column in image:
            fields[column] = _plain(image[column])
    width, height = _plain(image.get("width")), _plain(image.get("height"))
    metadata = fo.ImageMetadata(width=width, height=height) if width and height else None
    sample = fo.Sample(
        filepath=sample_filepath(dataset, image["path"]),
        tags=sorted(set(image["tags"]) | set(extra_tags)),
        metadata=metadata,
        ground_truth=ground_truth,
        category=category,
        attributes=attributes,
        curate_hash=image["curate_hash"],
        curate_objects=_sent_objects(rows),
        **fields,
    )
    return sample, unmirrored


def _declare_schema(fo, ds, images: pd.DataFrame) -> None:
    """Declare every field up front so the App's sidebar can filter on the label attributes.

    Each field goes in with its attributes in one call (one call per attribute costs seconds).
    """
    from fiftyone.core.odm.utils import create_field

    kinds = {"str": fo.StringField, "float": fo.FloatField}

    def attributes(carried: str) -> list:
        return [
            create_field(name, fo.ListField, subfield=fo.StringField) if kind == "list" else create_field(name, kinds[kind])
            for name, kind in LABEL_ATTRIBUTES.items() if name != carried
        ]

    ds.add_sample_field(GROUND_TRUTH, fo.EmbeddedDocumentField, embedded_doc_type=fo.Detections, fields=[
        create_field("detections", fo.ListField, subfield=fo.EmbeddedDocumentField, embedded_doc_type=fo.Detection, fields=attributes("object_type"))
    ])
    ds.add_sample_field(CATEGORY, fo.EmbeddedDocumentField, embedded_doc_type=fo.Classification, fields=attributes("category"))
    ds.add_sample_field(ATTRIBUTES, fo.EmbeddedDocumentField, embedded_doc_type=fo.Classifications, fields=[
        create_field("classifications", fo.ListField, subfield=fo.EmbeddedDocumentField, embedded_doc_type=fo.Classification,
                     fields=[create_field("object_id", fo.StringField)])
    ])


def _declare_sample_fields(fo, ds, images: pd.DataFrame) -> None:
    """Declare the sample fields that add_samples could not infer (null on every sample)."""
    schema = ds.get_field_schema()
    wanted = {target: fo.BooleanField if column == "flat_lay" else fo.StringField for column, target in SAMPLE_FIELDS.items()}
    wanted.update({DUPLICATE_COLUMN: fo.StringField, LEAKAGE_COLUMN: fo.BooleanField, "curate_hash": fo.StringField})
    for target, kind in wanted.items():
        if target not in schema and (target in SAMPLE_FIELDS.values() or target in images.columns or target == "curate_hash"):
            ds.add_sample_field(target, kind)
    if "curate_objects" not in schema:
        ds.add_sample_field("curate_objects", fo.ListField, subfield=fo.StringField)


def send_dataset(
    dataset_path: str | Path,
    name: str | None = None,
    taxonomy=None,
    sagemaker_threshold: float = DEFAULT_SAGEMAKER_THRESHOLD,
) -> SendReport:
    """Mirror the tables into a persistent FiftyOne dataset; on a re-run update only what changed.

    Samples whose labels hold curator edits not yet synced are left untouched and listed in the
    report (run `curate review sync` first).
    """
    dataset = read_dataset(dataset_path)
    tax = taxonomy or load_taxonomy()
    name = name or default_review_name(dataset)
    fo = import_fiftyone()
    images, objects, _ = prepare_tables(dataset, tax)
    rows = rows_by_image(objects)

    if not fo.dataset_exists(name):
        ds = fo.Dataset(name, persistent=True)
        ds.info["curate_dataset"] = str(dataset.path.resolve())
        ds.save()
        _declare_schema(fo, ds, images)
        samples, unmirrored = [], 0
        for image in track(images.to_dict("records"), "Preparing samples"):
            sample, extra = build_sample(fo, dataset, image, rows.get(image["image_id"], []))
            samples.append(sample)
            unmirrored += extra
        ds.add_samples(samples)
        _declare_sample_fields(fo, ds, images)
        save_views(ds, images, sagemaker_threshold)
        return SendReport(name, "created", added=len(samples), unmirrored_whole_image=unmirrored)

    ds = load_review_dataset(fo, name)
    ids, image_ids, hashes = ds.values(["id", "image_id", "curate_hash"])
    sent = dict(zip(image_ids, hashes))
    sample_id = dict(zip(image_ids, ids))
    disk = dict(zip(images["image_id"], images["curate_hash"]))
    gone = [i for i in image_ids if i not in disk]
    new = [i for i in disk if i not in sent]
    changed = [i for i, h in disk.items() if i in sent and sent[i] != h]
    report = SendReport(name, "updated" if gone or new or changed else "unchanged")
    if changed:
        state = read_fiftyone_state(ds.select([sample_id[i] for i in changed]))
        edited = set(edited_images(state, objects))
        report.skipped_unsynced = sorted(edited)
        changed = [i for i in changed if i not in edited]
    by_id = images.set_index("image_id", drop=False)
    if changed:
        report.unmirrored_whole_image += overwrite_samples(fo, ds, dataset, by_id, rows, {sample_id[i]: i for i in changed}, drop_tags=ORIGIN_TAGS)
        report.updated = len(changed)
    if gone:
        ds.delete_samples([sample_id[i] for i in gone])
        report.deleted = len(gone)
    if new:
        samples = []
        for image_id in new:
            sample, extra = build_sample(fo, dataset, by_id.loc[image_id].to_dict(), rows.get(image_id, []))
            samples.append(sample)
            report.unmirrored_whole_image += extra
        ds.add_samples(samples)
        _declare_sample_fields(fo, ds, images)
        report.added = len(samples)
    wanted = set(view_names(images))
    if not wanted <= set(ds.list_saved_views()) or ds.info.get("sagemaker_threshold") != sagemaker_threshold:
        save_views(ds, images, sagemaker_threshold)
    return report


def overwrite_samples(fo, ds, dataset: Dataset, images_by_id: pd.DataFrame, rows: dict[str, list[dict]],
                       image_of_sample: dict[str, str], drop_tags: tuple[str, ...]) -> int:
    """Rebuild the given samples from the tables and write them field by field in bulk.

    Bulk `set_values` skips loading the old samples, which is most of the cost of an update.
    Tags other than `drop_tags` (a curator's own) are kept. Returns the unmirrored label count.
    """
    view = ds.select(list(image_of_sample))
    old_tags = dict(zip(*view.values(["id", "tags"])))
    fresh, unmirrored = {}, 0
    for sid, image_id in track(image_of_sample.items(), "Updating samples", total=len(image_of_sample)):
        keep = [t for t in old_tags.get(sid) or [] if t not in drop_tags]
        fresh[sid], extra = build_sample(fo, dataset, images_by_id.loc[image_id].to_dict(), rows.get(image_id, []), keep)
        unmirrored += extra
    names = {name for sample in fresh.values() for name in sample.field_names} - {"id", "created_at", "last_modified_at"}
    for name in sorted(names):
        view.set_values(name, {sid: sample[name] for sid, sample in fresh.items()}, key_field="id")
    return unmirrored


def sample_filepath(dataset: Dataset, path: str) -> str:
    """An image's absolute path for FiftyOne. A path inside the dataset goes through its stable
    top-level names (DATASET/media/...), never into a generation folder a later write removes."""
    if os.path.isabs(path):
        return str(Path(path).resolve())
    return os.path.join(str(dataset.path.resolve()), os.path.normpath(path))
