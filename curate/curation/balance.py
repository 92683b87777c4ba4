"""Sampling plans for the training split: upsampling by augmentation and co-occurrence-aware undersampling.

Both work on the training split only and after splitting, so no augmented copy or skipped
co-occurrence can leak between splits. Plans are pure functions of the tables and a seed; the
per-image augmentation itself is `curate.augment.augment_file`, run on an executor.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from curate.dataset import BOX_COLUMNS, stable_id
from curate.recipes import RecipeModel

GroupBy = Literal["category", "object_type", "object_type x image_type"]


class BalanceRecipe(RecipeModel):
    """Which groups to balance, to what target, and how."""

    by: GroupBy = "object_type x image_type"
    target: Literal["majority"] | int = "majority"
    policy: Literal["auto", "crop"] = Field("auto", description="auto: flat-lay or on-model policy per image; crop: classification crops")
    masks: bool = Field(True, description="recompute flat-lay boxes from the rotated foreground mask")
    max_copies_per_image: int = Field(10, ge=1)
    undersample_limit: int | None = Field(None, ge=1, description="co-occurrence-aware undersampling limit per group")
    seed: int = 0


def image_type(images: pd.DataFrame) -> pd.Series:
    return images["flat_lay"].map({True: "flat-lay", False: "on-model"}).fillna("on-model")


def group_keys(images: pd.DataFrame, objects: pd.DataFrame, by: str) -> pd.Series:
    """The balancing group of each object (index aligned with `objects`)."""
    if by in ("category", "object_type"):
        return objects[by]
    kind = objects["image_id"].map(images.set_index("image_id").pipe(image_type))
    return objects["object_type"] + " x " + kind


def _train(images: pd.DataFrame, objects: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    train_images = images[(images["split"] == "train") & images["parent_image_id"].isna()]
    return train_images, objects[objects["image_id"].isin(train_images["image_id"])]


def plan_upsampling(images: pd.DataFrame, objects: pd.DataFrame, recipe: BalanceRecipe) -> list[tuple[str, int]]:
    """(parent image_id, copy number) for every augmented copy to make.

    Groups are served rarest first; each needs (target - count) more objects, i.e. about IR - 1
    copies per image, taken round-robin over its images in seeded order. Copies carry every
    object of the parent, so co-occurring groups grow too and are counted as they do.
    """
    train_images, train_objects = _train(images, objects)
    keys = group_keys(images, train_objects, recipe.by).dropna()
    counts = keys.value_counts()
    if counts.empty:
        return []
    target = int(counts.max()) if recipe.target == "majority" else int(recipe.target)
    objects_of = train_objects.assign(group=keys).dropna(subset=["group"])
    per_image = objects_of.groupby(["image_id", "group"]).size()
    rng = np.random.default_rng(recipe.seed)
    counts = counts.astype(int).to_dict()
    copies: dict[str, int] = {}
    for group in sorted(counts, key=lambda g: (counts[g], g)):
        parents = np.array(sorted(objects_of.loc[objects_of["group"] == group, "image_id"].unique()), dtype=object)
        parents = parents[rng.permutation(len(parents))]
        while counts[group] < target:
            progressed = False
            for parent in parents:
                if counts[group] >= target:
                    break
                if copies.get(parent, 0) >= recipe.max_copies_per_image:
                    continue
                copies[parent] = copies.get(parent, 0) + 1
                for other, n in per_image.loc[parent].items():
                    counts[other] += int(n)
                progressed = True
            if not progressed:
                break
    return [(parent, k) for parent in sorted(copies) for k in range(1, copies[parent] + 1)]


def undersample(images: pd.DataFrame, objects: pd.DataFrame, limit: int, by: str, seed: int) -> list[str]:
    """Training image ids to drop, by the DeepFashion2 heuristic (section 4.1.1.2).

    Images are visited in seeded order and kept until one of their groups reaches `limit`; from
    then on an image carrying that group is skipped, along with whatever co-occurs in it.
    """
    train_images, train_objects = _train(images, objects)
    groups = train_objects.assign(group=group_keys(images, train_objects, by)).dropna(subset=["group"])
    labels_of = groups.groupby("image_id")["group"].apply(list).to_dict()
    order = np.array(sorted(train_images["image_id"]), dtype=object)
    order = order[np.random.default_rng(seed).permutation(len(order))]
    counts: dict[str, int] = {}
    dropped = []
    for image_id in order:
        labels = labels_of.get(image_id, [])
        if any(counts.get(label, 0) >= limit for label in labels):
            dropped.append(image_id)
            continue
        for label in labels:
            counts[label] = counts.get(label, 0) + 1
    return sorted(dropped)


def copy_seed(seed: int, parent: str, k: int) -> int:
    return int(stable_id(seed, parent, k), 16) % (2**31)


def augmented_rows(parent: pd.Series, parent_objects: pd.DataFrame, k: int, result: dict[str, Any], path: str) -> tuple[dict, list[dict]]:
    """The image row and object rows of one augmented copy (objects whose box left the frame are dropped)."""
    image_id = stable_id(parent["image_id"], "augmented", k)
    image = parent.to_dict() | {
        "image_id": image_id,
        "path": path,
        "width": result["width"],
        "height": result["height"],
        "sha256": None,
        "phash": None,
        "source_id": f"{parent['source_id']}#aug{k}",
        "split": "train",
        "parent_image_id": parent["image_id"],
        "augmentation": result["description"],
    }
    rows = []
    boxed = parent_objects[BOX_COLUMNS[0]].notna().to_numpy()
    box_iter = iter(result["boxes"])
    for has_box, (_, obj) in zip(boxed, parent_objects.iterrows()):
        row = obj.to_dict() | {"object_id": stable_id(obj["object_id"], "augmented", k), "image_id": image_id}
        if has_box:
            box = next(box_iter)
            if box is None:
                continue
            row |= dict(zip(BOX_COLUMNS, box)) | {"box_origin": "augmented"}
        rows.append(row)
    return image, rows
