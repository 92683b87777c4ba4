"""Category and attribute predictions as FiftyOne evaluation runs over one sample per object.

FiftyOne's classification evaluation compares one Classification field with another on each
sample, but the review dataset holds an image's boxed objects as Detections in `ground_truth`
(many objects on one sample) and its whole-image object as the sample-level `category`. The runs
are therefore stored in a persistent companion dataset, `<review name>-objects`, with one sample
per evaluated object, boxed or whole-image alike:

    filepath, metadata       the object's image; the App draws the box on the whole picture
    object                   the box as a Detection labelled with the object type (boxed objects only)
    object_id, image_id, split, object_type, whole_image, curate_hash
    category                 the true category (Classification)
    category_prediction      the classifier's top-1 label and its probability as confidence
    attributes               the true pattern:/style:/key:value labels (Classifications)
    attributes_prediction    the tagger's emitted labels, their scores as confidence
    (every attribute label carries `attribute_key`: pattern, style, sleeve style, ...)

Why this and not FiftyOne's own object views:
- a patches view (`to_patches("ground_truth")`) holds each object as a Detection, which
  `evaluate_classifications` refuses; its samples are regenerated in a temporary collection
  every time the view is loaded, so the predictions and the per-sample correctness written on
  them would not survive, and a whole-image object has no patch at all;
- `fiftyone.core.patches.make_patches_dataset` persists, but again only boxed objects as
  Detections, and rebuilt from scratch it gives every object a new sample id on each run, while a
  stored evaluation refers to its samples by id;
- built here, both kinds of object are samples of one shape, a sample keeps its id from run to
  run (matched by object_id; only objects whose row changed are rewritten), and a category run is
  FiftyOne's own classification evaluation, so `results.print_report()`, the confusion matrix
  and the App's evaluation panel work as on any classification dataset.

FiftyOne has no multi-label evaluation: an attribute run writes "tp" / "fp" / "fn" on each true
and each predicted label (attribute `<eval key>`), the counts per sample (`<eval key>_tp`, ...)
and registers a FiftyOne run holding the counts per label.

The companion is derived from the Parquet tables, which stay the truth: its true labels are
refreshed from them on every run and nothing here writes a table. Curators fix labels in the review
dataset, where a saved view of the same objects ("category errors (<eval key>)") is added so the
fix can be synced.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from curate.dataset import BOX_COLUMNS, OBJECTS_FILE, Dataset, read_dataset
from curate.errors import CurateError
from curate.geometry import xyxy_to_xywh
from curate.review.connection import OBJECTS_OF, import_fiftyone, load_review_dataset
from curate.review.labels import (
    ATTRIBUTES,
    CATEGORY,
    GROUND_TRUTH,
    as_python,
    default_review_name,
    label_entries,
    object_row_hashes,
)

OBJECTS_SUFFIX = "-objects"
OBJECT = "object"
CATEGORY_PREDICTION = "category_prediction"
ATTRIBUTES_PREDICTION = "attributes_prediction"
MISSING = "(none)"  # the class of an object the classifier gave no category
TRUTH_FIELDS = ("filepath", "metadata", "image_id", "split", "object_type", "whole_image", "curate_hash", OBJECT, CATEGORY, ATTRIBUTES)


def objects_dataset_name(review_name: str) -> str:
    """The companion dataset of per-object samples beside a review dataset."""
    return f"{review_name}{OBJECTS_SUFFIX}"


def run_key(stage: str, split: str) -> str:
    """eval_category_gold, eval_attributes_test, ...: the evaluation key of a stage on a split."""
    return f"eval_{stage}_{re.sub(r'[^0-9a-zA-Z_]', '_', split)}"


# ---------------------------------------------------------------------------------------------
# The companion dataset


def _object_rows(dataset: Dataset) -> pd.DataFrame:
    """Every object with its image's path, size and split, and the hash its sample is built from."""
    images = dataset.images[["image_id", "path", "split", "width", "height"]]
    objects = as_python(dataset.objects.merge(images, on="image_id", how="inner"))
    hashes = object_row_hashes(objects) if len(objects) else pd.Series([], dtype=object)
    objects["curate_hash"] = hashes + ":" + objects["split"].fillna("").astype(str) + ":" + objects["path"].astype(str)
    return objects.set_index("object_id", drop=False)


