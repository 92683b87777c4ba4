"""The review loop: dataset tables <-> a persistent FiftyOne dataset, saved views, App, sync.

The Parquet tables stay the source of truth. `send_dataset` mirrors them into FiftyOne (boxes in
`ground_truth`, whole-image labels in `category` + `attributes`), remembering on every sample
the hash of each object row it was sent with (`curate_objects`). `sync_dataset` compares three
things per object — the row on disk, the row as sent, the label as FiftyOne holds it now — so a
curator's edit is applied, an untouched label is left alone, and a row that changed on both
sides is reported as a conflict with neither side written.

FiftyOne is imported only inside functions (`_fiftyone()`), so `import curate` stays light.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from curate.dataset import (
    BOX_COLUMNS,
    CHANGES_SCHEMA,
    OBJECTS_FILE,
    SPLITS,
    Dataset,
    append_changes,
    read_dataset,
    save_tables,
    stable_id,
)
from curate.errors import CurateError, Problem
from curate.geometry import xywh_to_xyxy, xyxy_to_xywh
from curate.progress import track
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


# ---------------------------------------------------------------------------------------------
# Pure helpers: hashes, taxonomy checks, tags


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


def _as_python(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as plain objects with None for null (pandas may read them as NaN strings)."""
    frame = frame.copy()
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.StringDtype) or frame[col].dtype == object:
            frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame


def default_review_name(dataset: Dataset) -> str:
    return str(dataset.meta.get("name") or dataset.path.name)


# ---------------------------------------------------------------------------------------------
# FiftyOne connection


def _fiftyone():
    """Import FiftyOne with usage tracking off, failing fast on an unreachable database."""
    os.environ["FIFTYONE_DO_NOT_TRACK"] = "true"
    # checked before the (slow) FiftyOne import, which would otherwise wait 30 s to time out
    _check_database_uri(os.environ.get("FIFTYONE_DATABASE_URI"))
    import fiftyone as fo

    if fo.config.database_uri and not os.environ.get("FIFTYONE_DATABASE_URI"):
        _check_database_uri(fo.config.database_uri)
    return fo


def _check_database_uri(uri: str | None) -> None:
    if not uri:
        return
    import pymongo
    from pymongo.errors import PyMongoError

    try:
        client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=3000)
        client.admin.command("ping")
        client.close()
    except PyMongoError as exc:
        raise CurateError(
            f"cannot reach the FiftyOne database at FIFTYONE_DATABASE_URI={uri}: {type(exc).__name__}. "
            "Start that MongoDB server, or unset FIFTYONE_DATABASE_URI to use the bundled mongod."
        ) from None


def _load_fo_dataset(fo, name: str):
    if not fo.dataset_exists(name):
        raise CurateError(f"no FiftyOne dataset named '{name}': run `curate review DATASET` first")
    return fo.load_dataset(name)


# ---------------------------------------------------------------------------------------------
# Tables -> FiftyOne


@dataclass
class SendReport:
    name: str
    mode: str  # created | updated | unchanged
    added: int = 0
    updated: int = 0
    deleted: int = 0
    skipped_unsynced: list[str] = field(default_factory=list)
    unmirrored_whole_image: int = 0


