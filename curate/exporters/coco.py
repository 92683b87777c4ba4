"""COCO instances JSON per split: annotations/instances_<split>.json and images/<split>/."""

from __future__ import annotations

import json
from pathlib import Path

from curate.dataset import Dataset, write_text_atomic
from curate.exporters.common import by_split, class_names, export_images, place_image, summary
from curate.geometry import area_xyxy, xyxy_rel_to_px, xyxy_to_xywh


def coco_document(images, names: list[str]) -> dict:
    """The instances document; category ids are 1-based positions in the taxonomy's labels."""
    ids = {name: i + 1 for i, name in enumerate(names)}
    doc = {
        "info": {"description": "exported by curate"},
        "images": [],
        "annotations": [],
        "categories": [{"id": ids[n], "name": n, "supercategory": n if i == 0 else ""} for i, n in enumerate(names)],
    }
    for image_number, image in enumerate(images, start=1):
        doc["images"].append({"id": image_number, "file_name": image.file_name, "width": image.width, "height": image.height})
        for box, label in zip(image.boxes, image.labels):
            box_px = xyxy_rel_to_px(box, (image.width, image.height))
            doc["annotations"].append(
                {
                    "id": len(doc["annotations"]) + 1,
                    "image_id": image_number,
                    "category_id": ids[label],
                    "bbox": xyxy_to_xywh(box_px).tolist(),
                    "area": float(area_xyxy(box_px)[0]),
                    "iscrowd": 0,
                }
            )
    return doc


def write_coco(dataset: Dataset, out: str | Path, split: str | None = None) -> dict[str, int]:
    out = Path(out)
    images = export_images(dataset, split)
    names = class_names()
    for split_name, group in by_split(images).items():
        for image in group:
            place_image(image.source_path, out / "images" / split_name / image.file_name)
        doc = coco_document(group, names)
        write_text_atomic(out / "annotations" / f"instances_{split_name}.json", json.dumps(doc))
    return summary(images)
