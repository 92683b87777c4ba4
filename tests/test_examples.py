"""The example scripts run on the golden inputs in tests/assets and produce what they promise."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from curate.dataset import read_dataset
from curate.resources import fashion_mnist_dir


@pytest.fixture
def run_example(repo_root):
    """`run_example(name, *args, env=None)`: run examples/<name> as a script; its stdout."""

    def run(name: str, *args: Path, env: dict | None = None) -> str:
        env = {**(env if env is not None else os.environ), "PYTHONPATH": str(repo_root)}
        # an example starts its own throwaway mongod, not the one an earlier test published
        env.pop("FIFTYONE_PRIVATE_DATABASE_PORT", None)
        done = subprocess.run([sys.executable, str(repo_root / "examples" / name), *map(str, args)], capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    return run


def test_deepfashion2_example_exports_yolo_and_coco(tmp_path, run_example, assets):
    output = run_example("deepfashion2_to_yolo.py", assets / "deepfashion2", tmp_path)
    ds = read_dataset(tmp_path / "dataset")
    assert ds.images["split"].notna().all()
    assert (tmp_path / "yolo" / "data.yaml").exists()
    assert (tmp_path / "coco").is_dir()
    assert f"yolo: {len(ds.images)} images, {len(ds.objects)} objects" in output


def test_catalogue_example_categorises_boxes_and_reports(tmp_path, run_example, assets):
    output = run_example("catalogue_feed.py", assets / "catalogue" / "products.csv", tmp_path)
    ds = read_dataset(tmp_path)
    boxed = ds.objects[ds.objects["box_origin"] == "canny"]
    assert len(boxed) and boxed["box_confidence"].between(0, 1).all()
    # Every local image gets an answer; the feed's remote image URL cannot be read offline.
    local = ~ds.images["path"].str.startswith("http")
    assert ds.images.loc[local, "flat_lay"].notna().all() and ds.images.loc[~local, "flat_lay"].isna().all()
    assert "products excluded: bags" in output
    assert (tmp_path / "reports" / "imbalance.md").exists()


def test_review_example_accepts_tightens_and_rejects_boxes_through_fiftyone(tmp_path, run_example, assets, fiftyone_subprocess_env):
    # A throwaway mongod in tmp_path under a unique name; it stops with the script.
    database = fiftyone_subprocess_env(tmp_path / "db", FIFTYONE_DATABASE_VALIDATION="false")
    out = tmp_path / "review"
    output = run_example("review_autoboxes.py", assets / "catalogue" / "products.csv", out, env=database)
    objects = read_dataset(out).objects.set_index("object_id")
    changes = read_dataset(out).changes()
    statuses = objects.loc[objects["box_origin"] == "canny", "review_status"].value_counts().to_dict()
    boxed = sum(statuses.values())
    assert statuses == {"accepted": 1, "edited": 1, "rejected": boxed - 2}
    edited = objects.index[objects["review_status"] == "edited"][0]
    moved = changes[(changes["object_id"] == edited) & changes["field"].isin(["x_min", "y_min", "x_max", "y_max"])]
    assert len(moved) == 4
    for row in moved.itertuples():
        shift = float(row.after) - float(row.before)
        assert abs(abs(shift) - 0.01) < 1e-4
    assert pd.Series(changes["when"]).notna().all()
    assert "synced:" in output


def test_train_stage_example_trains_and_evaluates_the_category_classifier(tmp_path, run_example):
    output = run_example("train_stage.py", fashion_mnist_dir(), tmp_path, "1")
    model = tmp_path / "model"
    assert (model / "model.keras").exists() and (model / "MODEL_CARD.md").exists() and (model / "recipe.yaml").exists()
    metrics = json.loads(next((model / "evaluation").glob("*-test/metrics.json")).read_text())
    # 9 categories (Bag dropped) x 100 official test images each in the embedded subset.
    assert metrics["examples"] == 900 and 0 <= metrics["accuracy"] <= 1
    assert f"accuracy {metrics['accuracy']:.4f}" in output