def _prepared(dataset: Dataset, tax) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Objects with their row hash and taxonomy issue; images with hash and tags."""
    objects = _as_python(dataset.objects)
    objects["row_hash"] = object_row_hashes(objects)
    objects["content_hash"] = object_row_hashes(objects, with_status=False)
    objects["taxonomy_issue"] = label_issues(objects, tax)
    objects = objects.sort_values(["image_id", "object_id"], kind="mergesort")
    pairs = (objects["object_id"] + ":" + objects["row_hash"] + ":" + objects["content_hash"]).groupby(objects["image_id"]).agg(list)
    images = _as_python(dataset.images)
    images["curate_hash"] = image_row_hashes(images, pairs)
    images["tags"] = origin_tags(images, objects)
    return images, objects, pairs


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
        entries = [f"pattern:{row['pattern']}"] if row["pattern"] is not None else []
        entries += [f"style:{row['style']}"] if row["style"] is not None else []
        entries += list(row["attributes"] if row["attributes"] is not None else [])
        attributes = fo.Classifications(classifications=[fo.Classification(label=e, object_id=row["object_id"]) for e in entries])
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


def _build_sample(fo, dataset: Dataset, image: dict, rows: list[dict], extra_tags: Iterable[str] = ()) -> tuple[Any, int]:
    ground_truth, category, attributes, unmirrored = _sample_labels(fo, rows)
    fields = {target: _plain(image.get(column)) for column, target in SAMPLE_FIELDS.items()}
    for column in (DUPLICATE_COLUMN, LEAKAGE_COLUMN):
        if column in image:
            fields[column] = _plain(image[column])
    width, height = _plain(image.get("width")), _plain(image.get("height"))
    metadata = fo.ImageMetadata(width=width, height=height) if width and height else None
    sample = fo.Sample(
        filepath=str(dataset.image_path(image["path"]).resolve()),
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


def _rows_by_image(objects: pd.DataFrame) -> dict[str, list[dict]]:
    records = objects.to_dict("records")
    grouped: dict[str, list[dict]] = {}
    for row in records:
        grouped.setdefault(row["image_id"], []).append(row)
    return grouped


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
    from curate.taxonomy import load_taxonomy

    dataset = read_dataset(dataset_path)
    tax = taxonomy or load_taxonomy()
    name = name or default_review_name(dataset)
    fo = _fiftyone()
    images, objects, _ = _prepared(dataset, tax)
    rows = _rows_by_image(objects)

    if not fo.dataset_exists(name):
        ds = fo.Dataset(name, persistent=True)
        ds.info["curate_dataset"] = str(dataset.path.resolve())
        ds.save()
        _declare_schema(fo, ds, images)
        samples, unmirrored = [], 0
        for image in track(images.to_dict("records"), "Preparing samples"):
            sample, extra = _build_sample(fo, dataset, image, rows.get(image["image_id"], []))
            samples.append(sample)
            unmirrored += extra
        ds.add_samples(samples)
        _declare_sample_fields(fo, ds, images)
        save_views(ds, images, sagemaker_threshold)
        return SendReport(name, "created", added=len(samples), unmirrored_whole_image=unmirrored)

    ds = fo.load_dataset(name)
    ids, image_ids, hashes = ds.values(["id", "image_id", "curate_hash"])
    sent = dict(zip(image_ids, hashes))
    sample_id = dict(zip(image_ids, ids))
    disk = dict(zip(images["image_id"], images["curate_hash"]))
    gone = [i for i in image_ids if i not in disk]
    new = [i for i in disk if i not in sent]
    changed = [i for i, h in disk.items() if i in sent and sent[i] != h]
    report = SendReport(name, "updated" if gone or new or changed else "unchanged")
    if changed:
        state = _fiftyone_state(ds.select([sample_id[i] for i in changed]))
        edited = set(_edited_images(state, objects))
        report.skipped_unsynced = sorted(edited)
        changed = [i for i in changed if i not in edited]
    by_id = images.set_index("image_id", drop=False)
    if changed:
        report.unmirrored_whole_image += _overwrite_samples(fo, ds, dataset, by_id, rows, {sample_id[i]: i for i in changed}, drop_tags=ORIGIN_TAGS)
        report.updated = len(changed)
    if gone:
        ds.delete_samples([sample_id[i] for i in gone])
        report.deleted = len(gone)
    if new:
        samples = []
        for image_id in new:
            sample, extra = _build_sample(fo, dataset, by_id.loc[image_id].to_dict(), rows.get(image_id, []))
            samples.append(sample)
            report.unmirrored_whole_image += extra
        ds.add_samples(samples)
        _declare_sample_fields(fo, ds, images)
        report.added = len(samples)
    wanted = set(view_names(images))
    if not wanted <= set(ds.list_saved_views()) or ds.info.get("sagemaker_threshold") != sagemaker_threshold:
        save_views(ds, images, sagemaker_threshold)
    return report


# ---------------------------------------------------------------------------------------------
# Saved views


def save_views(ds, images: pd.DataFrame, sagemaker_threshold: float = DEFAULT_SAGEMAKER_THRESHOLD) -> list[str]:
    """(Re)create the curator's saved views; augmented samples appear only in their own view."""
    from fiftyone import ViewField as F

    base = ds.match_tags("augmented", bool=False)
    gt = f"{GROUND_TRUTH}.detections"
    views = {
        "auto-boxed to review": base.filter_labels(
            GROUND_TRUTH, F("box_origin").is_in(list(AUTO_ORIGINS)) & (F("review_status") == "unreviewed")
        ).to_patches(GROUND_TRUTH).sort_by(f"{GROUND_TRUTH}.box_confidence"),
        "sagemaker low confidence": base.filter_labels(
            GROUND_TRUTH, (F("box_origin") == "sagemaker") & (F("box_confidence") < sagemaker_threshold)
        ).to_patches(GROUND_TRUTH).sort_by(f"{GROUND_TRUTH}.box_confidence"),
        "taxonomy violations": base.match(
            (F(gt).filter(F("taxonomy_issue").exists()).length() > 0) | F(f"{CATEGORY}.taxonomy_issue").exists()
        ).filter_labels(GROUND_TRUTH, F("taxonomy_issue").exists(), only_matches=False),
        "augmented": ds.match_tags("augmented"),
    }
    for split in SPLITS:
        views[f"split {split}"] = base.match(F("split") == split)
    if DUPLICATE_COLUMN in images.columns:
        views["near-duplicates"] = base.match(F(DUPLICATE_COLUMN).exists()).sort_by(DUPLICATE_COLUMN)
    if LEAKAGE_COLUMN in images.columns:
        views["leakage"] = base.match(F(LEAKAGE_COLUMN) == True)  # noqa: E712
    for view_name, view in views.items():
        ds.save_view(view_name, view, overwrite=True)
    ds.info["sagemaker_threshold"] = sagemaker_threshold
    ds.save()
    return list(views)


