"""What every exporter needs: the split's rows, one label per object, class ids, image files."""

from __future__ import annotations

import os
import shutil
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from curate.dataset import BOX_COLUMNS, SPLITS, Dataset
from curate.errors import CurateError
from curate.taxonomy import Taxonomy, load_taxonomy

UNSPLIT = "unsplit"


@dataclass
class ExportImage:
    """One image to export, with its boxed objects (relative xyxy) and their labels."""

    image_id: str
    source_path: Path
    file_name: str  # unique within the export
    width: int
    height: int
    split: str
    boxes: list[tuple[float, float, float, float]]
    labels: list[str]
    extra: list[dict]  # per-object columns a format can carry (difficult, truncated, ...)


def class_names(taxonomy: Taxonomy | None = None) -> list[str]:
    """Every label an object can get, in taxonomy order: each object type, then its categories.

    Ids come from the whole taxonomy rather than the labels present, so train and val exported
    separately agree on every class id.
    """
    tax = taxonomy or load_taxonomy()
    names = []
    for object_type in tax.object_types:
        names.append(object_type)
        names.extend(tax.categories_of(object_type))
    return names


def object_label(category, object_type) -> str:
    """The most specific taxonomy label: the category, or the object type when it has none."""
    return category if isinstance(category, str) else object_type


def export_images(dataset: Dataset, split: str | None) -> list[ExportImage]:
    """Images of one split (or all) with their boxed objects, in image_id order."""
    images = dataset.images
    if split is not None:
        if split not in SPLITS:
            raise CurateError(f"unknown split '{split}' (expected one of {', '.join(SPLITS)})")
        images = images[images["split"] == split]
        if images.empty:
            raise CurateError.at(dataset.path, f"no images in split '{split}'", field="split")
    images = images.sort_values("image_id")
    if images["width"].isna().any() or images["height"].isna().any():
        missing = images.loc[images["width"].isna() | images["height"].isna(), "image_id"].iloc[0]
        raise CurateError.at(dataset.path / "images.parquet", "image size unknown: exporters need width and height", where=f"image_id={missing}", field="width")
    objects = dataset.objects[dataset.objects["x_min"].notna()].sort_values(["image_id", "object_id"])
    extra_cols = [c for c in ("difficult", "truncated", "occlusion") if c in objects.columns]
    # plain records grouped once: per-image pandas lookups cost milliseconds each at 70k images
    by_image: dict[str, list[dict]] = defaultdict(list)
    for record in objects[["image_id", *BOX_COLUMNS, "category", "object_type", *extra_cols]].to_dict("records"):
        by_image[record["image_id"]].append(record)
    names = unique_file_names(images)
    result = []
    for row in images.itertuples(index=False):
        group = by_image.get(row.image_id, [])
        result.append(
            ExportImage(
                row.image_id, dataset.image_path(row.path), names[row.image_id], int(row.width), int(row.height),
                row.split if isinstance(row.split, str) else UNSPLIT,
                [tuple(float(r[c]) for c in BOX_COLUMNS) for r in group],
                [object_label(r["category"], r["object_type"]) for r in group],
                [{c: r[c] for c in extra_cols} for r in group],
            )
        )
    return result


def unique_file_names(images: pd.DataFrame) -> dict[str, str]:
    """Keep each image's own file name where it is unique, so exports stay recognisable."""
    base = {row.image_id: Path(str(row.path)).name for row in images.itertuples(index=False)}
    counts = Counter(base.values())
    return {image_id: name if counts[name] == 1 else f"{image_id}_{name}" for image_id, name in base.items()}


def place_image(source: Path, target: Path) -> None:
    """Hard-link when on the same filesystem (instant, no extra space), else copy."""
    if not source.is_file():
        raise CurateError.at(source, "image file not found while exporting")
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def by_split(images: list[ExportImage]) -> dict[str, list[ExportImage]]:
    groups: dict[str, list[ExportImage]] = {}
    for image in images:
        groups.setdefault(image.split, []).append(image)
    return groups


def summary(images: list[ExportImage]) -> dict[str, int]:
    return {"images": len(images), "objects": sum(len(i.boxes) for i in images)}


def write_label_file(path: Path, text: str) -> None:
    """Per-image annotation files of an export: plain writes (an export is rebuilt, not edited)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
