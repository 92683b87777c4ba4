"""DeepFashion, Category and Attribute Prediction Benchmark.

Anno/list_category_cloth.txt (names, 1-based ids), list_category_img.txt, list_bbox.txt,
optionally list_attr_cloth.txt + list_attr_img.txt (values 1 / -1 / 0), and
Eval/list_eval_partition.txt for the official train/val/test. Product titles come from the
image folder names (img/Sheer_Pleated-Front_Blouse/img_00000001.jpg); attribute names feed
the mapping's attribute rules to suggest a pattern and a style.
"""

from __future__ import annotations

from pathlib import Path

from curate.errors import CurateError
from curate.sources.common import BadItem, ErrorPolicy, SourceRead, read_deepfashion_list, report_bad_item, require_file
from curate.taxonomy import PATTERN_KEY, STYLE_KEY, SourceMapping

PARTITIONS = {"train": "train", "val": "val", "test": "test"}


def title_from_image_name(image_name: str) -> str:
    """img/Sheer_Pleated-Front_Blouse/img_00000001.jpg -> 'Sheer Pleated-Front Blouse'."""
    parts = image_name.split("/")
    return parts[-2].replace("_", " ") if len(parts) >= 2 else ""


def attribute_hints(attribute_names: list[str], mapping: SourceMapping) -> list[tuple[str, str]]:
    """(pattern or style, value) per attribute name, from the mapping's attribute rules."""
    return [next(iter(mapping.attribute_values(name)), (None, None)) for name in attribute_names]


def read_deepfashion(path: str | Path, *, policy: ErrorPolicy, resolver: SourceMapping) -> SourceRead:
    root = Path(path)
    anno = root / "Anno"
    if not root.is_dir():
        raise CurateError.at(root, "DeepFashion folder not found")
    decoding: list[dict[str, str]] = []
    categories = [name for _, name, _ in read_deepfashion_list(require_file(anno / "list_category_cloth.txt", "category list"), decoding)]
    category_rows = read_deepfashion_list(require_file(anno / "list_category_img.txt", "image category list"), decoding)
    boxes = {name: (number, values) for number, name, values in read_deepfashion_list(require_file(anno / "list_bbox.txt", "bounding box list"), decoding)}
    files = [anno / "list_category_cloth.txt", anno / "list_category_img.txt", anno / "list_bbox.txt"]

    attr_file, attr_img_file = anno / "list_attr_cloth.txt", anno / "list_attr_img.txt"
    attributes: dict[str, tuple[int, list[str]]] = {}
    attribute_names: list[str] = []
    if attr_file.exists() or attr_img_file.exists():
        attribute_names = [name for _, name, _ in read_deepfashion_list(require_file(attr_file, "attribute list"), decoding)]
        attributes = {name: (number, values) for number, name, values in read_deepfashion_list(require_file(attr_img_file, "image attribute list"), decoding)}
        files += [attr_file, attr_img_file]
    hints = attribute_hints(attribute_names, resolver)

    partition_file = root / "Eval" / "list_eval_partition.txt"
    partition: dict[str, str] = {}
    if partition_file.exists():
        partition = {name: values[0] if values else "" for _, name, values in read_deepfashion_list(partition_file, decoding)}
        files.append(partition_file)

    result = SourceRead(files=[str(f) for f in files], roots=[str(root)], decoding=decoding)
    category_file = anno / "list_category_img.txt"
    for number, image_name, values in category_rows:
        where = f"line {number} ({image_name})"
        try:
            entry = deepfashion_entry(root, image_name, values, categories, boxes, attributes, attribute_names, hints, partition)
        except BadItem as exc:
            report_bad_item(policy, category_file, exc, where)
            continue
        entry["origin"] = (str(category_file), where)
        result.images.append(entry)
    return result


def deepfashion_entry(root, image_name, values, categories, boxes, attributes, attribute_names, hints, partition) -> dict:
    if len(values) != 1 or not values[0].lstrip("-").isdigit():
        raise BadItem(f"expected one category id, found {' '.join(values)!r}", field_name="category_label")
    category_id = int(values[0])
    if not 1 <= category_id <= len(categories):
        raise BadItem(f"unknown category id {category_id} (list_category_cloth.txt has 1-{len(categories)})", field_name="category_label")
    if image_name not in boxes:
        raise BadItem("no bounding box in list_bbox.txt", field_name="bbox", file=root / "Anno" / "list_bbox.txt")
    box_values = boxes[image_name][1]
    if len(box_values) != 4 or not all(v.lstrip("-").isdigit() for v in box_values):
        raise BadItem(f"expected x_1 y_1 x_2 y_2 as whole numbers, found {' '.join(box_values)!r}", where=f"line {boxes[image_name][0]}", field_name="bbox", file=root / "Anno" / "list_bbox.txt")
    obj = {"source_label": categories[category_id - 1], "box_xyxy_px": [int(v) for v in box_values]}
    if attribute_names:
        if image_name not in attributes:
            raise BadItem("no attributes in list_attr_img.txt", field_name="attribute_labels", file=root / "Anno" / "list_attr_img.txt")
        flags = attributes[image_name][1]
        if len(flags) != len(attribute_names) or any(f not in ("1", "-1", "0") for f in flags):
            raise BadItem(f"expected {len(attribute_names)} attribute values of 1, -1 or 0", where=f"line {attributes[image_name][0]}", field_name="attribute_labels", file=root / "Anno" / "list_attr_img.txt")
        positive = [i for i, f in enumerate(flags) if f == "1"]
        obj["source_attributes"] = [attribute_names[i] for i in positive]
        obj["pattern_candidates"] = [hints[i][1] for i in positive if hints[i][0] == PATTERN_KEY]
        obj["style_candidates"] = [hints[i][1] for i in positive if hints[i][0] == STYLE_KEY]
    status = partition.get(image_name)
    return {
        "source_id": image_name,
        "path": str(root / image_name),
        "path_field": "image_name",
        "name": title_from_image_name(image_name),
        "split": PARTITIONS.get(status) if status else None,
        "objects": [obj],
    }