def view_names(images: pd.DataFrame) -> list[str]:
    """The saved views `save_views` creates for a dataset with these image columns."""
    names = ["auto-boxed to review", "sagemaker low confidence", "taxonomy violations", "augmented", *(f"split {s}" for s in SPLITS)]
    names += ["near-duplicates"] if DUPLICATE_COLUMN in images.columns else []
    names += ["leakage"] if LEAKAGE_COLUMN in images.columns else []
    return names


def add_predictions(
    dataset_path_or_name: str | Path,
    predictions: pd.DataFrame,
    eval_key: str = "eval",
    iou: float = 0.5,
    image_ids: Sequence[str] | None = None,
) -> dict[str, float]:
    """Store model boxes in a `predictions` field, evaluate them against `ground_truth`, save FP/FN views.

    `predictions` has image_id, x_min, y_min, x_max, y_max (relative), object_type and score.
    `image_ids` are the images the model was run on (an evaluation split): only they are scored,
    so the ground truth of images never shown to the model does not count as missed. By default
    every sample is scored. Returns precision, recall and the TP/FP/FN counts of the evaluation.
    """
    fo = _fiftyone()
    from fiftyone import ViewField as F

    path = Path(dataset_path_or_name)
    name = default_review_name(read_dataset(path)) if path.is_dir() else str(dataset_path_or_name)
    ds = _load_fo_dataset(fo, name)
    missing = [c for c in ("image_id", *BOX_COLUMNS, "object_type", "score") if c not in predictions.columns]
    if missing:
        raise CurateError.at("predictions", "missing columns", field=", ".join(missing))
    grouped = {image_id: group for image_id, group in predictions.groupby("image_id")}
    ids, all_image_ids = ds.values(["id", "image_id"])
    scored = set(all_image_ids) if image_ids is None else set(image_ids)
    unknown = sorted((set(grouped) | scored) - set(all_image_ids))
    if unknown:
        raise CurateError.at("predictions", f"{len(unknown)} image_id(s) not in FiftyOne dataset '{name}', e.g. {unknown[0]}", field="image_id")
    outside = sorted(set(grouped) - scored)
    if outside:
        raise CurateError.at("predictions", f"{len(outside)} image_id(s) have predictions but are not among the scored images, e.g. {outside[0]}", field="image_id")
    values = {}
    for sample_id, image_id in zip(ids, all_image_ids):
        if image_id not in scored:
            continue
        group = grouped.get(image_id)
        dets = []
        if group is not None:
            for row in group.itertuples(index=False):
                box = xyxy_to_xywh([float(getattr(row, c)) for c in BOX_COLUMNS]).tolist()
                dets.append(fo.Detection(label=row.object_type, bounding_box=box, confidence=float(row.score)))
        values[sample_id] = fo.Detections(detections=dets)
    view = ds if image_ids is None else ds.select(list(values))
    view.set_values(PREDICTIONS, values, key_field="id")
    result = view.evaluate_detections(PREDICTIONS, gt_field=GROUND_TRUTH, eval_key=eval_key, iou=iou)
    base = view.match_tags("augmented", bool=False)
    ds.save_view(f"false positives ({eval_key})", base.filter_labels(PREDICTIONS, F(eval_key) == "fp").sort_by(f"{eval_key}_fp", reverse=True), overwrite=True)
    ds.save_view(f"false negatives ({eval_key})", base.filter_labels(GROUND_TRUTH, F(eval_key) == "fn").sort_by(f"{eval_key}_fn", reverse=True), overwrite=True)
    tp, fp, fn = (int(view.sum(f"{eval_key}_{k}")) for k in ("tp", "fp", "fn"))
    return {
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "tp": tp, "fp": fp, "fn": fn, "mAP": float(result.mAP()) if hasattr(result, "mAP") else float("nan"),
    }


