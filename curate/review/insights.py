"""Catalogue insights in the FiftyOne App: similarity indexes and the "likely mislabelled" view.

Feeds the review dataset that `curate review DATASET` created with
- the stored embeddings, as FiftyOne Brain similarity indexes (scikit-learn backend, cosine):
  one over images and one over the `ground_truth` boxes, so a curator can sort by "similar to
  this" in the App;
- the label issue scores from `curate mislabelled`, on each label and as the sample's maximum,
  and a saved view "likely mislabelled" sorted by that score.

FiftyOne is imported inside functions only (through curate.review.connection).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from curate.dataset import read_dataset
from curate.errors import CurateError
from curate.intel.embeddings import read_embeddings
from curate.review.connection import import_fiftyone, load_review_dataset
from curate.review.labels import CATEGORY, GROUND_TRUTH, default_review_name

IMAGE_INDEX = "curate_image_similarity"
OBJECT_INDEX = "curate_object_similarity"
MISLABELLED_VIEW = "likely mislabelled"
SCORE = "label_issue_score"


def push_insights(dataset_path: str | Path, name: str | None = None, model_sha256: str | None = None) -> dict:
    """Add the similarity indexes, label issue scores and the saved view; returns what was added."""
    dataset = read_dataset(dataset_path)
    fo = import_fiftyone()
    ds = load_review_dataset(fo, name or default_review_name(dataset))
    store = read_embeddings(dataset.path, model_sha256)
    added = {"images_indexed": _index_images(ds, store), "boxes_indexed": _index_boxes(ds, store)}
    if SCORE in dataset.objects.columns:
        added["scored_samples"] = _set_scores(ds, dataset.objects)
    return added


def _index_images(ds, store) -> int:
    import fiftyone.brain as fob

    images = store.select("image")
    row_of = {key: i for i, key in enumerate(images.rows["key"])}
    ids, image_ids = ds.values(["id", "image_id"])
    keep = [(sid, row_of[iid]) for sid, iid in zip(ids, image_ids) if iid in row_of]
    if not keep:
        raise CurateError("no FiftyOne sample has an embedded image: run `curate embed` and `curate review` on the same dataset")
    view = ds.select([sid for sid, _ in keep], ordered=True)
    if ds.has_brain_run(IMAGE_INDEX):
        ds.delete_brain_run(IMAGE_INDEX)
    fob.compute_similarity(view, embeddings=images.vectors[[row for _, row in keep]], backend="sklearn", metric="cosine", brain_key=IMAGE_INDEX)
    return len(keep)


def _index_boxes(ds, store) -> int:
    import fiftyone.brain as fob
    from fiftyone import ViewField as F

    objects = store.select("object")
    row_of = {key: i for i, key in enumerate(objects.rows["key"])}
    view = ds.filter_labels(GROUND_TRUTH, F("object_id").is_in(list(row_of)))
    if not len(view):
        return 0
    ids, owners = view.values(["id", f"{GROUND_TRUTH}.detections.object_id"])
    embeddings = {sid: objects.vectors[[row_of[o] for o in owned]] for sid, owned in zip(ids, owners)}
    if ds.has_brain_run(OBJECT_INDEX):
        ds.delete_brain_run(OBJECT_INDEX)
    fob.compute_similarity(view, patches_field=GROUND_TRUTH, embeddings=embeddings, backend="sklearn", metric="cosine", brain_key=OBJECT_INDEX)
    return int(sum(len(o) for o in owners))


def _set_scores(ds, objects: pd.DataFrame) -> int:
    """Scores onto boxes and whole-image labels, the maximum onto the sample, and the saved view."""
    score_of = {k: float(v) for k, v in zip(objects["object_id"], objects[SCORE]) if pd.notna(v)}
    box_owners, whole_owner = ds.values([f"{GROUND_TRUTH}.detections.object_id", f"{CATEGORY}.object_id"])
    box_scores = [[score_of.get(o) for o in (owned or [])] for owned in box_owners]
    whole_scores = [score_of.get(o) if o is not None else None for o in whole_owner]
    ds.set_values(f"{GROUND_TRUTH}.detections.{SCORE}", box_scores)
    ds.set_values(f"{CATEGORY}.{SCORE}", whole_scores)
    sample_scores = [max([s for s in boxes + [whole] if s is not None], default=None) for boxes, whole in zip(box_scores, whole_scores)]
    ds.set_values(SCORE, sample_scores)
    from fiftyone import ViewField as F

    ds.save_view(MISLABELLED_VIEW, ds.match(F(SCORE) != None).sort_by(SCORE, reverse=True), overwrite=True)  # noqa: E711
    return int(np.sum([s is not None for s in sample_scores]))
