"""Evaluation results stored as FiftyOne evaluation runs with their error views: the detector's
boxes on the review dataset, and, through `curate evaluate` on tiny trained models, the category
and attribute runs on its per-object companion."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from curate.cli.main import app
from curate.dataset import read_dataset
from curate.models.evaluate import store_fiftyone_run
from curate.review import send_dataset

TINY = {"batch_size": 4, "epochs": 1, "steps_per_epoch": 2, "learning_rate": 0.001, "seed": 1}


def test_detections_become_a_fiftyone_evaluation_run(planted, fiftyone_db):
    path, _ = planted
    dataset = read_dataset(path)
    test_ids = dataset.images.loc[dataset.images["split"] == "test", "image_id"]
    truth = dataset.objects[dataset.objects["image_id"].isin(test_ids) & dataset.objects["x_min"].notna()]
    detections = truth[["image_id", "object_type", "x_min", "y_min", "x_max", "y_max"]].assign(score=0.9).to_dict("records")
    detections.append({"image_id": test_ids.iloc[0], "object_type": "footwear", "x_min": 0.0, "y_min": 0.0, "x_max": 0.1, "y_max": 0.1, "score": 0.3})

    missing = store_fiftyone_run(dataset, detections, "test")
    assert missing["stored"] is False and "run `curate review DATASET` first" in missing["reason"]

    send_dataset(path)
    run = store_fiftyone_run(dataset, detections, "test")
    assert run["stored"] and run["eval_key"] == "eval_test"
    assert run["tp"] == len(truth) and run["fp"] == 1
    ds = fiftyone_db.load_dataset(path.name)
    assert "eval_test" in ds.list_evaluations()
    assert "false positives (eval_test)" in ds.list_saved_views()
    assert len(ds.load_saved_view("false positives (eval_test)")) == 1


@pytest.fixture(scope="module")
def crop_models(tmp_path_factory, garment_dataset):
    """A category classifier and an attribute tagger trained for two steps on 20 pictures."""
    root = tmp_path_factory.mktemp("object-runs")
    dataset = garment_dataset(root / "synthetic", n_images=20)
    models = {}
    for stage, extra in (("category", {}), ("attributes", {"loss": "soft_f1"})):
        recipe = root / f"{stage}.yaml"
        recipe.write_text(yaml.safe_dump({"dataset": str(dataset), "output": str(root / stage),
                                          "model": {"backbone": "small_cnn", "image_size": 32, **extra}, "training": TINY}))
        result = CliRunner().invoke(app, ["train", stage, str(recipe)])
        assert result.exit_code == 0, result.output
        models[stage] = root / stage
    return dataset, models


@pytest.mark.slow
def test_curate_evaluate_stores_category_and_attribute_runs(crop_models, fiftyone_db):
    dataset_path, models = crop_models
    dataset = read_dataset(dataset_path)
    gold = dataset.objects[dataset.objects["image_id"].isin(dataset.images.loc[dataset.images["split"] == "gold", "image_id"])]
    try:
        send_dataset(dataset_path)
        for stage in ("category", "attributes"):
            result = CliRunner().invoke(app, ["evaluate", stage, "--model", str(models[stage]), "--dataset", str(dataset_path)])
            assert result.exit_code == 0, result.output
            assert f"FiftyOne evaluation run 'eval_{stage}_gold' stored in FiftyOne dataset 'synthetic-objects'" in " ".join(result.output.split())

        ods = fiftyone_db.load_dataset("synthetic-objects")
        assert sorted(ods.values("object_id")) == sorted(gold["object_id"])  # one sample per gold object
        report = Path(models["category"]) / "evaluation" / "synthetic-gold"
        metrics = json.loads((report / "metrics.json").read_text())
        assert metrics["fiftyone"]["stored"] and metrics["fiftyone"]["objects"] == metrics["examples"] == len(gold)
        assert "| FiftyOne evaluation run | eval_category_gold in FiftyOne dataset synthetic-objects |" in (report / "metrics.md").read_text()
        assert "predictions" not in metrics
        # FiftyOne's evaluation agrees with the report: accuracy and the confusion matrix
        results = ods.load_evaluation_results("eval_category_gold")
        assert results.metrics()["accuracy"] == pytest.approx(metrics["accuracy"])
        names = metrics["confusion"]["labels"]
        ours = np.asarray(metrics["confusion"]["matrix"])
        keep = [names.index(c) for c in results.classes]
        np.testing.assert_array_equal(results.confusion_matrix(), ours[np.ix_(keep, keep)])
        wrong = len(gold) - round(metrics["accuracy"] * len(gold))
        assert len(ods.load_saved_view("category false positives (eval_category_gold)")) == wrong
        for png in ("confusion.png", "per_class_f1.png"):
            assert (report / png).read_bytes()[:4] == b"\x89PNG" and f"![{png}]({png})" in (report / "metrics.md").read_text()

        tagged = json.loads((Path(models["attributes"]) / "evaluation" / "synthetic-gold" / "metrics.json").read_text())
        run = tagged["fiftyone"]
        assert run["stored"] and run["objects"] == tagged["examples"]
        # the per-label marks add up to the report's micro F1 and its label support
        tp, fp, fn = (int(ods.sum(f"eval_attributes_gold_{k}")) for k in ("tp", "fp", "fn"))
        assert (tp, fp, fn) == (run["tp"], run["fp"], run["fn"])
        assert tagged["micro_f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
        marks = [m for labels in ods.values("attributes.classifications.eval_attributes_gold") for m in (labels or []) if m]
        assert marks.count("tp") == tp and marks.count("fn") == fn
        missed = [n for n in ods.values("eval_attributes_gold_fn") if n]
        assert len(ods.load_saved_view("attribute false negatives (eval_attributes_gold)")) == len(missed)
        assert (Path(models["attributes"]) / "evaluation" / "synthetic-gold" / "per_label_f1.png").read_bytes()[:4] == b"\x89PNG"
    finally:
        for name in ("synthetic", "synthetic-objects"):
            if fiftyone_db.dataset_exists(name):
                fiftyone_db.delete_dataset(name)