def _object_sample(fo, dataset: Dataset, row: dict):
    boxed = row["x_min"] is not None and not pd.isna(row["x_min"])
    box = fo.Detection(label=row["object_type"], bounding_box=xyxy_to_xywh([float(row[c]) for c in BOX_COLUMNS]).tolist()) if boxed else None
    size = [row.get("width"), row.get("height")]
    known = all(v is not None and not pd.isna(v) and v > 0 for v in size)
    return fo.Sample(
        filepath=str(dataset.image_path(row["path"]).resolve()),
        metadata=fo.ImageMetadata(width=int(size[0]), height=int(size[1])) if known else None,
        object_id=row["object_id"], image_id=row["image_id"], split=row["split"], object_type=row["object_type"],
        whole_image=not boxed, curate_hash=row["curate_hash"], **{OBJECT: box},
        category=fo.Classification(label=row["category"]) if row["category"] is not None else None,
        attributes=fo.Classifications(classifications=[fo.Classification(label=e, attribute_key=e.partition(":")[0]) for e in label_entries(row)]),
    )


def _declare_schema(fo, ods) -> None:
    from fiftyone.core.odm.utils import create_field

    for name, kind in (("object_id", fo.StringField), ("image_id", fo.StringField), ("split", fo.StringField),
                       ("object_type", fo.StringField), ("whole_image", fo.BooleanField), ("curate_hash", fo.StringField)):
        ods.add_sample_field(name, kind)
    ods.add_sample_field(OBJECT, fo.EmbeddedDocumentField, embedded_doc_type=fo.Detection)
    for name in (CATEGORY, CATEGORY_PREDICTION):
        ods.add_sample_field(name, fo.EmbeddedDocumentField, embedded_doc_type=fo.Classification)
    for name in (ATTRIBUTES, ATTRIBUTES_PREDICTION):
        ods.add_sample_field(name, fo.EmbeddedDocumentField, embedded_doc_type=fo.Classifications, fields=[
            create_field("classifications", fo.ListField, subfield=fo.EmbeddedDocumentField, embedded_doc_type=fo.Classification,
                         fields=[create_field("attribute_key", fo.StringField)])
        ])


def objects_dataset(fo, review, dataset: Dataset, split: str):
    """The companion dataset, created if needed and brought in step with the tables.

    Samples of objects no longer in the tables are deleted, samples whose row (or image, or split)
    changed get their true labels rewritten, and every object of `split` gets a sample.
    Predictions and evaluation fields of unchanged samples are kept."""
    name = objects_dataset_name(review.name)
    if fo.dataset_exists(name):
        ods = fo.load_dataset(name)
    else:
        ods = fo.Dataset(name, persistent=True)
        ods.info.update({OBJECTS_OF: review.name, "curate_dataset": str(dataset.path.resolve())})
        ods.save()
        _declare_schema(fo, ods)
    rows = _object_rows(dataset)
    ids, object_ids, hashes = ods.values(["id", "object_id", "curate_hash"])
    gone = [sid for sid, oid in zip(ids, object_ids) if oid not in rows.index]
    if gone:
        ods.delete_samples(gone)
    changed = {sid: oid for sid, oid, h in zip(ids, object_ids, hashes) if oid in rows.index and rows.at[oid, "curate_hash"] != h}
    if changed:
        fresh = {sid: _object_sample(fo, dataset, rows.loc[oid].to_dict()) for sid, oid in changed.items()}
        view = ods.select(list(fresh))
        for field in TRUTH_FIELDS:
            view.set_values(field, {sid: sample[field] for sid, sample in fresh.items()}, key_field="id")
    new = rows[(rows["split"] == split) & ~rows["object_id"].isin(set(object_ids))]
    if len(new):
        ods.add_samples([_object_sample(fo, dataset, row) for row in new.to_dict("records")])
    return ods


