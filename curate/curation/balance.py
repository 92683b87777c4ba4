"""Sampling plans for the training split: upsampling by augmentation and co-occurrence-aware undersampling.

Both work on the training split only and after splitting, so no augmented copy or skipped
co-occurrence can leak between splits. Plans are pure functions of the tables and a seed; which
images to copy is chosen by their effect on every label view (curate.curation.balance_plan), and
the per-image augmentation itself is `curate.curation.augment.augment_file`, run on an executor.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from curate.curation.balance_plan import Plan, greedy_plan, object_labels
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
    guard: list[Literal["object_type", "category", "pattern"]] | None = Field(
        None, description="views whose MeanIR may not rise more than max_rise; default: the others, except views nested in `by`"
    )
    max_rise: float = Field(0.10, ge=0, description="how far a guarded view's MeanIR may rise, as a share of where it started")
    seed: int = 0


def group_keys(images: pd.DataFrame, objects: pd.DataFrame, by: str) -> pd.Series:
    """The balancing group of each object (index aligned with `objects`)."""
    return object_labels(images, objects, by)


def group_counts(images: pd.DataFrame, objects: pd.DataFrame, by: str) -> dict[str, int]:
    """Training images carrying each group (as the imbalance report counts them)."""
    train_images, train_objects = _train_all(images, objects)
    pairs = pd.DataFrame({"image_id": train_objects["image_id"], "group": group_keys(train_images, train_objects, by)}).dropna().drop_duplicates()
    return {str(k): int(v) for k, v in pairs["group"].value_counts().sort_index().items()}


def _train(images: pd.DataFrame, objects: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    train_images = images[(images["split"] == "train") & images["parent_image_id"].isna()]
    return train_images, objects[objects["image_id"].isin(train_images["image_id"])]


def _train_all(images: pd.DataFrame, objects: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training split with its augmented copies."""
    train_images = images[images["split"] == "train"]
    return train_images, objects[objects["image_id"].isin(train_images["image_id"])]


def upsampling_plan(images: pd.DataFrame, objects: pd.DataFrame, recipe: BalanceRecipe) -> Plan:
    """The copies to make (curate.curation.balance_plan), with the guard and why it stopped."""
    train_images, train_objects = _train(images, objects)
    return greedy_plan(train_images, train_objects, recipe.by, recipe.target, recipe.max_copies_per_image, recipe.seed, recipe.guard, recipe.max_rise)


def plan_upsampling(images: pd.DataFrame, objects: pd.DataFrame, recipe: BalanceRecipe) -> list[tuple[str, int]]:
    """(parent image_id, copy number) for every augmented copy to make."""
    return upsampling_plan(images, objects, recipe).copies


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