# ---------------------------------------------------------------------------------------------
# FiftyOne -> tables


@dataclass
class FiftyOneState:
    """What FiftyOne holds now: label rows in table form, plus what each sample was sent with."""

    labels: pd.DataFrame  # MIRRORED columns + label_id, kind (detection|whole), tags, sample_id
    sent: dict[str, dict[str, tuple[str, str]]]  # image_id -> {object_id: (row hash, content hash) as sent}
    sample_ids: dict[str, str]  # image_id -> FiftyOne sample id
    sample_tags: dict[str, list[str]]


_DET_FIELDS = ["id", "object_id", "label", "bounding_box", "category", "pattern", "style", "other_attributes",
               "source_label", "box_origin", "box_confidence", "review_status", "tags"]
_CAT_FIELDS = ["id", "object_id", "label", "object_type", "pattern", "style", "other_attributes",
               "source_label", "box_origin", "box_confidence", "review_status", "tags"]


def _fiftyone_state(view) -> FiftyOneState:
    paths = ["id", "image_id", "tags", "curate_objects"]
    paths += [f"{GROUND_TRUTH}.detections.{f}" for f in _DET_FIELDS]
    paths += [f"{CATEGORY}.{f}" for f in _CAT_FIELDS]
    paths += [f"{ATTRIBUTES}.classifications.label", f"{ATTRIBUTES}.classifications.object_id"]
    values = view.values(paths)
    n_sample = 4
    sample_ids, image_ids, tags, sent_lists = values[:n_sample]
    det = dict(zip(_DET_FIELDS, values[n_sample:n_sample + len(_DET_FIELDS)]))
    cat = dict(zip(_CAT_FIELDS, values[n_sample + len(_DET_FIELDS):n_sample + len(_DET_FIELDS) + len(_CAT_FIELDS)]))
    attr_labels, attr_owners = values[-2:]
    records = []
    for i, image_id in enumerate(image_ids):
        for j, label_id in enumerate(det["id"][i] or []):
            get = {k: (det[k][i][j] if det[k][i] is not None else None) for k in _DET_FIELDS}
            box = xywh_to_xyxy(get["bounding_box"] or [np.nan] * 4)
            records.append({
                "label_id": label_id, "kind": "detection", "sample_id": sample_ids[i], "image_id": image_id,
                "object_id": get["object_id"], **dict(zip(BOX_COLUMNS, box.tolist())),
                "object_type": get["label"], "category": get["category"], "pattern": get["pattern"],
                "style": get["style"], "attributes": list(get["other_attributes"] or []),
                "source_label": get["source_label"], "box_origin": get["box_origin"],
                "box_confidence": get["box_confidence"], "review_status": get["review_status"],
                "tags": list(get["tags"] or []),
            })
        if cat["id"][i] is not None:
            object_id = cat["object_id"][i]
            entries = [lab for lab, owner in zip(attr_labels[i] or [], attr_owners[i] or []) if owner in (object_id, None)]
            pattern = [e.split(":", 1)[1] for e in entries if e.startswith("pattern:")]
            style = [e.split(":", 1)[1] for e in entries if e.startswith("style:")]
            others = [e for e in entries if not e.startswith(("pattern:", "style:"))]
            # a second pattern or style stays visible as an extra entry, which the taxonomy view flags
            others = [f"pattern:{p}" for p in pattern[1:]] + [f"style:{s}" for s in style[1:]] + others
            records.append({
                "label_id": cat["id"][i], "kind": "whole", "sample_id": sample_ids[i], "image_id": image_id,
                "object_id": object_id, "x_min": np.nan, "y_min": np.nan, "x_max": np.nan, "y_max": np.nan,
                "object_type": cat["object_type"][i], "category": cat["label"][i],
                "pattern": pattern[0] if pattern else None, "style": style[0] if style else None,
                "attributes": others, "source_label": cat["source_label"][i], "box_origin": cat["box_origin"][i],
                "box_confidence": cat["box_confidence"][i], "review_status": cat["review_status"][i],
                "tags": list(cat["tags"][i] or []),
            })
    columns = ["label_id", "kind", "sample_id", *MIRRORED, "tags"]
    labels = pd.DataFrame(records, columns=columns)
    sent = {
        image_id: {oid: (full, content) for oid, full, content in (pair.rsplit(":", 2) for pair in (pairs or []))}
        for image_id, pairs in zip(image_ids, sent_lists)
    }
    return FiftyOneState(labels, sent, dict(zip(image_ids, sample_ids)), dict(zip(image_ids, [list(t or []) for t in tags])))


