"""One CSV row per object (whole-image labels included), with its image's columns."""

from __future__ import annotations

from pathlib import Path

from curate.dataset import SPLITS, Dataset, write_text_atomic
from curate.errors import CurateError

COLUMNS = [
    "image_id", "path", "width", "height", "split", "source", "name", "object_id", "label", "object_type",
    "category", "style", "pattern", "attributes", "x_min", "y_min", "x_max", "y_max", "box_origin",
    "box_confidence", "review_status", "source_label",
]


def write_csv(dataset: Dataset, out: str | Path, split: str | None = None) -> dict[str, int]:
    """`out` is the CSV file, or a folder to hold annotations.csv."""
    out = Path(out)
    target = out if out.suffix.lower() == ".csv" else out / "annotations.csv"
    images = dataset.images
    if split is not None:
        if split not in SPLITS:
            raise CurateError(f"unknown split '{split}' (expected one of {', '.join(SPLITS)})")
        images = images[images["split"] == split]
    joined = dataset.objects.merge(images[["image_id", "path", "width", "height", "split", "source", "name"]], on="image_id", how="inner")
    joined["label"] = joined["category"].where(joined["category"].notna(), joined["object_type"])
    joined["attributes"] = [";".join(a) for a in joined["attributes"]]
    joined = joined.sort_values(["image_id", "object_id"])[COLUMNS]
    write_text_atomic(target, joined.to_csv(index=False))
    return {"images": int(joined["image_id"].nunique()), "objects": len(joined)}