# ---------------------------------------------------------------------------------------------
# Checking what a run is given


def _checked(dataset: Dataset, predictions: pd.DataFrame, split: str, columns: Sequence[str]) -> list[str]:
    """The predicted object ids, each an object of `split` in the tables, each once."""
    missing = [c for c in columns if c not in predictions.columns]
    if missing:
        raise CurateError.at("predictions", f"missing columns; expected {', '.join(columns)}", field=", ".join(missing))
    object_ids = predictions["object_id"].astype(str).tolist()
    if not object_ids:
        raise CurateError.at("predictions", f"no objects of split '{split}' were predicted; expected at least one", field="object_id")
    twice = sorted(predictions.loc[predictions["object_id"].duplicated(), "object_id"].astype(str).unique())
    if twice:
        raise CurateError.at("predictions", f"{len(twice)} object_id(s) predicted more than once, e.g. {twice[0]}; expected one prediction per object", field="object_id")
    split_of = dataset.objects[["object_id", "image_id"]].merge(dataset.images[["image_id", "split"]], on="image_id", how="left").set_index("object_id")["split"]
    unknown = [o for o in object_ids if o not in split_of.index]
    if unknown:
        raise CurateError.at(dataset.path / OBJECTS_FILE, f"{len(unknown)} predicted object_id(s) not in the table, e.g. {unknown[0]}", field="object_id")
    outside = [o for o in object_ids if split_of.get(o) != split]
    if outside:
        raise CurateError.at(dataset.path / OBJECTS_FILE, f"{len(outside)} predicted object(s) are not in split '{split}', e.g. {outside[0]} (split {split_of.get(outside[0])})", field="split")
    return object_ids


def _open(dataset: str | Path | Dataset):
    dataset = dataset if isinstance(dataset, Dataset) else read_dataset(dataset)
    fo = import_fiftyone()
    return dataset, fo, load_review_dataset(fo, default_review_name(dataset))


def _evaluated_view(ods, object_ids: Sequence[str]):
    sample_of = dict(zip(*ods.values(["object_id", "id"])))
    return ods.select([sample_of[o] for o in object_ids], ordered=True)


def _clear_predictions(ods, split: str, field: str) -> None:
    """The split's samples lose an earlier model's predictions; the evaluated ones get new ones."""
    from fiftyone import ViewField as F

    in_split = ods.match(F("split") == split)
    in_split.set_values(field, [None] * len(in_split))


def _save_review_view(review, name: str, object_ids: Sequence[str]) -> None:
    """A saved view of the review dataset showing just these objects, where edits can be synced."""
    from fiftyone import ViewField as F

    ids = sorted(set(object_ids))
    holds = (F(f"{GROUND_TRUTH}.detections").filter(F("object_id").is_in(ids)).length() > 0) | F(f"{CATEGORY}.object_id").is_in(ids)
    review.save_view(name, review.match(holds).filter_labels(GROUND_TRUTH, F("object_id").is_in(ids), only_matches=False), overwrite=True)


# ---------------------------------------------------------------------------------------------
# Category runs


