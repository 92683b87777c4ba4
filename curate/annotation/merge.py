"""Hand boxes merged into an image's objects, and the change log of what that changed.

The boxes a curator gives an image are all of its boxes: garments entirely inside the picture,
each with its object type or category. On such an image:

1. Each hand box is matched to an existing box (IoU >= 0.5, the same object type first). A
   matched box keeps its object and labels; within half a pixel it is unchanged, otherwise it
   takes the hand geometry. A label of another object type clears the category (and a style the
   category no longer allows); a category label sets the category and its object type.
2. An existing box no hand box matched is gone from the picture: an object that carries a
   category no other object of the image carries becomes a whole-image label again (the product
   is in the photo, just not entirely); any other is deleted.
3. A hand box left over goes to the image's whole-image object of the same object type (in a
   catalogue, the product, with its category, pattern and style from the title), replacing the
   whole-image label; a second box of that type (the other shoe) becomes a copy of it. Any other
   hand box (the trousers and trainers worn with a t-shirt) is a new object with its object type
   and no category (or the category it was labelled with).
4. A whole-image object still without a box was not entirely in frame: it stays a whole-image
   label with `box_origin` manual, which tells auto-boxing to leave it alone.

`none` is an image with no hand boxes (steps 2 and 4 only); `excluded` deletes every object of
the image; `skip` leaves it as it is. New and moved boxes get `box_origin` manual (a box only
relabelled keeps its origin and confidence); every object whose box or labels changed gets
`review_status` edited, as an edit synced from the review App does.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np
import pandas as pd

from curate.annotation.check import Answer, HandBox
from curate.dataset import BOX_COLUMNS, OBJECT_FIELD, format_value, object_json, objects_frame, stable_id
from curate.geometry import edge_shift_xyxy_px, iou_xyxy
from curate.taxonomy import Taxonomy

MATCH_IOU = 0.5
# a box within half a pixel of the existing one is the same box (VOC rounds to whole pixels)
UNCHANGED_PX = 0.5
LOGGED = (*BOX_COLUMNS, "object_type", "category", "pattern", "style", "attributes", "source_label",
          "box_origin", "box_confidence", "review_status")
LABELS = ("object_type", "category", "style", "pattern")


def _null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def has_box(row: dict) -> bool:
    return not any(_null(row[c]) for c in BOX_COLUMNS)


def _box(row: dict) -> tuple[float, ...]:
    return tuple(float(row[c]) for c in BOX_COLUMNS)


def _set_box(row: dict, box: tuple[float, ...] | None) -> None:
    for col, value in zip(BOX_COLUMNS, box or (None,) * 4):
        row[col] = value
    row["box_confidence"] = None


def match_boxes(hand: list[HandBox], boxed: list[dict]) -> list[tuple[int, int]]:
    """(hand index, existing index) pairs: greedy on IoU >= MATCH_IOU, the same object type first."""
    if not hand or not boxed:
        return []
    iou = iou_xyxy(np.array([h.box for h in hand]), np.array([_box(r) for r in boxed]))
    candidates = [(h.target.object_type == boxed[j]["object_type"], iou[i, j], -i, -j)
                  for i, h in enumerate(hand) for j in range(len(boxed)) if iou[i, j] >= MATCH_IOU]
    pairs, used_hand, used_boxed = [], set(), set()
    for _, _, i, j in sorted(candidates, reverse=True):
        if -i not in used_hand and -j not in used_boxed:
            pairs.append((-i, -j))
            used_hand.add(-i)
            used_boxed.add(-j)
    return sorted(pairs)


def relabel(row: dict, hand: HandBox, tax: Taxonomy) -> None:
    """Give an existing object the hand box's label; what no longer fits is cleared."""
    target = hand.target
    if target.category is not None:
        category = target.category
    else:
        category = row["category"] if target.object_type == row["object_type"] else None
    row["object_type"] = target.object_type
    row["category"] = None if _null(category) else category
    style = target.style or (None if _null(row["style"]) else row["style"])
    row["style"] = style if style is not None and row["category"] is not None and tax.allows_style(row["category"], style) else None
    row["pattern"] = target.pattern or (None if _null(row["pattern"]) else row["pattern"])


def _labels(row: dict) -> tuple:
    return tuple(None if _null(row[c]) else row[c] for c in LABELS)


def _takes(whole: dict, hand: HandBox) -> bool:
    """A whole-image object takes a hand box of its own object type (and category, if labelled)."""
    category = None if _null(whole["category"]) else whole["category"]
    return whole["object_type"] == hand.target.object_type and hand.target.category in (None, category)


def _edited(row: dict) -> dict:
    row["box_origin"] = "manual"
    row["review_status"] = "edited"
    return row


