"""Detector evaluation results stored as a FiftyOne evaluation run with FP/FN views."""

from curate.dataset import read_dataset
from curate.models.evaluate import store_fiftyone_run
from curate.review import send_dataset


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
