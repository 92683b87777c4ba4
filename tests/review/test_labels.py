"""The pure side of the review loop: row hashes, taxonomy checks, origin tags (no database)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.dataset import images_frame, objects_frame
from curate.review.labels import object_row_hashes, origin_tags
from curate.taxonomy import load_taxonomy
from curate.taxonomy.rules import label_issues

unit = st.floats(0, 1, allow_nan=False, width=32)


def one_object(**values) -> pd.DataFrame:
    row = {"object_id": "o1", "image_id": "i1", "x_min": 0.1, "y_min": 0.2, "x_max": 0.5, "y_max": 0.6,
           "object_type": "upper-body", "category": "shirts", "source_label": "shirt", "box_origin": "canny",
           "box_confidence": 0.5, "attributes": []}
    row.update(values)
    frame = objects_frame([row])
    for col in ("x_min", "y_min", "x_max", "y_max", "box_confidence"):
        frame[col] = pd.to_numeric(frame[col]).astype("float32")
    return frame


@settings(max_examples=100, deadline=None)
@given(xs=st.lists(unit, min_size=2, max_size=2, unique=True), ys=st.lists(unit, min_size=2, max_size=2, unique=True))
def test_box_sent_as_xywh_and_read_back_hashes_the_same(xs, ys):
    """Any valid box (x1 < x2, y1 < y2, float32 in 0..1) survives [x, y, w, h] in float64 exactly."""
    (x1, x2), (y1, y2) = sorted(xs), sorted(ys)
    rows = one_object(x_min=x1, y_min=y1, x_max=x2, y_max=y2)
    x, y = float(rows["x_min"][0]), float(rows["y_min"][0])
    w, h = float(rows["x_max"][0]) - x, float(rows["y_max"][0]) - y  # what FiftyOne stores
    back = rows.copy()
    back["x_max"], back["y_max"] = x + w, y + h  # float64, as read from FiftyOne
    assert object_row_hashes(back).tolist() == object_row_hashes(rows).tolist()


def test_every_mirrored_field_changes_the_hash_and_status_only_the_full_hash():
    base = one_object()
    seen = {object_row_hashes(base)[0]}
    for col, value in [("x_min", 0.11), ("category", "blouses"), ("pattern", "floral"), ("style", "formal"),
                       ("attributes", ["fit:slim"]), ("box_origin", "manual"), ("box_confidence", 0.25),
                       ("source_label", "tee"), ("object_type", "full-body"), ("review_status", "accepted")]:
        changed = base.copy()
        changed.at[0, col] = value
        seen.add(object_row_hashes(changed)[0])
    assert len(seen) == 11
    accepted = base.copy()
    accepted.at[0, "review_status"] = "accepted"
    assert object_row_hashes(accepted, with_status=False)[0] == object_row_hashes(base, with_status=False)[0]
    assert object_row_hashes(one_object(pattern=None))[0] != object_row_hashes(one_object(pattern="None"))[0]


def test_taxonomy_issues_flag_exactly_the_violations():
    tax = load_taxonomy()
    frame = pd.concat([
        one_object(object_id="ok", style="formal", pattern="floral"),
        one_object(object_id="bad-style", style="bomber"),
        one_object(object_id="two-patterns", pattern="floral", attributes=["pattern:striped"]),
        one_object(object_id="wrong-type", object_type="footwear", category="jeans"),
    ], ignore_index=True)
    issues = dict(zip(frame["object_id"], label_issues(frame, tax)))
    assert issues["ok"] is None
    assert issues["bad-style"] == "style 'bomber' not allowed for 'shirts'"
    assert issues["two-patterns"] == "more than one pattern"
    assert issues["wrong-type"] == "category 'jeans' is lower-body, not footwear"


def test_origin_tags_per_image():
    images = images_frame([{"image_id": "a", "path": "a.jpg", "source": "s", "source_id": "1"},
                           {"image_id": "b", "path": "b.jpg", "source": "s", "source_id": "2", "parent_image_id": "a"}])
    objects = pd.concat([one_object(image_id="a", box_origin="sagemaker"), one_object(object_id="o2", image_id="a", box_origin="canny"),
                         one_object(object_id="o3", image_id="b", box_origin="manual")], ignore_index=True)
    assert origin_tags(images, objects).tolist() == [["canny", "sagemaker"], ["augmented"]]
    assert np.all(object_row_hashes(objects).str.len() == 16)
