"""`curate demo --quick` end to end, twice: the second run reuses every step and prints the same tables.

It runs as the command a user types, in a subprocess whose FiftyOne database is a throwaway
mongod in a temporary folder under a unique name (the bundled mongod stops with its last client).
"""

import hashlib
import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from curate import demo
from curate.dataset import read_dataset


def run_quick_demo(out: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", "from curate.cli.main import main; main()", "demo", "--quick", "--out", str(out)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory, repo_root, fiftyone_subprocess_env):
    root = tmp_path_factory.mktemp("demo")
    out, database = root / "quick", root / "fiftyone-db"
    env = fiftyone_subprocess_env(database, f"curate_demo_test_{uuid.uuid4().hex[:12]}", PYTHONPATH=str(repo_root), COLUMNS="200")
    first = run_quick_demo(out, env)
    tables_first = table_digests(out)
    second = run_quick_demo(out, env)
    yield out, first, second, tables_first
    shutil.rmtree(database, ignore_errors=True)


def table_digests(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((out / "datasets").glob("*/*.parquet"))}


def expected_status() -> dict[str, str]:
    """ok for every step whose toolkit functions are installed, else missing/blocked."""
    status: dict[str, str] = {}
    for step in demo.DEMO_STEPS:
        if any(status[name] != "ok" for name in step.after):
            status[step.name] = "blocked"
        elif step.run is None or demo.missing_needs(step.needs):
            status[step.name] = "missing"
        else:
            status[step.name] = "ok"
    return status


def test_every_installed_step_runs_and_missing_ones_are_reported(quick_runs):
    out, first, _, _ = quick_runs
    summary = json.loads((out / demo.SUMMARY_FILE).read_text())
    assert {name: s["status"] for name, s in summary["steps"].items()} == expected_status()
    complete = all(s == "ok" for s in expected_status().values())
    assert first.returncode == (0 if complete else 1), first.stdout + first.stderr
    if complete:
        assert "curate review" in first.stdout
    else:
        assert "the demo is incomplete" in first.stderr


def test_figures_come_from_the_real_steps(quick_runs):
    out, *_ = quick_runs
    figures = json.loads((out / demo.SUMMARY_FILE).read_text())["figures"]
    recipe = demo.load_demo_recipe(quick=True)
    per_class = recipe.data.train_per_class + recipe.data.test_per_class
    assert figures["import"]["dropped"] == {"Bag (accessory)": per_class}
    assert figures["import"]["garments_mapped"] == 9 * per_class
    assert figures["render"]["flat_lays"] == sum(recipe.scenes.flat_lays.values())
    assert figures["render"]["outfits"] == sum(recipe.scenes.outfits.values())
    assert figures["autobox"]["iou_median"] >= 0.9
    before = figures["report_before"]["object types"]
    assert before["MeanIR"] > 1.0


def test_gold_holds_exactly_the_scenes_made_from_official_test_items(quick_runs):
    out, *_ = quick_runs
    images = read_dataset(out / "datasets" / "split").images
    assert ((images["split"] == "gold") == (images["official_split"] == "test")).all()
    balanced = read_dataset(out / "datasets" / "balanced").images
    augmented = balanced[balanced["parent_image_id"].notna()]
    assert len(augmented) and (augmented["split"] == "train").all()


def test_second_run_reuses_the_dataset_steps_and_gives_identical_tables(quick_runs):
    out, first, second, tables_first = quick_runs
    assert second.returncode == first.returncode, second.stdout + second.stderr
    assert table_digests(out) == tables_first and len(tables_first) >= 10
    step_lines = [line.strip() for line in second.stdout[: second.stdout.index("curate demo: steps")].splitlines()]
    # The dataset steps are reused; the FiftyOne send and the model steps after it still run again.
    for step in demo.DEMO_STEPS:
        if not step.name.startswith(("review", "train_", "evaluate_", "predict")):
            assert any(line.startswith("reused") and line.endswith(step.title) for line in step_lines), step.title


def test_photography_report_on_the_demo_dataset_matches_the_tables(quick_runs):
    import pandas as pd

    from curate.intel.photography import photography_report

    out, *_ = quick_runs
    ds = read_dataset(out / "datasets" / "split")
    report = photography_report(ds)
    flat = ds.images.set_index("image_id")["flat_lay"]
    objects_per_image = ds.objects.groupby("image_id").size()
    categorised = ds.objects.dropna(subset=["category"])
    by_category = {row["category"]: row for row in report["categories"]}
    assert set(by_category) == set(categorised["category"])
    for category, row in by_category.items():
        ids = set(categorised.loc[categorised["category"] == category, "image_id"])
        known = [bool(flat[i]) for i in ids if not pd.isna(flat[i])]
        assert row["images"] == len(ids)
        assert (row["flat_lay"], row["on_model"], row["flat_lay_unknown"]) == (sum(known), len(known) - sum(known), len(ids) - len(known))
        assert row["multi_item"] == sum(int(objects_per_image[i] > 1) for i in ids)
    assert report["catalogue"]["images"] == len(ds.images)
    assert report["catalogue"]["multi_item"] == int(objects_per_image.reindex(ds.images["image_id"]).fillna(0).gt(1).sum())
    outfit_ids = ds.images.loc[ds.images["scene"] == "outfit", "image_id"]
    assert len(outfit_ids) and objects_per_image.reindex(outfit_ids).gt(1).all()  # an outfit is several garments


def test_every_predicted_category_lies_within_its_object_type(quick_runs, tmp_path):
    """The quick demo's trained models on every gold image: each object's category belongs to
    its object type, and the rules that made it so are counted."""
    import os

    from curate.demo.synthetic import set_detector_threshold
    from curate.models.postprocess import ALL_RULES
    from curate.models.predictor import predict_to_file
    from curate.taxonomy import load_taxonomy

    out, *_ = quick_runs
    models = tmp_path / "models"
    shutil.copytree(out / "models", models)
    set_detector_threshold(models / "detector", 0.05)  # the quick run's brief training keeps few boxes otherwise
    ds = read_dataset(out / "datasets" / "balanced")
    gold = ds.images[ds.images["split"] == "gold"]
    pictures = tmp_path / "gold"
    pictures.mkdir()
    for row in gold.itertuples():
        os.link(ds.image_path(row.path), pictures / f"{row.image_id}.png")
    predict_to_file(pictures, models, tmp_path / "predictions.json", None, list(ALL_RULES))
    doc = json.loads((tmp_path / "predictions.json").read_text())
    taxonomy = load_taxonomy()
    objects = [o for record in doc["images"] for o in record["objects"]]
    categorised = [o for o in objects if o["category"] is not None]
    assert len(doc["images"]) == len(gold) and len(categorised) >= 20
    assert all(taxonomy.object_type_of(o["category"]) == o["object_type"] for o in categorised)
    counted = {name: doc["rules"][name]["changed"] for name in ("type_from_category", "category_within_type")}
    assert counted == {name: sum(o["resolved_by"] == name for o in objects) for name in counted}