def _edited_images(state: FiftyOneState, objects: pd.DataFrame) -> list[str]:
    """Images whose FiftyOne labels differ from what was sent (curator edits not yet synced)."""
    desired = _desired_rows(state, objects)
    return sorted(set(desired.loc[desired["touched"], "image_id"]) | set(_deleted_rows(state)["image_id"]))


def _desired_rows(state: FiftyOneState, objects: pd.DataFrame, tax=None) -> pd.DataFrame:
    """Each FiftyOne label as the object row it asks for, with `touched` = differs from what was sent.

    The review status follows the curator: a `reject` tag (on the label or its sample) wins, then
    any change of content (edited), then an `accept` tag, else the status the label carries.
    """
    labels = state.labels.copy()
    new = labels["object_id"].isna()
    labels.loc[new, "object_id"] = [stable_id(i, "fiftyone", lid) for i, lid in zip(labels.loc[new, "image_id"], labels.loc[new, "label_id"])]
    labels["new"] = new & ~labels["object_id"].isin(objects["object_id"])
    labels.loc[new & labels["kind"].eq("detection") & labels["box_origin"].isna(), "box_origin"] = "manual"
    labels.loc[new & labels["source_label"].isna(), "source_label"] = CURATOR_SOURCE_LABEL
    sent = [state.sent.get(i, {}).get(o, (None, None)) for i, o in zip(labels["image_id"], labels["object_id"])]
    labels["sent_hash"] = pd.Series([s[0] for s in sent], index=labels.index, dtype=object)
    sent_content = pd.Series([s[1] for s in sent], index=labels.index, dtype=object)
    if tax is not None and len(labels):
        # a curator who changes only the category expects the object type to follow it
        disk = objects.set_index("object_id")
        before_category = labels["object_id"].map(disk["category"])
        before_type = labels["object_id"].map(disk["object_type"])
        follows = (
            labels["category"].isin(list(tax.categories))
            & (labels["category"] != before_category)
            & (labels["object_type"].isna() | (labels["object_type"] == before_type) | before_type.isna())
        )
        labels.loc[follows, "object_type"] = labels.loc[follows, "category"].map(tax.object_type_of)
    edited = labels["new"] | (object_row_hashes(labels, with_status=False) != sent_content)
    tags = labels["tags"].map(set)
    sample_tags = labels["image_id"].map(lambda i: set(state.sample_tags.get(i, [])))
    reject = tags.map(lambda t: REJECT in t) | sample_tags.map(lambda t: REJECT in t)
    accept = tags.map(lambda t: ACCEPT in t) | sample_tags.map(lambda t: ACCEPT in t)
    status = labels["review_status"].where(labels["review_status"].notna(), "unreviewed").astype(object)
    status[accept] = "accepted"
    status[edited] = "edited"
    status[reject] = "rejected"
    labels["review_status"] = status
    labels["row_hash"] = object_row_hashes(labels)
    labels["touched"] = labels["row_hash"] != labels["sent_hash"]
    return labels


