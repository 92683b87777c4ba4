"""Embeddings and label issue scores in the FiftyOne App (a real mongod, as the review tests)."""

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from curate.cli.main import app
from curate.dataset import read_dataset, save_tables
from curate.intel.embeddings import update_embeddings
from curate.review import send_dataset
from curate.review.insights import IMAGE_INDEX, MISLABELLED_VIEW, OBJECT_INDEX, SCORE


def _embed_by_box(jobs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Stand-in embedder: the box itself (whole images: the unit box) plus a constant dimension."""
    boxes = jobs[["x_min", "y_min", "x_max", "y_max"]].fillna({"x_min": 0, "y_min": 0, "x_max": 1, "y_max": 1}).to_numpy(np.float32)
    vectors = np.hstack([boxes, np.ones((len(jobs), 1), np.float32)])
    return vectors, np.full((len(jobs), 2), 0.5, np.float32)


def test_similarity_indexes_scores_and_the_likely_mislabelled_view(planted, fiftyone_db):
    path, _ = planted
    dataset = read_dataset(path)
    update_embeddings(dataset, {"sha256": "f" * 64, "path": "stand-in", "labels": ["a", "b"]}, _embed_by_box)
    objects = dataset.objects.copy()
    objects[SCORE] = np.linspace(0.0, 1.0, len(objects)).astype(np.float32)
    worst = objects.loc[objects[SCORE].idxmax()]
    save_tables(path, dataset.images, objects, dataset.meta)
    send_dataset(path)

    result = CliRunner().invoke(app, ["insights", str(path)])
    assert result.exit_code == 0, result.output
    ds = fiftyone_db.load_dataset(path.name)
    assert f"images indexed: {len(ds)}, boxes indexed: {int(objects['x_min'].notna().sum())}, scored samples: {len(ds)}" in result.output
    assert {IMAGE_INDEX, OBJECT_INDEX} <= set(ds.list_brain_runs())

    # Sorting patches by similarity to one box puts the identical boxes first.
    patches = ds.to_patches("ground_truth")
    query = patches.first()
    ranked = patches.sort_by_similarity(query.id, brain_key=OBJECT_INDEX, k=3)
    assert ranked.first().ground_truth.bounding_box == query.ground_truth.bounding_box
    assert len(ds.sort_by_similarity(ds.first().id, brain_key=IMAGE_INDEX, k=4)) == 4

    view = ds.load_saved_view(MISLABELLED_VIEW)
    scores = view.values(SCORE)
    assert scores == sorted(scores, reverse=True) and len(scores) == len(ds)
    assert view.first().image_id == worst["image_id"] and scores[0] == np.float32(worst[SCORE])
    box_scores = [s for per_sample in ds.values(f"ground_truth.detections.{SCORE}") for s in per_sample]
    assert sorted(box_scores) == sorted(objects.loc[objects["x_min"].notna(), SCORE].astype(float).tolist())
