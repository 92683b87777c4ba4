"""Tables -> FiftyOne -> tables against a real mongod: round trip, curator edits, conflicts, views."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from curate import review
from curate.dataset import CHANGES_FILE, read_dataset, save_tables
from curate.errors import CurateError

TABLES = ("images.parquet", "objects.parquet", "dataset.yaml")


def digests(path):
    return {name: hashlib.sha256((path / name).read_bytes()).hexdigest() for name in TABLES if (path / name).exists()}


def by_object(objects: pd.DataFrame) -> pd.DataFrame:
    return objects.set_index("object_id")


def label_with(ds, object_id):
    for sample in ds:
        for det in sample.ground_truth.detections:
            if getattr(det, "object_id", None) == object_id:
                return sample, det
    raise KeyError(object_id)


def test_round_trip_without_edits_leaves_tables_byte_identical(planted, fiftyone_db):
    path, _ = planted
    before = digests(path)
    report = review.send_dataset(path)
    assert report.mode == "created" and report.added == 9
    ds = fiftyone_db.load_dataset(path.name)
    objects = read_dataset(path).objects
    assert ds.count("ground_truth.detections") == int(objects["x_min"].notna().sum())
    sample = ds.match({"image_id": objects["image_id"].iloc[0]}).first()
    assert {"source", "brand", "product_title", "flat_lay", "split", "product_id", "sha256"} <= set(sample.field_names)

    first = review.sync_dataset(path)
    second = review.sync_dataset(path)
    assert first.changes == second.changes == 0 and not first.conflicts
    assert digests(path) == before
    assert not (path / CHANGES_FILE).exists()
    assert review.send_dataset(path).mode == "unchanged"


def test_mirrored_labels_carry_every_object_field(planted, fiftyone_db):
    path, _ = planted
    review.send_dataset(path)
    ds = fiftyone_db.load_dataset(path.name)
    objects = by_object(read_dataset(path).objects)
    for sample in ds:
        for det in sample.ground_truth.detections:
            row = objects.loc[det["object_id"]]
            x, y, w, h = det.bounding_box
            assert det.label == row["object_type"]
            assert np.float32(x + w) == row["x_max"] and np.float32(y + h) == row["y_max"]
            for name in ("category", "box_origin", "review_status", "source_label"):
                assert det[name] == row[name]
    dress = ds.match({"category.label": "dresses"}).first()
    assert sorted(c.label for c in dress.attributes.classifications) == ["length:midi", "pattern:striped", "style:a-line"]
    assert set(ds.match_tags("canny").values("image_id")) == set(objects.loc[objects["box_origin"] == "canny", "image_id"])


def test_views_hold_exactly_the_planted_objects(planted, fiftyone_db):
    path, ids = planted
    review.send_dataset(path)
    ds = fiftyone_db.load_dataset(path.name)
    auto = ds.load_saved_view("auto-boxed to review")
    assert auto.values("ground_truth.object_id") == ids["low_conf_order"]  # lowest confidence first
    assert ds.load_saved_view("sagemaker low confidence").values("ground_truth.object_id") == ids["sagemaker_low"]
    violations = ds.load_saved_view("taxonomy violations")
    found = [o for per in violations.values("ground_truth.detections.object_id") for o in per]
    found += [o for o in violations.values("category.object_id") if o is not None and o in ids["violations"]]
    assert sorted(found) == sorted(ids["violations"])
    assert ds.load_saved_view("augmented").values("image_id") == ids["augmented"]
    augmented = set(ds.match_tags("augmented").values("id"))
    for name in ds.list_saved_views():
        view = ds.load_saved_view(name)
        shown = view.values("sample_id" if view.has_field("sample_id") else "id")
        assert (name == "augmented") == bool(set(shown) & augmented), name


def test_curator_edits_arrive_in_tables_and_change_log(planted, fiftyone_db):
    path, ids = planted
    review.send_dataset(path)
    ds = fiftyone_db.load_dataset(path.name)
    objects = by_object(read_dataset(path).objects)
    relabel, move, delete, reject = ids["low_conf_order"][0], ids["low_conf_order"][1], ids["low_conf_order"][2], ids["sagemaker_low"][0]

    sample, det = label_with(ds, relabel)
    det["category"] = "trousers"  # same object type: only the category changes
    sample.save()
    sample, det = label_with(ds, move)
    det.bounding_box = [0.25, 0.35, 0.5, 0.5]
    sample.save()
    sample, det = label_with(ds, delete)
    sample.ground_truth.detections = [d for d in sample.ground_truth.detections if getattr(d, "object_id", None) != delete]
    sample.ground_truth.detections.append(review_detection(fiftyone_db))
    new_image = sample.image_id
    sample.save()
    _, det = label_with(ds, reject)
    ds.select_labels(ids=[det.id]).tag_labels("reject")  # what the App's tag menu does

    report = review.sync_dataset(path)
    assert not report.conflicts
    assert report.applied == {"edited": 2, "created": 1, "deleted": 1, "rejected": 1}
    after = by_object(read_dataset(path).objects)
    assert after.loc[relabel, "category"] == "trousers" and after.loc[relabel, "review_status"] == "edited"
    assert after.loc[move, ["x_min", "y_min", "x_max", "y_max"]].tolist() == pytest.approx([0.25, 0.35, 0.75, 0.85], abs=1e-6)
    assert delete not in after.index
    assert after.loc[reject, "review_status"] == "rejected"
    created = after[(after["image_id"] == new_image) & (after["box_origin"] == "manual") & (after["category"] == "sneakers")]
    assert len(created) == 1 and created["review_status"].iloc[0] == "edited"
    untouched = [o for o in objects.index if o not in (relabel, move, delete, reject)]
    pd.testing.assert_frame_equal(after.loc[untouched], objects.loc[untouched])

    changes = read_dataset(path).changes()
    logged = set(zip(changes["object_id"], changes["field"]))
    assert {(relabel, "category"), (relabel, "review_status"), (move, "x_max"), (move, "y_min"),
            (delete, "object"), (reject, "review_status"), (created.index[0], "object")} <= logged
    row = changes[(changes["object_id"] == relabel) & (changes["field"] == "category")].iloc[0]
    assert (row["before"], row["after"]) == ("jeans", "trousers") and row["when"] is not pd.NaT

    settled = digests(path) | {"changes": hashlib.sha256((path / CHANGES_FILE).read_bytes()).hexdigest()}
    again = review.sync_dataset(path)
    assert again.changes == 0 and not again.conflicts
    assert digests(path) | {"changes": hashlib.sha256((path / CHANGES_FILE).read_bytes()).hexdigest()} == settled
    assert review.send_dataset(path).mode == "unchanged"


def review_detection(fo):
    return fo.Detection(label="footwear", bounding_box=[0.6, 0.7, 0.2, 0.2], category="sneakers")


def test_sample_tag_accept_accepts_all_its_objects(planted, fiftyone_db):
    path, _ = planted
    review.send_dataset(path)
    ds = fiftyone_db.load_dataset(path.name)
    image_id = ds.first().image_id
    ds.select(ds.first().id).tag_samples("accept")
    review.sync_dataset(path)
    after = read_dataset(path).objects
    assert set(after.loc[after["image_id"] == image_id, "review_status"]) == {"accepted"}
    assert set(after.loc[after["image_id"] != image_id, "review_status"]) <= {"unreviewed", "accepted"}


def test_conflicting_disk_change_is_reported_and_nothing_is_overwritten(planted, fiftyone_db):
    path, ids = planted
    review.send_dataset(path)
    ds = fiftyone_db.load_dataset(path.name)
    target = ids["low_conf_order"][0]
    sample, det = label_with(ds, target)
    det["category"] = "trousers"
    sample.save()
    dataset = read_dataset(path)
    dataset.objects.loc[dataset.objects["object_id"] == target, "category"] = "shorts"
    save_tables(path, dataset.images, dataset.objects, dataset.meta)
    on_disk = digests(path)

    report = review.sync_dataset(path)
    assert [p.where for p in report.conflicts] == [f"image {sample.image_id} object {target}"]
    assert report.changes == 0
    assert digests(path) == on_disk and not (path / CHANGES_FILE).exists()
    assert label_with(fiftyone_db.load_dataset(path.name), target)[1]["category"] == "trousers"


def test_invalid_box_in_fiftyone_is_an_error_and_nothing_is_written(planted, fiftyone_db):
    path, ids = planted
    review.send_dataset(path)
    ds = fiftyone_db.load_dataset(path.name)
    sample, det = label_with(ds, ids["low_conf_order"][0])
    det.bounding_box = [0.6, 0.2, -0.3, 0.4]  # x2 < x1
    other, det2 = label_with(ds, ids["low_conf_order"][1])
    sample.save()
    det2["category"] = "trousers"  # a valid edit in the same sync is not applied either
    other.save()
    before = digests(path)
    with pytest.raises(CurateError, match=rf"{ids['low_conf_order'][0]}.*bounding_box.*x1 < x2"):
        review.sync_dataset(path)
    assert digests(path) == before and not (path / CHANGES_FILE).exists()


def test_rerun_updates_only_changed_rows_and_keeps_unsynced_edits(planted, fiftyone_db):
    path, ids = planted
    review.send_dataset(path)
    ds = fiftyone_db.load_dataset(path.name)
    untouched_id = ds.match({"image_id": {"$ne": None}}).first().id
    stamp = {s.id: s.last_modified_at for s in ds}
    edited_sample, det = label_with(ds, ids["sagemaker_low"][0])
    det["category"] = "blouses"
    edited_sample.save()

    dataset = read_dataset(path)
    objects = dataset.objects
    changed = ids["low_conf_order"][0]
    objects.loc[objects["object_id"] == changed, "box_confidence"] = np.float32(0.99)
    objects.loc[objects["object_id"] == ids["sagemaker_low"][0], "pattern"] = "checked"
    save_tables(path, dataset.images, objects, dataset.meta)

    report = review.send_dataset(path)
    assert report.mode == "updated" and report.updated == 1
    assert report.skipped_unsynced == [edited_sample.image_id]
    ds.reload()
    changed_sample, det = label_with(ds, changed)
    assert det["box_confidence"] == pytest.approx(0.99)
    assert [s.id for s in ds if s.last_modified_at != stamp[s.id]] == sorted({changed_sample.id, edited_sample.id}, key=list(stamp).index)
    assert label_with(ds, ids["sagemaker_low"][0])[1]["category"] == "blouses"
    assert untouched_id in stamp


def test_predictions_give_false_positive_and_negative_views(planted, fiftyone_db):
    path, _ = planted
    review.send_dataset(path)
    objects = read_dataset(path).objects
    boxes = objects[objects["x_min"].notna()]
    hit = boxes.iloc[0]
    predictions = pd.DataFrame([
        {**{c: hit[c] for c in ("image_id", "x_min", "y_min", "x_max", "y_max", "object_type")}, "score": 0.9},
        {"image_id": hit["image_id"], "x_min": 0.8, "y_min": 0.8, "x_max": 0.95, "y_max": 0.95, "object_type": "footwear", "score": 0.7},
    ])
    metrics = review.add_predictions(path, predictions, eval_key="eval")
    assert (metrics["tp"], metrics["fp"], metrics["fn"]) == (1, 1, len(boxes) - 1)  # the augmented copy is scored too
    ds = fiftyone_db.load_dataset(path.name)
    fp_view = ds.load_saved_view("false positives (eval)")
    assert fp_view.values("predictions.detections.label") == [["footwear"]]
    fn_ids = {o for per in ds.load_saved_view("false negatives (eval)").values("ground_truth.detections.object_id") for o in per}
    augmented = set(ds.match_tags("augmented").values("image_id"))
    assert fn_ids == set(boxes.loc[(boxes["object_id"] != hit["object_id"]) & ~boxes["image_id"].isin(augmented), "object_id"])
    with pytest.raises(CurateError, match="missing columns"):
        review.add_predictions(path, predictions.drop(columns=["score"]))

    # Scored on the one image the model saw: the rest of the ground truth is not "missed".
    only = review.add_predictions(path, predictions, eval_key="eval_one", image_ids=[hit["image_id"]])
    in_image = int((boxes["image_id"] == hit["image_id"]).sum())
    assert (only["tp"], only["fp"], only["fn"]) == (1, 1, in_image - 1)
    ds.reload()
    assert set(ds.load_saved_view("false negatives (eval_one)").values("image_id")) <= {hit["image_id"]}
    with pytest.raises(CurateError, match="have predictions but are not among the scored images"):
        review.add_predictions(path, predictions, eval_key="eval_none", image_ids=[])
