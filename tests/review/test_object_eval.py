"""Category and attribute evaluation runs over one sample per object, against a real mongod.

A small dataset holds boxed objects (two to an image) and whole-image objects; planted
predictions are right for some objects and wrong for others, so FiftyOne's confusion matrix,
the per-sample correctness, the tp/fp/fn on every attribute label and the saved views each have
one known answer."""

from __future__ import annotations

import hashlib
import uuid

import numpy as np
import pandas as pd
import pytest

from curate import review
from curate.dataset import images_frame, objects_frame, read_dataset, save_tables, stable_id
from curate.errors import CurateError
from curate.models.evaluate import store_object_run
from curate.review.app import saved_view

TABLES = ("images.parquet", "objects.parquet", "dataset.yaml")

# (image, boxed?, object_type, category, pattern, style, other attributes)
OBJECTS = {
    "o0": (0, True, "upper-body", "t-shirts", "striped", None, ["closure:zip"]),
    "o1": (0, True, "lower-body", "trousers", "checked", None, ["fit:slim fit"]),
    "o2": (1, True, "upper-body", "sweaters", "striped", None, ["sleeve style:long sleeve"]),
    "o3": (1, True, "lower-body", "skirts", None, "pencil", []),
    "o4": (2, False, "full-body", "dresses", "striped", "a-line", ["length:midi"]),
    "o5": (3, False, "footwear", "trainers", None, None, []),
    "o6": (4, True, "footwear", "boots", None, None, []),
    "o7": (4, True, "footwear", "trainers", None, None, []),
    "o8": (5, True, "upper-body", "t-shirts", None, None, []),
    "o9": (6, True, "upper-body", "t-shirts", None, None, []),  # a training image: never evaluated
}
SPLITS = ["gold"] * 6 + ["train"]

# category predictions: (category, confidence); o2, o5 (whole-image) and o8 are wrong
CATEGORY = {
    "o0": ("t-shirts", 0.9), "o1": ("trousers", 0.8), "o2": ("t-shirts", 0.8), "o3": ("skirts", 0.7),
    "o4": ("dresses", 0.95), "o5": ("boots", 0.6), "o6": ("boots", 0.9), "o7": ("trainers", 0.85), "o8": ("sweaters", 0.7),
}
# attribute predictions: emitted labels with scores
ATTRIBUTES = {
    "o0": {"pattern:striped": 0.9, "closure:zip": 0.8},                                  # tp 2
    "o1": {},                                                                            # fn 2
    "o2": {"pattern:striped": 0.7, "sleeve style:short sleeve": 0.6},                    # tp 1, fp 1, fn 1
    "o3": {"style:pencil": 0.9, "pattern:checked": 0.6, "length:mini": 0.55},            # tp 1, fp 2
    "o4": {},                                                                            # fn 3
    "o5": {"pattern:floral": 0.7, "style:polo": 0.6, "length:mini": 0.5},                # fp 3
}


def oid(name: str) -> str:
    return stable_id("evaluated", name)


def write_dataset(path, objects=OBJECTS) -> None:
    images, rows = [], []
    for n, split in enumerate(SPLITS):
        image_id = stable_id("evaluated-image", n)
        rel = f"media/{n}.png"
        (path / "media").mkdir(parents=True, exist_ok=True)
        (path / rel).write_bytes(_png())
        images.append({"image_id": image_id, "path": rel, "width": 8, "height": 8, "sha256": f"{n:064x}", "source": "catalogue",
                       "source_id": str(n), "split": split})
    for name, (n, boxed, object_type, category, pattern, style, attributes) in objects.items():
        row = {"object_id": oid(name), "image_id": stable_id("evaluated-image", n), "object_type": object_type, "category": category,
               "pattern": pattern, "style": style, "attributes": attributes, "source_label": category, "box_origin": "manual" if boxed else None}
        if boxed:
            row.update(x_min=0.1, y_min=0.1, x_max=0.6, y_max=0.9)
        rows.append(row)
    frame = objects_frame(rows)
    for col in ("x_min", "y_min", "x_max", "y_max"):
        frame[col] = pd.to_numeric(frame[col]).astype("float32")
    save_tables(path, images_frame(images), frame, {"name": path.name})


def _png() -> bytes:
    import cv2

    return cv2.imencode(".png", np.full((8, 8, 3), 200, np.uint8))[1].tobytes()


def digests(path):
    return {name: hashlib.sha256((path / name).read_bytes()).hexdigest() for name in TABLES}


@pytest.fixture
def evaluated(tmp_path, fiftyone_db):
    path = tmp_path / f"eval-{uuid.uuid4().hex[:8]}"
    write_dataset(path)
    yield path
    for name in (path.name, review.objects_dataset_name(path.name)):
        if fiftyone_db.dataset_exists(name):
            fiftyone_db.delete_dataset(name)