def merge_image(image_id: str, rows: list[dict], answer: Answer, image_wh: tuple[int, int] | None, tax: Taxonomy, stats: dict) -> list[dict]:
    """The image's object rows after the answer (see the module docstring)."""
    if answer.status == "skip":
        return rows
    if answer.status == "excluded":
        return []
    rows = [dict(r) for r in rows]
    boxed = [r for r in rows if has_box(r)]
    whole = [r for r in rows if not has_box(r)]
    hand = answer.boxes
    pairs = match_boxes(hand, boxed)
    size = image_wh or (1000, 1000)  # unknown size: judge "the same box" at a 1000 px scale
    kept = []
    for i, j in pairs:
        row, before = boxed[j], _labels(boxed[j])
        relabel(row, hand[i], tax)
        moved = edge_shift_xyxy_px(hand[i].box, _box(row), size)[0] > UNCHANGED_PX
        if moved:
            _set_box(row, hand[i].box)
            row["box_origin"] = "manual"
        if moved or _labels(row) != before:
            row["review_status"] = "edited"
        kept.append(row)
    matched = {j for _, j in pairs}
    for j, row in enumerate(boxed):
        if j in matched:
            continue
        carried = {(r["object_type"], r["category"]) for r in kept + whole}
        if not _null(row["category"]) and (row["object_type"], row["category"]) not in carried:
            _set_box(row, None)
            whole.append(_edited(row))  # the product is still in the photo, not entirely in frame
    taken: dict[int, int] = {}
    new_rows = []
    matched_hand = {i for i, _ in pairs}
    for i, box in enumerate(hand):
        if i in matched_hand:
            continue
        owner = next((k for k, w in enumerate(whole) if _takes(w, box)), None)
        if owner is None:
            new_rows.append(_new_object(image_id, box))
            continue
        product = whole[owner]
        if owner not in taken:
            taken[owner] = 0
            if box.target.category and _null(product["category"]):
                product["category"] = box.target.category
            _set_box(product, box.box)
            _edited(product)
            stats["products_boxed"] += 1
            continue
        taken[owner] += 1
        copy = dict(product)
        copy["object_id"] = stable_id(product["object_id"], "copy", taken[owner])
        _set_box(copy, box.box)
        new_rows.append(_edited(copy))
        stats["product_copies"] += 1
    if any(n for n in taken.values()):
        stats["images_with_product_copies"].append(image_id)
    for k, row in enumerate(whole):
        if k not in taken:
            row["box_origin"] = "manual"
            stats["kept_whole"] += 1
    return _unique_ids(kept + whole + new_rows)


def _new_object(image_id: str, hand: HandBox) -> dict:
    target = hand.target
    row = {"object_id": stable_id(image_id, "hand", hand.label, *(round(v, 4) for v in hand.box)), "image_id": image_id,
           "object_type": target.object_type, "category": target.category, "style": target.style,
           "pattern": target.pattern, "attributes": [], "source_label": hand.label}
    _set_box(row, hand.box)
    return _edited(row)


def _unique_ids(rows: list[dict]) -> list[dict]:
    """Two identical hand boxes on one image get distinct ids."""
    seen: dict[str, int] = defaultdict(int)
    for row in rows:
        seen[row["object_id"]] += 1
        if seen[row["object_id"]] > 1:
            row["object_id"] = stable_id(row["object_id"], seen[row["object_id"]])
    return rows


def change_rows(image_id: str, before: list[dict], after: list[dict], when: pd.Timestamp) -> list[dict]:
    """The change log of one image: a row per changed field, or per created / deleted object."""
    old = {r["object_id"]: r for r in before}
    new = {r["object_id"]: r for r in after}
    changes = []
    for object_id, row in new.items():
        if object_id not in old:
            changes.append({"object_id": object_id, "image_id": image_id, "field": OBJECT_FIELD, "before": None, "after": object_json(row, LOGGED), "when": when})
            continue
        for col in LOGGED:
            was, now = format_value(old[object_id][col]), format_value(row[col])
            if was != now:
                changes.append({"object_id": object_id, "image_id": image_id, "field": col, "before": was, "after": now, "when": when})
    for object_id, row in old.items():
        if object_id not in new:
            changes.append({"object_id": object_id, "image_id": image_id, "field": OBJECT_FIELD, "before": object_json(row, LOGGED), "after": None, "when": when})
    return changes


def _records(objects: pd.DataFrame) -> list[dict]:
    records = objects.astype(object).where(objects.notna(), None).to_dict("records")
    for record, attributes in zip(records, objects["attributes"]):
        record["attributes"] = list(attributes) if attributes is not None else []
    return records


def apply_answers(images: pd.DataFrame, objects: pd.DataFrame, answers: dict[str, Answer], tax: Taxonomy, when: pd.Timestamp) -> tuple[pd.DataFrame, list[dict], dict]:
    """The objects table with every answer merged in, the change-log rows and the counts."""
    stats: dict[str, Any] = {"products_boxed": 0, "product_copies": 0, "kept_whole": 0, "images_with_product_copies": []}
    named = objects["image_id"].isin(list(answers))
    by_image: dict[str, list[dict]] = defaultdict(list)
    for record in _records(objects[named]):
        by_image[record["image_id"]].append(record)
    sizes = {i: (int(w), int(h)) for i, w, h in zip(images["image_id"], images["width"], images["height"]) if pd.notna(w) and pd.notna(h)}
    merged, changes = [], []
    for image_id, answer in answers.items():
        rows = merge_image(image_id, by_image.get(image_id, []), answer, sizes.get(image_id), tax, stats)
        changes.extend(change_rows(image_id, by_image.get(image_id, []), rows, when))
        merged.extend(rows)
    kinds = pd.Series([c["field"] for c in changes], dtype=object)
    created = sum(1 for c in changes if c["field"] == OBJECT_FIELD and c["before"] is None)
    deleted = sum(1 for c in changes if c["field"] == OBJECT_FIELD and c["after"] is None)
    edited = len({c["object_id"] for c in changes if c["field"] != OBJECT_FIELD})
    statuses = pd.Series([a.status or "boxes" for a in answers.values()], dtype=object).value_counts()
    report = {
        "images": {str(k): int(v) for k, v in statuses.sort_index().items()},
        "hand_boxes": sum(len(a.boxes) for a in answers.values()),
        "objects": {"created": created, "edited": edited, "deleted": deleted},
        "changed_fields": {str(k): int(v) for k, v in kinds.value_counts().sort_index().items()},
        **stats,
    }
    if not changes:
        return objects, [], report
    table = pd.concat([objects[~named], objects_frame(pd.DataFrame(merged, dtype=object))], ignore_index=True)
    for col in (*BOX_COLUMNS, "box_confidence"):
        table[col] = pd.to_numeric(table[col]).astype("float32")
    return table, changes, report
