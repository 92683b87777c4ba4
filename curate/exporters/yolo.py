"""Ultralytics YOLO layout: images/<split>/, labels/<split>/*.txt and data.yaml."""

from __future__ import annotations

from pathlib import Path

import yaml

from curate.dataset import Dataset, write_text_atomic
from curate.exporters.common import by_split, class_names, export_images, place_image, summary, write_label_file
from curate.geometry import xyxy_to_cxcywh


def yolo_lines(image, ids: dict[str, int]) -> str:
    """One `class cx cy w h` line per box, all relative to the image size."""
    lines = []
    for box, label in zip(image.boxes, image.labels):
        cx, cy, w, h = xyxy_to_cxcywh(box)
        lines.append(f"{ids[label]} {cx:.8f} {cy:.8f} {w:.8f} {h:.8f}\n")
    return "".join(lines)


def write_yolo(dataset: Dataset, out: str | Path, split: str | None = None) -> dict[str, int]:
    out = Path(out)
    images = export_images(dataset, split)
    names = class_names()
    ids = {name: i for i, name in enumerate(names)}
    groups = by_split(images)
    for split_name, group in groups.items():
        for image in group:
            place_image(image.source_path, out / "images" / split_name / image.file_name)
            write_label_file(out / "labels" / split_name / f"{Path(image.file_name).stem}.txt", yolo_lines(image, ids))
    data = {"path": str(out.resolve())}
    data.update({split_name: f"images/{split_name}" for split_name in groups})
    data["names"] = dict(enumerate(names))
    write_text_atomic(out / "data.yaml", yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return summary(images)