def category_predictions(overrides=None):
    chosen = {**CATEGORY, **(overrides or {})}
    return [{"object_id": oid(k), "category": c, "confidence": s} for k, (c, s) in chosen.items()]


def attribute_predictions(overrides=None):
    chosen = {**ATTRIBUTES, **(overrides or {})}
    return [{"object_id": oid(k), "labels": list(v), "scores": v} for k, v in chosen.items()]


def names_of(view):
    back = {oid(k): k for k in OBJECTS}
    return [back[o] for o in view.values("object_id")]


def test_category_run_is_fiftyones_classification_evaluation(evaluated, fiftyone_db):
    dataset = read_dataset(evaluated)
    missing = store_object_run("category", dataset, category_predictions(), "gold")
    assert missing == {"stored": False, "reason": f"no FiftyOne dataset named '{evaluated.name}': run `curate review DATASET` first"}

    review.send_dataset(evaluated)
    before = digests(evaluated)
    run = store_object_run("category", dataset, category_predictions(), "gold")
    assert run == {"stored": True, "eval_key": "eval_category_gold", "dataset": f"{evaluated.name}-objects", "objects": 9,
                   "accuracy": pytest.approx(6 / 9), "wrong": 3}
    assert digests(evaluated) == before  # FiftyOne is a view: the tables are not touched

    ods = fiftyone_db.load_dataset(f"{evaluated.name}-objects")
    assert len(ods) == 9 and sorted(names_of(ods)) == [f"o{i}" for i in range(9)]  # one sample per gold object, not o9
    assert ods.list_evaluations() == ["eval_category_gold"]
    whole = {n: w for n, w in zip(names_of(ods), ods.values("whole_image"))}
    assert [n for n, w in sorted(whole.items()) if w] == ["o4", "o5"]
    assert ods.count("object") == 7  # a box per boxed object, drawn on its whole picture
    correct = dict(zip(names_of(ods), ods.values("eval_category_gold")))
    assert sorted(n for n, ok in correct.items() if not ok) == ["o2", "o5", "o8"]

    results = ods.load_evaluation_results("eval_category_gold")
    assert list(results.classes) == ["boots", "dresses", "skirts", "sweaters", "t-shirts", "trainers", "trousers"]
    expected = np.diag([1, 1, 1, 0, 1, 1, 1])
    expected[3, 4] = 1  # a sweater called a t-shirt
    expected[4, 3] = 1  # a t-shirt called a sweater
    expected[5, 0] = 1  # trainers called boots
    np.testing.assert_array_equal(results.confusion_matrix(), expected)
    assert results.metrics()["accuracy"] == pytest.approx(6 / 9)
    confidence = dict(zip(names_of(ods), ods.values("category_prediction.confidence")))
    assert confidence["o5"] == pytest.approx(0.6)

    fp = ods.load_saved_view("category false positives (eval_category_gold)")
    fn = ods.load_saved_view("category false negatives (eval_category_gold)")
    assert names_of(fp) == ["o5", "o8", "o2"]  # by predicted class: boots, sweaters, t-shirts
    assert fp.values("category_prediction.label") == ["boots", "sweaters", "t-shirts"]
    assert names_of(fn) == ["o2", "o8", "o5"]  # by true class: sweaters, t-shirts, trainers

    # on the review dataset, where a wrong truth is fixed and synced: just those objects
    errors = fiftyone_db.load_dataset(evaluated.name).load_saved_view("category errors (eval_category_gold)")
    shown = {image_id: sorted(boxes) for image_id, boxes in zip(*errors.values(["image_id", "ground_truth.detections.object_id"]))}
    assert shown == {stable_id("evaluated-image", 1): [oid("o2")], stable_id("evaluated-image", 3): [], stable_id("evaluated-image", 5): [oid("o8")]}
    assert sorted(o for o in errors.values("category.object_id") if o) == [oid("o5")]  # the whole-image object


def test_category_rerun_overwrites_and_follows_the_tables(evaluated, fiftyone_db):
    review.send_dataset(evaluated)
    store_object_run("category", read_dataset(evaluated), category_predictions(), "gold")
    ods = fiftyone_db.load_dataset(f"{evaluated.name}-objects")
    ids = dict(zip(names_of(ods), ods.values("id")))

    # a curator fixes o8 in the tables (it is a sweater) and o7 is removed
    changed = dict(OBJECTS, o8=(5, True, "upper-body", "sweaters", None, None, []))
    del changed["o7"]
    write_dataset(evaluated, changed)
    second = {k: v for k, v in CATEGORY.items() if k != "o7"} | {"o2": ("sweaters", 0.9)}
    run = store_object_run("category", read_dataset(evaluated), [{"object_id": oid(k), "category": c, "confidence": s} for k, (c, s) in second.items()], "gold")
    assert run["stored"] and run["objects"] == 8 and run["wrong"] == 1 and run["accuracy"] == pytest.approx(7 / 8)

    ods.reload()
    assert ods.list_evaluations() == ["eval_category_gold"]
    assert len(ods) == 8 and "o7" not in names_of(ods)
    assert {n: i for n, i in zip(names_of(ods), ods.values("id"))} == {n: i for n, i in ids.items() if n != "o7"}  # sample ids kept
    assert dict(zip(names_of(ods), ods.values("category.label")))["o8"] == "sweaters"
    assert names_of(ods.load_saved_view("category false positives (eval_category_gold)")) == ["o5"]
    errors = fiftyone_db.load_dataset(evaluated.name).load_saved_view("category errors (eval_category_gold)")
    assert errors.values("category.object_id") == [oid("o5")]