def add_category_predictions(dataset: str | Path | Dataset, predictions: pd.DataFrame, split: str, eval_key: str | None = None) -> dict[str, Any]:
    """The classifier's category per object as FiftyOne's classification evaluation `eval_key`.

    `predictions` has object_id, category (None when the model gave none) and confidence, one
    row per evaluated object of `split`. Saved views on the companion dataset:
    "category false positives (<key>)" (the wrong objects by predicted class, most confident
    first) and "category false negatives (<key>)" (the same objects by true class); on the review
    dataset "category errors (<key>)" shows them where a wrong truth can be fixed and synced.
    Returns the evaluation key, the companion's name, the objects, the accuracy and the wrong count.
    """
    dataset, fo, review = _open(dataset)
    from fiftyone import ViewField as F

    object_ids = _checked(dataset, predictions, split, ("object_id", "category", "confidence"))
    key = eval_key or run_key("category", split)
    ods = objects_dataset(fo, review, dataset, split)
    _clear_predictions(ods, split, CATEGORY_PREDICTION)
    view = _evaluated_view(ods, object_ids)
    labels = {}
    for oid, category, confidence in zip(object_ids, predictions["category"], predictions["confidence"]):
        known = isinstance(category, str) and category != ""
        labels[oid] = fo.Classification(label=category, confidence=None if confidence is None or pd.isna(confidence) else float(confidence)) if known else None
    view.set_values(CATEGORY_PREDICTION, [labels[o] for o in view.values("object_id")])
    if ods.has_evaluation(key):
        ods.delete_evaluation(key)
    results = view.evaluate_classifications(CATEGORY_PREDICTION, gt_field=CATEGORY, eval_key=key, missing=MISSING)
    wrong = view.match(F(key) == False)  # noqa: E712
    ods.save_view(f"category false positives ({key})", wrong.sort_by([(f"{CATEGORY_PREDICTION}.label", 1), (f"{CATEGORY_PREDICTION}.confidence", -1)]), overwrite=True)
    ods.save_view(f"category false negatives ({key})", wrong.sort_by([(f"{CATEGORY}.label", 1), (f"{CATEGORY_PREDICTION}.confidence", -1)]), overwrite=True)
    wrong_ids = wrong.values("object_id")
    _save_review_view(review, f"category errors ({key})", wrong_ids)
    return {"eval_key": key, "dataset": ods.name, "objects": len(view), "accuracy": float(results.metrics()["accuracy"]), "wrong": len(wrong_ids)}


# ---------------------------------------------------------------------------------------------
# Attribute runs


def _attribute_fields(key: str) -> tuple[str, ...]:
    return (f"{ATTRIBUTES}.classifications.{key}", f"{ATTRIBUTES_PREDICTION}.classifications.{key}", f"{key}_tp", f"{key}_fp", f"{key}_fn")


def _clear_attribute_run(ods, key: str) -> None:
    """An earlier run under this key leaves nothing behind: its marks, counts, run and views."""
    for path in _attribute_fields(key):
        if ods.has_field(path):
            ods.delete_sample_field(path)
    if ods.has_run(key):
        ods.delete_run(key)
    for name in ods.list_saved_views():
        if name.startswith("attribute ") and name.endswith(f" ({key})"):
            ods.delete_saved_view(name)


def _mark(truth: list[str], predicted: dict[str, float]) -> tuple[list[str], list[tuple[str, float, str]]]:
    """tp/fn for each true label, (label, score, tp/fp) for each predicted one."""
    return ["tp" if t in predicted else "fn" for t in truth], [(p, s, "tp" if p in truth else "fp") for p, s in predicted.items()]


