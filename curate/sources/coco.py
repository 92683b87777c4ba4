"""COCO instances JSON: images, annotations with bbox [x, y, w, h] in pixels, categories.

Images are looked for in the `images` folder when one is given, beside the JSON, in
../images/<split>/ and ../<split>/ (the split comes from the file name: instances_train2017.json
-> train), and in an images/ or data/ folder beside the JSON or one level up (a COCO JSON
beside its images/ folder; FiftyOne's export of labels.json beside data/).
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from curate.errors import CurateError
from curate.geometry import xywh_to_xyxy
from curate.sources.common import BadItem, ErrorPolicy, SourceRead, describe_json, expect_box, expect_object, expect_size, find_existing, image_candidates, read_json_file, report_bad_item, require_file

_SPLIT_NAME = re.compile(r"instances_([a-z]+?)(\d{4})?$")
SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test", "gold": "gold"}


def split_of(json_path: Path) -> tuple[str | None, str | None]:
    """(dataset split, folder name) from instances_<name>.json."""
    match = _SPLIT_NAME.match(json_path.stem)
    if not match:
        return None, None
    return SPLIT_NAMES.get(match.group(1)), match.group(1) + (match.group(2) or "")


def read_coco(path: str | Path, *, policy: ErrorPolicy, images: str | Path | None = None) -> SourceRead:
    json_path = require_file(Path(path), "COCO annotation file")
    result = SourceRead(files=[str(json_path)], roots=[str(json_path.parent.parent)])
    try:
        doc = read_json_file(json_path, result.decoding)
    except BadItem as exc:
        raise CurateError.at(json_path, str(exc), where=exc.where) from None
    if not isinstance(doc, dict):
        raise CurateError.at(json_path, f"expected a JSON object with images, annotations and categories, found {describe_json(doc)}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc.get(key), list):
            raise CurateError.at(json_path, f"expected a list, found {describe_json(doc.get(key))}", field=key)
    categories = {}
    for index, category in enumerate(doc["categories"]):
        try:
            category = expect_object(category, where=f"categories[{index}]")
        except BadItem as exc:
            report_bad_item(policy, json_path, exc)
            continue
        categories[category.get("id")] = category.get("name")
    by_image = defaultdict(list)
    for index, ann in enumerate(doc["annotations"]):
        try:
            by_image[expect_object(ann, where=f"annotations[{index}]").get("image_id")].append((index, ann))
        except BadItem as exc:
            report_bad_item(policy, json_path, exc)
    records = []
    for index, img in enumerate(doc["images"]):
        try:
            records.append((index, expect_object(img, where=f"images[{index}]")))
        except BadItem as exc:
            report_bad_item(policy, json_path, exc)
    known_images = {img.get("id") for _, img in records}
    for image_id in by_image.keys() - known_images:
        policy.problem(json_path, f"annotation refers to image id {image_id!r}, which is not under 'images'", where=f"annotations[{by_image[image_id][0][0]}]", field_name="image_id")

    split, folder_name = split_of(json_path)
    base = json_path.parent
    for index, img in records:
        where = f"images[{index}] (id {img.get('id')!r})"
        try:
            file_name = img.get("file_name")
            if not isinstance(file_name, str) or not file_name:
                raise BadItem(f"expected the image's file name, found {describe_json(file_name)}", field_name="file_name")
            width, height = expect_size(img.get("width"), field_name="width"), expect_size(img.get("height"), field_name="height")
            candidates = image_candidates(file_name, base, images, [base.parent / "images" / (folder_name or "") / file_name, base.parent / (folder_name or "images") / file_name, base.parent / "images" / file_name])
            objects = [coco_object(ann, i, categories) for i, ann in by_image.get(img.get("id"), [])]
        except BadItem as exc:
            report_bad_item(policy, json_path, exc, where)
            continue
        result.images.append(
            {
                "source_id": str(img.get("id")),
                "path": str(find_existing(candidates)),
                "path_field": "file_name",
                "width": width,
                "height": height,
                "split": split,
                "origin": (str(json_path), where),
                "objects": objects,
            }
        )
    return result


def coco_object(ann: dict, index: int, categories: dict) -> dict:
    where = f"annotations[{index}] (id {ann.get('id')!r})"
    category_id = ann.get("category_id")
    if category_id not in categories:
        raise BadItem(f"unknown category id {category_id!r} (not under 'categories')", where=where, field_name="category_id")
    bbox = expect_box(ann.get("bbox"), "[x, y, width, height]", where=where, field_name="bbox")
    return {"source_label": categories[category_id], "box_xyxy_px": xywh_to_xyxy(bbox).tolist(), "iscrowd": bool(ann.get("iscrowd", 0))}
