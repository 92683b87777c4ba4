"""Which images need boxes: a filter over images.parquet, with each image's box count.

The filter sees every images column plus `boxes` (boxed objects on the image) and `objects`
(all its objects), e.g. `flat_lay == False and boxes == 0` for on-model photos without boxes.
Augmented copies are never selected: their boxes follow their original's.
"""

from __future__ import annotations

from typing import Iterable

import pandas as pd

from curate.dataset import BOX_COLUMNS, SPLITS
from curate.errors import CurateError


def with_box_counts(images: pd.DataFrame, objects: pd.DataFrame) -> pd.DataFrame:
    boxed = objects[objects[BOX_COLUMNS[0]].notna()].groupby("image_id").size()
    every = objects.groupby("image_id").size()
    return images.assign(boxes=images["image_id"].map(boxed).fillna(0).astype(int),
                         objects=images["image_id"].map(every).fillna(0).astype(int))


def select_images(
    images: pd.DataFrame,
    objects: pd.DataFrame,
    *,
    where: str | None = None,
    on_model: bool = False,
    without_boxes: bool = False,
    split: str | None = None,
    image_ids: Iterable[str] | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """The images the filters keep, in image_id order (`limit` keeps the first ones)."""
    frame = with_box_counts(images, objects)
    if "parent_image_id" in frame.columns:
        frame = frame[frame["parent_image_id"].isna()]
    if on_model:
        frame = frame[frame["flat_lay"].eq(False)]
    if without_boxes:
        frame = frame[frame["boxes"] == 0]
    if split is not None:
        if split not in SPLITS:
            raise CurateError(f"--split must be one of {', '.join(SPLITS)}, found '{split}'")
        frame = frame[frame["split"] == split]
    if image_ids is not None:
        frame = frame[frame["image_id"].isin(list(image_ids))]
    if where:
        try:
            frame = frame[frame.eval(where, engine="python").astype(bool).to_numpy()]
        except Exception as exc:  # pandas raises many kinds for a bad expression
            columns = ", ".join(frame.columns)
            raise CurateError(f"--where: cannot evaluate '{where}': {type(exc).__name__}: {exc} (columns: {columns})") from None
    frame = frame.sort_values("image_id", kind="mergesort")
    if limit is not None:
        frame = frame.head(limit)
    return frame.drop(columns=["boxes", "objects"]).reset_index(drop=True)
