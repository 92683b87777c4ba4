"""Each stage trained once as a tiny model (weights none, small inputs, two steps), then
evaluated and run through the merged predictor and the command line."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from curate.cli.main import app
from curate.dataset import read_dataset
from curate.errors import CurateError

pytestmark = pytest.mark.slow
runner = CliRunner()

TINY_TRAINING = {"batch_size": 4, "epochs": 1, "steps_per_epoch": 2, "learning_rate": 0.001}


def write_recipe(path: Path, doc: dict) -> Path:
    path.write_text(yaml.safe_dump(doc))
    return path


def invoke(*args: str):
    result = runner.invoke(app, list(args))
    return result


@pytest.fixture(scope="module")
def trained(tiny_models):
    """The session's tiny models (tests/conftest.py), trained through `curate train`."""
    return tiny_models


def test_model_directories_hold_model_recipe_labels_hashes_and_card(trained):
    ds = read_dataset(trained["dataset"])
    for stage in ("detector", "category", "attributes"):
        d = trained[stage]
        info = json.loads((d / "model.json").read_text())
        assert (d / "model.keras").stat().st_size > 1000
        assert yaml.safe_load((d / "recipe.yaml").read_text())["training"]["seed"] == 1
        assert info["stage"] == stage and info["version"].startswith(stage)
        assert len(info["dataset"]["sha256"]) == 64 and info["dataset"]["path"] == str(ds.path.resolve())
        assert info["taxonomy"]["name"] == "fashion" and len(info["taxonomy"]["sha256"]) == 64
        assert info["training"]["epochs_run"] == 1
        card = (d / "MODEL_CARD.md").read_text()
        assert info["version"] in card and "## Labels" in card
    category = json.loads((trained["category"] / "model.json").read_text())
    assert category["labels"]["all"] == ["boots", "dresses", "skirts", "sweaters", "t-shirts", "trainers", "trousers"]
    tagger = json.loads((trained["attributes"] / "model.json").read_text())
    assert "pattern:striped" in tagger["labels"]["all"] and "style:polo" in tagger["labels"]["all"]
    detector = json.loads((trained["detector"] / "model.json").read_text())
    assert set(detector["thresholds"]) == {"upper-body", "lower-body", "full-body", "footwear"}
    assert all(0 <= t["f1"] <= 1 and 0 < t["threshold"] <= 1 for t in detector["thresholds"].values())