def _deleted_rows(state: FiftyOneState) -> pd.DataFrame:
    """Objects sent to a sample that no label of that sample carries any more."""
    present = set(state.labels["object_id"].dropna())
    rows = [(image_id, oid, h) for image_id, pairs in state.sent.items() for oid, (h, _) in pairs.items() if oid not in present]
    return pd.DataFrame(rows, columns=["image_id", "object_id", "sent_hash"])


@dataclass
class SyncReport:
    name: str
    applied: dict[str, int] = field(default_factory=dict)  # edited/created/deleted/accepted/rejected
    conflicts: list[Problem] = field(default_factory=list)
    stale: int = 0
    changes: int = 0


def _format(value) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (float, np.floating)):
        return str(np.float32(value))
    if isinstance(value, (list, tuple, np.ndarray)):
        return json.dumps(list(value))
    return str(value)


def _row_json(row: pd.Series | dict) -> str:
    return json.dumps({c: _format(row[c]) for c in MIRRORED if c not in ("object_id", "image_id")})


def _check_boxes(labels: pd.DataFrame, name: str) -> None:
    boxes = labels.loc[labels["kind"] == "detection", ["image_id", "object_id", "label_id", *BOX_COLUMNS]]
    problems = []
    for row in boxes.itertuples(index=False):
        coords = np.array([row.x_min, row.y_min, row.x_max, row.y_max], dtype=np.float64)
        if np.isnan(coords).any():
            message = "expected [x, y, width, height]"
        elif not (row.x_min < row.x_max and row.y_min < row.y_max):
            message = f"expected x1 < x2 and y1 < y2, found x1={row.x_min:.4g} x2={row.x_max:.4g} y1={row.y_min:.4g} y2={row.y_max:.4g}"
        elif coords.min() < 0 or coords.max() > 1:
            message = f"coordinates must lie within 0..1, found {np.round(coords, 4).tolist()}"
        else:
            continue
        problems.append(Problem(f"FiftyOne dataset '{name}'", f"image {row.image_id} label {row.label_id} (object_id={row.object_id})", f"{GROUND_TRUTH}.bounding_box", message))
    if problems:
        raise CurateError.from_problems(problems)