def test_attribute_run_marks_every_label_tp_fp_fn(evaluated, fiftyone_db):
    review.send_dataset(evaluated)
    store_object_run("category", read_dataset(evaluated), category_predictions(), "gold")
    before = digests(evaluated)
    run = store_object_run("attributes", read_dataset(evaluated), attribute_predictions(), "gold")
    assert run == {"stored": True, "eval_key": "eval_attributes_gold", "dataset": f"{evaluated.name}-objects", "objects": 6,
                   "tp": 4, "fp": 6, "fn": 6, "precision": pytest.approx(0.4), "recall": pytest.approx(0.4)}
    assert digests(evaluated) == before

    ods = fiftyone_db.load_dataset(f"{evaluated.name}-objects")
    assert ods.list_evaluations() == ["eval_category_gold"] and ods.list_runs() == ["eval_attributes_gold"]
    names = names_of(ods)
    truth = dict(zip(names, zip(*ods.values(["attributes.classifications.label", "attributes.classifications.eval_attributes_gold"]))))
    predicted = dict(zip(names, zip(*ods.values(["attributes_prediction.classifications.label", "attributes_prediction.classifications.eval_attributes_gold"]))))
    marks = lambda pair: dict(zip(*pair)) if pair[0] else {}  # noqa: E731
    assert marks(truth["o0"]) == {"pattern:striped": "tp", "closure:zip": "tp"}
    assert marks(truth["o1"]) == {"pattern:checked": "fn", "fit:slim fit": "fn"}
    assert marks(truth["o2"]) == {"pattern:striped": "tp", "sleeve style:long sleeve": "fn"}
    assert marks(predicted["o2"]) == {"pattern:striped": "tp", "sleeve style:short sleeve": "fp"}
    assert marks(predicted["o3"]) == {"style:pencil": "tp", "pattern:checked": "fp", "length:mini": "fp"}
    assert marks(truth["o4"]) == {"pattern:striped": "fn", "style:a-line": "fn", "length:midi": "fn"}  # a whole-image object
    assert marks(predicted["o5"]) == {"pattern:floral": "fp", "style:polo": "fp", "length:mini": "fp"}
    assert marks(predicted["o6"]) == {} and marks(truth["o6"]) == {}  # not evaluated
    counts = {n: c for n, c in zip(names, zip(*ods.values([f"eval_attributes_gold_{k}" for k in ("tp", "fp", "fn")])))}
    assert counts["o2"] == (1, 1, 1) and counts["o4"] == (0, 0, 3) and counts["o5"] == (0, 3, 0) and counts["o6"] == (None, None, None)
    scores = dict(zip(names, zip(*ods.values(["attributes_prediction.classifications.label", "attributes_prediction.classifications.confidence"]))))
    assert dict(zip(*scores["o3"])) == pytest.approx({"style:pencil": 0.9, "pattern:checked": 0.6, "length:mini": 0.55})
    per_label = ods.load_run_results("eval_attributes_gold").per_label
    assert per_label["pattern:striped"] == {"tp": 2, "fp": 0, "fn": 1} and per_label["length:mini"] == {"tp": 0, "fp": 2, "fn": 0}

    fp = ods.load_saved_view("attribute false positives (eval_attributes_gold)")
    assert names_of(fp) == ["o5", "o3", "o2"]  # most false positives first
    assert fp.values("attributes_prediction.classifications.label") == [["pattern:floral", "style:polo", "length:mini"], ["pattern:checked", "length:mini"], ["sleeve style:short sleeve"]]
    fn = ods.load_saved_view("attribute false negatives (eval_attributes_gold)")
    assert names_of(fn) == ["o4", "o1", "o2"]
    assert fn.values("attributes.classifications.label")[2] == ["sleeve style:long sleeve"]
    per_key = sorted(v for v in ods.list_saved_views() if v.startswith("attribute errors: "))
    assert per_key == [f"attribute errors: {k} (eval_attributes_gold)" for k in ("fit", "length", "pattern", "sleeve style", "style")]  # closure: no errors
    pattern = ods.load_saved_view("attribute errors: pattern (eval_attributes_gold)")
    shown = dict(zip(names_of(pattern), zip(*pattern.values(["attributes.classifications.label", "attributes_prediction.classifications.label"]))))
    assert shown == {"o1": (["pattern:checked"], []), "o3": ([], ["pattern:checked"]), "o4": (["pattern:striped"], []), "o5": ([], ["pattern:floral"])}

    errors = fiftyone_db.load_dataset(evaluated.name).load_saved_view("attribute errors (eval_attributes_gold)")
    assert sorted(o for boxes in errors.values("ground_truth.detections.object_id") for o in boxes) == sorted(oid(k) for k in ("o1", "o2", "o3"))
    assert sorted(o for o in errors.values("category.object_id") if o) == sorted([oid("o4"), oid("o5")])


