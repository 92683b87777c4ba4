"""DeepFashion2: one JSON per image (`annos/000001.json`) beside `image/000001.jpg`.

Each file holds `source` (shop or user), `pair_id` and `item1..itemN` with category_id,
category_name, bounding_box [x1, y1, x2, y2] in pixels, style, occlusion, zoom_in, viewpoint
and scale. Those per-item fields are kept as object columns so evaluation can be sliced by
them; DeepFashion2's `style` (a pair-matching id, not a fashion style) becomes `df2_style`, and
the item key (item1, item2, ...) `df2_item`.
"""

from __future__ import annotations

import os
from pathlib import Path

from curate.errors import CurateError
from curate.sources.common import BadItem, ErrorPolicy, SourceRead, describe_json, expect_box, expect_object, read_json_file, report_bad_item

SPLIT_DIRS = {"train": "train", "validation": "val", "test": "test"}
ITEM_COLUMNS = {"occlusion": "occlusion", "zoom_in": "zoom_in", "viewpoint": "viewpoint", "scale": "scale", "style": "df2_style"}


def split_dirs(path: Path) -> list[tuple[Path, str | None]]:
    """(folder with annos/ and image/, split) for a DeepFashion2 root or one of its splits."""
    if (path / "annos").is_dir():
        return [(path, SPLIT_DIRS.get(path.name))]
    found = [(path / name, split) for name, split in SPLIT_DIRS.items() if (path / name / "annos").is_dir()]
    if not found:
        raise CurateError.at(path, "no DeepFashion2 annotations: expected annos/ here or in train/, validation/ or test/")
    return found


def deepfashion2_entry(doc: object, anno_path: str, folder: str, split: str | None, label_names: dict[int, str]) -> dict:
    """One image row with its items, from a parsed annotation file.

    Paths are plain strings here: at 100k files, pathlib's per-call parsing is a third of the
    time spent outside json.
    """
    if not isinstance(doc, dict):
        raise BadItem(f"expected a JSON object, found {describe_json(doc)}")
    objects = []
    items = sorted((k for k in doc if k.startswith("item")), key=lambda k: int(k[4:]) if k[4:].isdigit() else 0)
    for key in items:
        item = expect_object(doc[key], where=key)
        category_id = item.get("category_id")
        if category_id not in label_names:
            raise BadItem(f"unknown category id {category_id!r} (DeepFashion2 has ids 1-13)", where=key, field_name="category_id")
        box = expect_box(item.get("bounding_box"), "[x1, y1, x2, y2]", where=key, field_name="bounding_box")
        obj = {"source_label": item.get("category_name") or label_names[category_id], "box_xyxy_px": box, "df2_item": key}
        for field, column in ITEM_COLUMNS.items():
            obj[column] = item.get(field)
        objects.append(obj)
    stem = os.path.splitext(os.path.basename(anno_path))[0]
    return {
        "source_id": f"{os.path.basename(folder)}/{stem}",
        "path": f"{folder}{os.sep}image{os.sep}{stem}.jpg",
        "split": split,
        "pair_id": doc.get("pair_id"),
        "df2_source": doc.get("source"),
        "origin": (anno_path, None),
        "objects": objects,
    }


def read_deepfashion2(path: str | Path, *, policy: ErrorPolicy, label_names: dict[int, str]) -> SourceRead:
    path = Path(path)
    if not path.exists():
        raise CurateError.at(path, "DeepFashion2 folder not found")
    result = SourceRead(roots=[str(path)])
    for folder, split in split_dirs(path):
        annos = folder / "annos"
        names = sorted(e.name for e in os.scandir(annos) if e.name.endswith(".json"))
        for name in names:
            anno_path = f"{annos}{os.sep}{name}"
            try:
                doc = read_json_file(anno_path, result.decoding)
                result.images.append(deepfashion2_entry(doc, anno_path, str(folder), split, label_names))
            except BadItem as exc:
                report_bad_item(policy, anno_path, exc)
        result.files.append(str(folder / "annos"))
    return result
