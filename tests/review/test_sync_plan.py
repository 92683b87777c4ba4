"""The sync plan on its own: FiftyOne's labels, the rows as sent and the rows on disk, no database."""

import numpy as np
import pandas as pd
import pytest

from curate.dataset import BOX_COLUMNS, objects_frame, stable_id
from curate.errors import CurateError
from curate.review.labels import as_python, object_row_hashes
from curate.review.sync_plan import FiftyOneState, edited_images, plan_sync
from curate.taxonomy import load_taxonomy

NOW = pd.Timestamp("2024-06-01T12:00:00Z")
FILE = "ds/objects.parquet"


@pytest.fixture
def disk():
    rows = [
        {"object_id": "o1", "image_id": "i1", "object_type": "upper-body", "category": "shirts", "source_label": "shirt",
         "box_origin": "canny", "box_confidence": 0.4, "x_min": 0.1, "y_min": 0.1, "x_max": 0.6, "y_max": 0.8},
        {"object_id": "o2", "image_id": "i1", "object_type": "lower-body", "category": "jeans", "source_label": "jeans",
         "box_origin": "manual", "x_min": 0.2, "y_min": 0.5, "x_max": 0.7, "y_max": 0.95},
        {"object_id": "o3", "image_id": "i2", "object_type": "full-body", "category": "dresses", "source_label": "dress",
         "pattern": "striped", "attributes": ["length:midi"]},
    ]
    frame = objects_frame(rows)
    for col in (*BOX_COLUMNS, "box_confidence"):
        frame[col] = pd.to_numeric(frame[col]).astype("float32")
    return frame


def sent_state(objects: pd.DataFrame) -> FiftyOneState:
    """What FiftyOne holds right after `send_dataset`: one label per row, each sent with its hashes."""
    rows = as_python(objects)
    labels = rows.assign(
        label_id=["L-" + o for o in rows["object_id"]],
        kind=["whole" if pd.isna(x) else "detection" for x in rows["x_min"]],
        sample_id=["S-" + i for i in rows["image_id"]],
        tags=[[] for _ in range(len(rows))],
    )
    full, content = object_row_hashes(rows), object_row_hashes(rows, with_status=False)
    sent: dict[str, dict] = {}
    for image_id, object_id, h, c in zip(rows["image_id"], rows["object_id"], full, content):
        sent.setdefault(image_id, {})[object_id] = (h, c)
    images = sorted(set(rows["image_id"]))
    return FiftyOneState(labels.reset_index(drop=True), sent, {i: "S-" + i for i in images}, {i: [] for i in images})


def plan(state, objects):
    return plan_sync(state, objects, load_taxonomy(), "review-ds", FILE, now=NOW)


def label(state, object_id):
    return state.labels.index[state.labels["object_id"] == object_id][0]


def test_nothing_edited_plans_nothing(disk):
    result = plan(sent_state(disk), disk)
    assert result.objects is None and result.changes == [] and result.applied == {}
    assert result.conflicts == [] and result.stale == 0 and result.touched_images == []
    assert edited_images(sent_state(disk), as_python(disk)) == []


def test_a_category_edit_brings_its_object_type_and_is_logged_field_by_field(disk):
    state = sent_state(disk)
    state.labels.at[label(state, "o1"), "category"] = "dresses"
    result = plan(state, disk)
    assert result.applied == {"edited": 1} and result.touched_images == ["i1"]
    logged = {c["field"]: (c["before"], c["after"]) for c in result.changes}
    assert logged == {"object_type": ("upper-body", "full-body"), "category": ("shirts", "dresses"), "review_status": ("unreviewed", "edited")}
    assert all(c["object_id"] == "o1" and c["when"] == NOW for c in result.changes)
    row = result.objects.set_index("object_id").loc["o1"]
    assert (row["object_type"], row["category"], row["review_status"]) == ("full-body", "dresses", "edited")
    assert list(result.objects.dtypes) == list(disk.dtypes)
    assert result.change_log().columns.tolist() == ["object_id", "image_id", "field", "before", "after", "when"]