def add_attribute_predictions(dataset: str | Path | Dataset, predictions: pd.DataFrame, split: str, eval_key: str | None = None) -> dict[str, Any]:
    """The tagger's labels per object, each true and predicted label marked tp / fp / fn.

    `predictions` has object_id, labels (the emitted `key:value` labels) and scores (label ->
    score), one row per evaluated object of `split`. On the companion dataset each label of
    `attributes` and `attributes_prediction` gets `<eval_key>` = tp / fp / fn, each sample
    `<eval_key>_tp`, `_fp`, `_fn`, and a FiftyOne run `<eval_key>` keeps the counts per label.
    Saved views: "attribute false positives (<key>)" and "attribute false negatives (<key>)"
    (only those labels shown, most errors first), "attribute errors: <attribute key> (<key>)" per
    key with errors, and "attribute errors (<key>)" on the review dataset.
    """
    dataset, fo, review = _open(dataset)
    from fiftyone import ViewField as F

    object_ids = _checked(dataset, predictions, split, ("object_id", "labels", "scores"))
    key = eval_key or run_key("attributes", split)
    ods = objects_dataset(fo, review, dataset, split)
    _clear_attribute_run(ods, key)
    _clear_predictions(ods, split, ATTRIBUTES_PREDICTION)
    truth_field, pred_field, tp_field, fp_field, fn_field = _attribute_fields(key)
    for path in (truth_field, pred_field):
        ods.add_sample_field(path, fo.StringField)
    view = _evaluated_view(ods, object_ids)
    emitted = {}
    for oid, names, scores in zip(object_ids, predictions["labels"], predictions["scores"]):
        scores = dict(scores or {})
        emitted[oid] = {str(n): None if scores.get(n) is None else float(scores[n]) for n in (list(names) if names is not None else [])}
    truth_marks, predicted, counts = [], [], {"tp": [], "fp": [], "fn": []}
    per_label: dict[str, dict[str, int]] = {}
    for oid, truth in zip(*view.values(["object_id", f"{ATTRIBUTES}.classifications.label"])):
        marks, pred = _mark(list(truth or []), emitted[oid])
        truth_marks.append(marks)
        predicted.append(fo.Classifications(classifications=[
            fo.Classification(label=p, confidence=s, attribute_key=p.partition(":")[0], **{key: m}) for p, s, m in pred
        ]))
        for label, mark in [*zip(truth or [], marks), *((p, m) for p, _, m in pred if m == "fp")]:
            per_label.setdefault(label, {"tp": 0, "fp": 0, "fn": 0})[mark] += 1
        counts["tp"].append(marks.count("tp"))
        counts["fn"].append(marks.count("fn"))
        counts["fp"].append(sum(m == "fp" for _, _, m in pred))
    view.set_values(ATTRIBUTES_PREDICTION, predicted)
    view.set_values(truth_field, truth_marks)
    for kind, field in (("tp", tp_field), ("fp", fp_field), ("fn", fn_field)):
        view.set_values(field, counts[kind])
    totals = {kind: int(sum(values)) for kind, values in counts.items()}
    ods.register_run(key, ods.init_run(method="per-label tp/fp/fn", gt_field=ATTRIBUTES, pred_field=ATTRIBUTES_PREDICTION, split=split), overwrite=True)
    ods.save_run_results(key, ods.init_run_results(key, **totals, per_label=dict(sorted(per_label.items()))))

    ods.save_view(f"attribute false positives ({key})", view.filter_labels(ATTRIBUTES_PREDICTION, F(key) == "fp").sort_by(fp_field, reverse=True), overwrite=True)
    ods.save_view(f"attribute false negatives ({key})", view.filter_labels(ATTRIBUTES, F(key) == "fn").sort_by(fn_field, reverse=True), overwrite=True)
    for attribute_key in sorted({label.partition(":")[0] for label, c in per_label.items() if c["fp"] or c["fn"]}):
        errors = (
            view.filter_labels(ATTRIBUTES, (F(key) == "fn") & (F("attribute_key") == attribute_key), only_matches=False)
            .filter_labels(ATTRIBUTES_PREDICTION, (F(key) == "fp") & (F("attribute_key") == attribute_key), only_matches=False)
        )
        size = F(f"{ATTRIBUTES}.classifications").length() + F(f"{ATTRIBUTES_PREDICTION}.classifications").length()
        ods.save_view(f"attribute errors: {attribute_key} ({key})", errors.match(size > 0).sort_by(size, reverse=True), overwrite=True)
    wrong_ids = view.match((F(fp_field) > 0) | (F(fn_field) > 0)).values("object_id")
    _save_review_view(review, f"attribute errors ({key})", wrong_ids)
    tp, fp, fn = totals["tp"], totals["fp"], totals["fn"]
    return {
        "eval_key": key, "dataset": ods.name, "objects": len(view), "tp": tp, "fp": fp, "fn": fn,
        "precision": tp / (tp + fp) if tp + fp else 0.0, "recall": tp / (tp + fn) if tp + fn else 0.0,
    }