def test_category_training_evaluates_on_the_test_split(trained):
    report = trained["category"] / "evaluation" / "synthetic-test"
    metrics = json.loads((report / "metrics.json").read_text())
    ds = read_dataset(trained["dataset"])
    test_images = ds.images.loc[ds.images["split"] == "test", "image_id"]
    assert metrics["split"] == "test" and metrics["examples"] == ds.objects["image_id"].isin(test_images).sum()
    assert 0 <= metrics["accuracy"] <= metrics["top3_accuracy"] <= 1
    assert (report / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert "| accuracy |" in (report / "metrics.md").read_text()


@pytest.mark.parametrize("stage,keys", [
    ("detector", ("mAP", "AP50", "AP75", "AR1", "AR10", "AR100", "per_class", "f1_at_thresholds")),
    ("attributes", ("exact_match", "binary_accuracy", "macro_f1", "per_label", "unconstrained")),
    ("category", ("accuracy", "top3_accuracy", "macro_f1", "confusion")),
])
def test_evaluate_command_on_gold(trained, stage, keys):
    # The FiftyOne run is covered in tests/review/test_models_fiftyone_run.py (throwaway database).
    result = invoke("evaluate", stage, "--model", str(trained[stage]), "--dataset", str(trained["dataset"]), "--no-fiftyone")
    assert result.exit_code == 0, result.output
    metrics = json.loads((trained[stage] / "evaluation" / "synthetic-gold" / "metrics.json").read_text())
    for key in keys:
        assert key in metrics
    info = json.loads((trained[stage] / "model.json").read_text())
    assert "synthetic-gold" in info["evaluations"]
    assert "Evaluation on synthetic-gold" in (trained[stage] / "MODEL_CARD.md").read_text()


def test_predict_writes_one_record_per_image_and_reports_bad_images(trained):
    photos = trained["root"] / "photos"
    photos.mkdir()
    for name in ("0000.png", "0003.png"):
        (photos / name).write_bytes((trained["dataset"] / "media" / name).read_bytes())
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out = trained["root"] / "predictions.json"
    drawn = trained["root"] / "drawn"
    result = invoke("predict", str(photos), "--models", str(trained["models"]), "--out", str(out), "--visualize", str(drawn))
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert [Path(r["image"]).name for r in doc["images"]] == ["0000.png", "0003.png"]
    assert [Path(f["image"]).name for f in doc["failed"]] == ["broken.jpg"]
    assert doc["failed"][0]["error"].startswith(str(photos / "broken.jpg") + ": ")
    assert set(doc["rules"]) == {"hand_as_footwear", "bare_legs"} and all(r["enabled"] for r in doc["rules"].values())
    assert set(doc["models"]) == {"detector", "category", "attributes"} and all(doc["models"].values())
    assert set(doc["seconds"]) == {"decode", "detect", "category", "attributes"}
    for record in doc["images"]:
        assert set(record) == {"image", "width", "height", "objects", "removed", "models"}
        assert (record["width"], record["height"]) == (128, 128)
        for obj in record["objects"]:
            assert set(obj) == {"box", "object_type", "score", "category", "category_score", "pattern", "style", "attributes", "attribute_scores"}
            assert set(obj["box"]) == {"x_min", "y_min", "x_max", "y_max"}
            assert 0 <= obj["box"]["x_min"] < obj["box"]["x_max"] <= 1
            assert obj["object_type"] in ("upper-body", "lower-body", "full-body", "footwear")
            assert isinstance(obj["attributes"], list)
        for removed in record["removed"]:
            assert removed["rule"] in doc["rules"]
    assert sorted(p.name for p in drawn.iterdir()) == ["0000.png", "0003.png"]


def test_a_batch_predicts_what_its_images_predict_one_at_a_time(trained):
    from curate.imageio import load_image_rgb
    from curate.models.postprocess import RULES
    from curate.models.predictor import MergedPredictor

    predictor = MergedPredictor(trained["models"], list(RULES))
    # Two training steps leave thresholds near 1; lower them so crops of several images meet.
    predictor.detector.thresholds = {t: {"threshold": 0.3} for t in predictor.detector.thresholds}
    images = [load_image_rgb(trained["dataset"] / "media" / f"{i:04d}.png") for i in range(10)]
    batched = predictor.predict_batch(images)
    alone = [predictor.predict_image(image) for image in images]
    assert predictor.predict_batch([]) == []
    assert sum(len(objects) for objects, _ in batched) >= 5
    for (objects, removed), (objects_1, removed_1) in zip(batched, alone):
        assert [r["rule"] for r in removed] == [r["rule"] for r in removed_1]
        assert [(o["box"], o["object_type"], o["score"], o["category"], o["pattern"], o["style"], o["attributes"]) for o in objects] == \
               [(o["box"], o["object_type"], o["score"], o["category"], o["pattern"], o["style"], o["attributes"]) for o in objects_1]
        for o, o_1 in zip(objects, objects_1):  # float32 on another batch size: the last digits may move
            assert o["category_score"] == pytest.approx(o_1["category_score"], abs=1e-5)
            assert o["attribute_scores"] == pytest.approx(o_1["attribute_scores"], abs=1e-5)


def test_category_model_per_object_type_routes_each_crop(tmp_path, garment_dataset):
    from curate.models.classifier import CategoryModel

    dataset = garment_dataset(tmp_path / "two-types", n_images=20, object_types=("upper-body", "footwear"))
    doc = {"dataset": str(dataset), "output": str(tmp_path / "per-type"),
           "model": {"backbone": "small_cnn", "image_size": 32, "per_object_type": True},
           "training": {**TINY_TRAINING, "steps_per_epoch": 1}, "splits": {"test": "none"}}
    result = invoke("train", "category", str(write_recipe(tmp_path / "r.yaml", doc)))
    assert result.exit_code == 0, result.output
    predictor = CategoryModel(tmp_path / "per-type")
    assert predictor.labels == {"footwear": ["boots", "trainers"], "upper-body": ["sweaters", "t-shirts"]}
    crops = np.zeros((3, 32, 32, 3), dtype=np.uint8)
    scored = predictor.probabilities(crops, ["footwear", "upper-body", "lower-body"])
    assert [names for names, _ in scored] == [["boots", "trainers"], ["sweaters", "t-shirts"], []]
    assert all(abs(p.sum() - 1) < 1e-5 for _, p in scored[:2])


def test_bad_input_one_clear_line(trained, tmp_path):
    base = {"dataset": str(trained["dataset"]), "output": str(tmp_path / "m"), "model": {"backbone": "small_cnn", "image_size": 32}, "training": TINY_TRAINING}

    unknown = invoke("train", "category", str(write_recipe(tmp_path / "a.yaml", {**base, "model": {"backbone": "efficientnet_b9"}})))
    assert unknown.exit_code == 1
    assert "field 'model.backbone': unknown backbone 'efficientnet_b9'; expected one of small_cnn, small_vgg, efficientnet_b0" in unknown.output

    typo = invoke("train", "category", str(write_recipe(tmp_path / "b.yaml", {**base, "trainig": {}})))
    assert typo.exit_code == 1 and "trainig: unknown key" in typo.output

    no_split = invoke("train", "attributes", str(write_recipe(tmp_path / "c.yaml", {**base, "splits": {"train": "fit"}})))
    assert no_split.exit_code == 1
    assert "no images in split 'fit', which attribute training needs (splits present: gold, test, train, val)" in no_split.output

    gold_missing = invoke("evaluate", "category", "--model", str(trained["category"]), "--dataset", str(trained["dataset"]), "--split", "holdout")
    assert gold_missing.exit_code == 1 and "no images in split 'holdout'" in gold_missing.output

    offline = invoke("train", "category", str(write_recipe(tmp_path / "d.yaml", {**base, "model": {"backbone": "mobilenet_v3_small", "image_size": 32, "weights": "imagenet"}})))
    assert offline.exit_code == 1
    lines = [line for line in offline.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1
    assert "downloading ImageNet weights for mobilenet_v3_small failed" in lines[0] and "--set model.weights=/path/to/weights" in lines[0]

    missing_file = invoke("train", "category", str(write_recipe(tmp_path / "e.yaml", {**base, "model": {"backbone": "small_cnn", "weights": "/nowhere/w.weights.h5"}})))
    assert missing_file.exit_code == 1 and "weights file not found: /nowhere/w.weights.h5" in missing_file.output

    not_a_model = invoke("evaluate", "detector", "--model", str(trained["category"]), "--dataset", str(trained["dataset"]))
    assert not_a_model.exit_code == 1 and "expected a detector model, found 'category'" in not_a_model.output


@pytest.mark.parametrize("backbone", ["small_cnn", "small_vgg"])
def test_local_weights_file_is_loaded(trained, tmp_path, backbone):
    from curate.models.backbones import build_backbone

    source = build_backbone(backbone, "none", 32)
    weights = tmp_path / "backbone.weights.h5"
    source.save_weights(weights)
    loaded = build_backbone(backbone, str(weights), 32)
    for a, b in zip(source.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_compact_networks_keep_the_garment_layout_at_28_px():
    """At 28 px both compact networks end on a grid they flatten (layout kept), not a global pool."""
    from curate.models.backbones import build_backbone

    for backbone, features in (("small_cnn", 128), ("small_vgg", 256)):
        model = build_backbone(backbone, "none", 28)
        names = [layer.name for layer in model.layers]
        assert "flatten" in names and "pool_all" not in names
        assert model.output.shape[-1] == features
    assert "pool_all" in [layer.name for layer in build_backbone("small_vgg", "none", 64).layers]
    with pytest.raises(CurateError, match="backbone small_vgg has no 'imagenet' weights"):
        build_backbone("small_vgg", "imagenet", 28)


def test_box_issues_from_a_trained_detector(trained, tmp_path):
    """`curate box-issues --detector`: the scores written agree with the detector's own boxes."""
    import shutil

    import pandas as pd

    from curate.imageio import load_image_rgb
    from curate.models.detector import DetectorPredictor

    dataset = tmp_path / "ds"
    shutil.copytree(trained["dataset"], dataset)
    result = invoke("box-issues", str(dataset), "--detector", str(trained["detector"]), "--min-score", "0.05")
    assert result.exit_code == 0, result.output

    ds = read_dataset(dataset)
    detector = DetectorPredictor(trained["detector"])
    predicted = {
        image_id: detector.detect([load_image_rgb(ds.image_path(path))], thresholded=False)[0]
        for image_id, path in zip(ds.images["image_id"], ds.images["path"])
    }

    def iou(a, b):
        w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
        return w * h / union if union > 0 else 0.0

    box = ["x_min", "y_min", "x_max", "y_max"]
    boxed = ds.objects.dropna(subset=box)
    assert len(boxed) and boxed["box_spurious_score"].between(0, 1).all()
    expected_missing = 0
    for row in boxed.itertuples():
        same = predicted[row.image_id][lambda f: f["object_type"] == row.object_type]
        support = max((iou([getattr(row, c) for c in box], p[box].tolist()) * p["score"] for _, p in same.iterrows()), default=0.0)
        assert abs(row.box_spurious_score - (1.0 - support)) < 1e-6
    for image_id, found in predicted.items():
        truth = boxed[boxed["image_id"] == image_id]
        for _, p in found[found["score"] >= 0.05].iterrows():
            gt = truth[truth["object_type"] == p["object_type"]]
            expected_missing += max((iou(p[box].tolist(), g) for g in gt[box].to_numpy().tolist()), default=0.0) < 0.5
    missing = pd.read_parquet(dataset / "reports" / "likely_missing_boxes.parquet")
    assert len(missing) == expected_missing
    assert missing["box_missing_score"].is_monotonic_decreasing