def sync_dataset(dataset_path: str | Path, name: str | None = None, taxonomy=None) -> SyncReport:
    """Apply curator edits from FiftyOne to objects.parquet and log each one in changes.parquet.

    Rows changed on disk since they were sent and also edited in FiftyOne are conflicts: the whole
    sample is left alone on both sides and reported. Nothing is written if any edited box is invalid.
    """
    from curate.taxonomy import load_taxonomy

    dataset = read_dataset(dataset_path)
    tax = taxonomy or load_taxonomy()
    name = name or default_review_name(dataset)
    fo = _fiftyone()
    ds = _load_fo_dataset(fo, name)
    state = _fiftyone_state(ds)
    objects = _as_python(dataset.objects)
    report = SyncReport(name)
    _check_boxes(state.labels, name)

    desired = _desired_rows(state, objects, tax)
    disk_hash = pd.Series(object_row_hashes(objects).to_numpy(), index=objects["object_id"].to_numpy())
    desired["disk_hash"] = desired["object_id"].map(disk_hash)
    deleted = _deleted_rows(state)
    deleted["disk_hash"] = deleted["object_id"].map(disk_hash)
    deleted = deleted[deleted["disk_hash"].notna()]  # already gone on disk: nothing to delete

    touched = desired[desired["touched"]]
    moved_on_disk = touched["sent_hash"].notna() & (touched["disk_hash"] != touched["sent_hash"])
    conflict_rows = pd.concat([
        touched.loc[moved_on_disk, ["image_id", "object_id", "label_id"]],
        deleted.loc[deleted["disk_hash"] != deleted["sent_hash"], ["image_id", "object_id"]].assign(label_id="(deleted)"),
    ])
    report.conflicts = [
        Problem(f"{dataset.path / OBJECTS_FILE}", f"image {r.image_id} object {r.object_id}", None,
                f"changed on disk since it was sent to FiftyOne and edited there too (label {r.label_id}); "
                "left as is on both sides: resolve it, then re-run `curate review` and `curate review sync`")
        for r in conflict_rows.itertuples(index=False)
    ]
    blocked = set(conflict_rows["image_id"])
    report.stale = int(((desired["disk_hash"] != desired["sent_hash"]) & desired["sent_hash"].notna() & ~desired["touched"]).sum())

    apply = touched[~touched["image_id"].isin(blocked)]
    apply = apply[apply["disk_hash"] != apply["row_hash"]]  # an earlier sync may already hold it
    removed = deleted[~deleted["image_id"].isin(blocked)]
    now = pd.Timestamp(_dt.datetime.now(_dt.timezone.utc))
    changes: list[dict] = []
    updated = objects.set_index("object_id", drop=False)
    counts = {"edited": 0, "created": 0, "deleted": 0, "accepted": 0, "rejected": 0}
    for row in apply.itertuples(index=False):
        row = row._asdict()
        if row["object_id"] not in updated.index:
            changes.append({"object_id": row["object_id"], "image_id": row["image_id"], "field": "object", "before": None, "after": _row_json(row), "when": now})
            new_row = {c: row[c] for c in MIRRORED}
            updated = pd.concat([updated, pd.DataFrame([new_row]).set_index(pd.Index([row["object_id"]]))])
            counts["created"] += 1
            continue
        before = updated.loc[row["object_id"]]
        for col in MIRRORED:
            old, new = _format(before[col]), _format(row[col])
            if old != new:
                changes.append({"object_id": row["object_id"], "image_id": row["image_id"], "field": col, "before": old, "after": new, "when": now})
                updated.at[row["object_id"], col] = list(row[col]) if col == "attributes" else row[col]
        status = row["review_status"]
        counts[{"accepted": "accepted", "rejected": "rejected"}.get(status, "edited")] += 1
    for row in removed.itertuples(index=False):
        changes.append({"object_id": row.object_id, "image_id": row.image_id, "field": "object", "before": _row_json(updated.loc[row.object_id]), "after": None, "when": now})
        counts["deleted"] += 1
    updated = updated.drop(index=list(removed["object_id"]))
    report.applied = {k: v for k, v in counts.items() if v}
    report.changes = len(changes)
    if not changes:
        return report

    new_objects = updated.reset_index(drop=True).astype(dataset.objects.dtypes.to_dict())
    save_tables(dataset.path, dataset.images, new_objects, dataset.meta)
    append_changes(dataset.path, pd.DataFrame(changes, columns=list(CHANGES_SCHEMA.names)))

    # Send the synced samples back so FiftyOne holds exactly the rows now on disk.
    touched_images = sorted(set(apply["image_id"]) | set(removed["image_id"]))
    refreshed = read_dataset(dataset.path)
    images, prepared, _ = _prepared(refreshed, tax)
    rows = _rows_by_image(prepared)
    by_id = images.set_index("image_id", drop=False)
    _overwrite_samples(fo, ds, refreshed, by_id, rows, {state.sample_ids[i]: i for i in touched_images}, drop_tags=ORIGIN_TAGS + (ACCEPT, REJECT))
    return report


def _overwrite_samples(fo, ds, dataset: Dataset, images_by_id: pd.DataFrame, rows: dict[str, list[dict]],
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
        fresh[sid], extra = _build_sample(fo, dataset, images_by_id.loc[image_id].to_dict(), rows.get(image_id, []), keep)
        unmirrored += extra
    names = {name for sample in fresh.values() for name in sample.field_names} - {"id", "created_at", "last_modified_at"}
    for name in sorted(names):
        view.set_values(name, {sid: sample[name] for sid, sample in fresh.items()}, key_field="id")
    return unmirrored


# ---------------------------------------------------------------------------------------------
# The App


def launch_app(name: str, view: str | None = None, port: int = 5151, remote: bool = False, wait: bool = True):
    """Open the App on 127.0.0.1 for the named dataset (optionally a saved view) and block.

    Ctrl-C (or SIGTERM) closes the session, which stops FiftyOne's App server, so no server
    process outlives the command.
    """
    import signal

    fo = _fiftyone()
    ds = _load_fo_dataset(fo, name)
    target = ds
    if view:
        if not ds.has_saved_view(view):
            raise CurateError(f"FiftyOne dataset '{name}' has no saved view '{view}'; saved views: {', '.join(ds.list_saved_views())}")
        target = ds.load_saved_view(view)
    session = fo.launch_app(target, port=port, address="127.0.0.1", remote=remote, auto=not remote)
    if not wait:
        return session

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    # a shell may start us with SIGINT ignored (background jobs); Ctrl-C must still stop the App
    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        session.wait(-1)
    except KeyboardInterrupt:
        pass
    finally:
        session.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return session