def test_attribute_rerun_leaves_no_trace_of_the_first(evaluated, fiftyone_db):
    review.send_dataset(evaluated)
    dataset = read_dataset(evaluated)
    store_object_run("attributes", dataset, attribute_predictions(), "gold")
    # the second model gets every label right but length:midi of the dress, and o5 is not evaluated
    second = {"o0": ["pattern:striped", "closure:zip"], "o1": ["pattern:checked", "fit:slim fit"], "o2": ["pattern:striped", "sleeve style:long sleeve"],
              "o3": ["style:pencil"], "o4": ["pattern:striped", "style:a-line"]}
    run = store_object_run("attributes", dataset, [{"object_id": oid(k), "labels": v, "scores": dict.fromkeys(v, 0.9)} for k, v in second.items()], "gold")
    assert (run["tp"], run["fp"], run["fn"], run["objects"]) == (9, 0, 1, 5)
    ods = fiftyone_db.load_dataset(f"{evaluated.name}-objects")
    assert ods.list_runs() == ["eval_attributes_gold"]
    predicted = dict(zip(names_of(ods), ods.values("attributes_prediction.classifications.label")))
    assert predicted["o5"] is None  # no longer evaluated: its earlier predictions are gone
    assert sorted(v for v in ods.list_saved_views() if v.startswith("attribute errors: ")) == ["attribute errors: length (eval_attributes_gold)"]
    assert names_of(ods.load_saved_view("attribute false positives (eval_attributes_gold)")) == []
    assert names_of(ods.load_saved_view("attribute false negatives (eval_attributes_gold)")) == ["o4"]


def test_bad_predictions_and_the_companion_are_refused_with_one_clear_line(evaluated, fiftyone_db):
    review.send_dataset(evaluated)
    dataset = read_dataset(evaluated)
    with pytest.raises(CurateError, match=r"predictions: field 'confidence': missing columns; expected object_id, category, confidence"):
        review.add_category_predictions(dataset, pd.DataFrame({"object_id": [oid("o0")], "category": ["t-shirts"]}), "gold")
    with pytest.raises(CurateError, match=r"objects.parquet: field 'object_id': 1 predicted object_id\(s\) not in the table, e.g. nope"):
        review.add_category_predictions(dataset, pd.DataFrame({"object_id": ["nope"], "category": ["t-shirts"], "confidence": [0.5]}), "gold")
    with pytest.raises(CurateError, match=rf"objects.parquet: field 'split': 1 predicted object\(s\) are not in split 'gold', e.g. {oid('o9')} \(split train\)"):
        review.add_attribute_predictions(dataset, pd.DataFrame({"object_id": [oid("o9")], "labels": [[]], "scores": [{}]}), "gold")
    with pytest.raises(CurateError, match="no objects of split 'gold' were predicted"):
        review.add_attribute_predictions(dataset, pd.DataFrame(columns=["object_id", "labels", "scores"]), "gold")
    with pytest.raises(CurateError, match="predicted more than once"):
        review.add_category_predictions(dataset, pd.DataFrame({"object_id": [oid("o0")] * 2, "category": ["t-shirts"] * 2, "confidence": [0.5] * 2}), "gold")

    store_object_run("category", dataset, category_predictions(), "gold")
    companion = f"{evaluated.name}-objects"
    with pytest.raises(CurateError, match=f"'{companion}' holds the per-object evaluation samples of '{evaluated.name}'"):
        review.send_dataset(evaluated, name=companion)
    # the App opens an evaluation's view from the companion, and names every view when one is unknown
    ds = fiftyone_db.load_dataset(evaluated.name)
    assert len(saved_view(fiftyone_db, ds, "category false positives (eval_category_gold)")) == 3
    with pytest.raises(CurateError, match=r"has no saved view 'nope'; saved views: .*category errors \(eval_category_gold\).*category false negatives"):
        saved_view(fiftyone_db, ds, "nope")