def test_tags_decide_the_review_status(disk):
    state = sent_state(disk)
    state.labels.at[label(state, "o1"), "tags"] = ["accept"]
    state.sample_tags["i2"] = ["reject"]
    result = plan(state, disk)
    assert result.applied == {"accepted": 1, "rejected": 1}
    statuses = result.objects.set_index("object_id")["review_status"].to_dict()
    assert statuses == {"o1": "accepted", "o2": "unreviewed", "o3": "rejected"}


def test_a_moved_box_is_edited_and_a_deleted_label_deletes_its_row(disk):
    state = sent_state(disk)
    at = label(state, "o1")
    state.labels.loc[at, ["x_min", "x_max"]] = [0.15, 0.65]
    state.labels = state.labels[state.labels["object_id"] != "o3"].reset_index(drop=True)
    result = plan(state, disk)
    assert result.applied == {"edited": 1, "deleted": 1}
    assert set(result.objects["object_id"]) == {"o1", "o2"} and result.touched_images == ["i1", "i2"]
    deleted = [c for c in result.changes if c["object_id"] == "o3"]
    assert len(deleted) == 1 and deleted[0]["field"] == "object" and deleted[0]["after"] is None
    assert '"category": "dresses"' in deleted[0]["before"]
    moved = {c["field"] for c in result.changes if c["object_id"] == "o1"}
    assert moved == {"x_min", "x_max", "review_status"}
    assert np.isclose(result.objects.set_index("object_id").at["o1", "x_min"], 0.15)


def test_a_box_drawn_in_fiftyone_becomes_a_new_manual_row(disk):
    state = sent_state(disk)
    drawn = {c: None for c in state.labels.columns} | {
        "label_id": "L-new", "kind": "detection", "sample_id": "S-i2", "image_id": "i2", "object_type": "footwear",
        "category": "boots", "x_min": 0.3, "y_min": 0.8, "x_max": 0.5, "y_max": 0.95, "attributes": [], "tags": [],
    }
    state.labels = pd.concat([state.labels, pd.DataFrame([drawn])], ignore_index=True)
    result = plan(state, disk)
    assert result.applied == {"created": 1}
    new_id = stable_id("i2", "fiftyone", "L-new")
    row = result.objects.set_index("object_id").loc[new_id]
    assert (row["box_origin"], row["source_label"], row["review_status"]) == ("manual", "curator", "edited")
    (created,) = result.changes
    assert created["field"] == "object" and created["before"] is None and '"category": "boots"' in created["after"]


def test_a_row_changed_on_both_sides_is_a_conflict_and_its_image_is_left_alone(disk):
    state = sent_state(disk)
    state.labels.at[label(state, "o1"), "category"] = "t-shirts"  # edited in FiftyOne ...
    state.labels.at[label(state, "o3"), "pattern"] = "checked"
    changed = disk.copy()
    changed.loc[changed["object_id"] == "o1", "category"] = "sweaters"  # ... and on disk since it was sent
    changed.loc[changed["object_id"] == "o2", "source_label"] = "denim"  # changed on disk only: stale
    result = plan(state, changed)
    (conflict,) = result.conflicts
    assert conflict.file == FILE and conflict.where == "image i1 object o1" and "edited there too (label L-o1)" in conflict.message
    assert result.applied == {"edited": 1} and result.touched_images == ["i2"]
    assert result.objects.set_index("object_id").at["o1", "category"] == "sweaters"
    assert result.stale == 1


def test_an_invalid_box_is_refused_before_anything_is_planned(disk):
    state = sent_state(disk)
    state.labels.loc[label(state, "o1"), ["x_min", "x_max"]] = [0.7, 0.2]
    with pytest.raises(CurateError, match=r"FiftyOne dataset 'review-ds': image i1 label L-o1 \(object_id=o1\): field 'ground_truth.bounding_box': expected x1 < x2"):
        plan(state, disk)


def test_planning_again_after_applying_changes_nothing(disk):
    state = sent_state(disk)
    state.labels.at[label(state, "o1"), "style"] = "oxford"
    first = plan(state, disk)
    assert first.applied == {"edited": 1}
    again = plan(sent_state(first.objects), first.objects)
    assert again.objects is None and again.changes == []
