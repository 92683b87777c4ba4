"""Seeded train/val/test splits, stratified and grouped so one product never spans two splits.

Images already in the gold split are never moved, and nothing else is moved into it. The unit
that is assigned is the product group (`product_id`, or the image itself when it has none);
stratification balances each group's labels across splits: by category (one-hot), or by every
label the group carries (categories, patterns, styles, attributes) with iterative stratification
(Sechidis et al. 2011, scikit-multilearn).

For k-fold work, `gold: 1/k` cuts the products into k folds the same way (stratified, grouped,
by seed; the fold is stored per image in the `fold` column) and puts fold `fold` in gold; the
rest is split into train/val/test as above. The folds depend on the seed and the products only,
so k runs with fold 0..k-1 rotate which fold is gold and every product is gold exactly once. Gold
that an earlier fold split set (its images carry a fold) is free again for the next one; gold
set any other way stays where it is and takes no fold.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from curate.errors import CurateError
from curate.recipes import RecipeModel

SPLIT_NAMES = ("train", "val", "test")
FOLD_COLUMN = "fold"


class SplitRecipe(RecipeModel):
    """How to split: fractions, seed and what to stratify by."""

    train: float = Field(0.8, ge=0, le=1)
    val: float = Field(0.1, ge=0, le=1)
    test: float = Field(0.1, ge=0, le=1)
    seed: int = 0
    stratify: Literal["none", "category", "multilabel"] = "category"
    gold: float = Field(0.0, ge=0, lt=1, description="share of the products put in gold as one of k folds: 1/k (0.2 = 5 folds); 0 keeps gold as it is")
    fold: int | None = Field(None, ge=0, description="which fold is gold, 0..k-1 (default 0)")

    @model_validator(mode="after")
    def _fractions_sum_to_one(self) -> "SplitRecipe":
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + val + test must be 1, found {total:g}")
        if self.gold == 0:
            if self.fold is not None:
                raise ValueError(f"fold {self.fold} needs a gold share (e.g. gold 0.2 for 5 folds)")
            return self
        k = round(1 / self.gold)
        if k < 2 or abs(1 / k - self.gold) > 1e-6:
            raise ValueError(f"gold must be 1/k for a whole number of folds k >= 2 (0.5, 0.25, 0.2, 0.1, ...), found {self.gold:g}")
        if self.fold is not None and self.fold >= k:
            raise ValueError(f"fold must be within 0..{k - 1} for gold {self.gold:g} ({k} folds), found {self.fold}")
        return self

    def fractions(self) -> list[float]:
        return [self.train, self.val, self.test]

    def folds(self) -> int:
        """k, the number of folds (0 without a gold share)."""
        return round(1 / self.gold) if self.gold else 0

    def gold_fold(self) -> int:
        return self.fold or 0


def product_groups(images: pd.DataFrame) -> pd.Series:
    """The grouping key per image: its product_id, or its own id when the product is unknown."""
    product = images["product_id"].astype("object")
    return product.where(product.notna(), "image:" + images["image_id"].astype(str))


def object_labels(objects: pd.DataFrame, stratify: str) -> pd.DataFrame:
    """(image_id, label) pairs: categories only, or every label an object carries."""
    columns = ["category"] if stratify == "category" else ["category", "pattern", "style"]
    parts = [pd.DataFrame({"image_id": objects["image_id"], "label": col + ":" + objects[col].astype(str)}) [objects[col].notna().to_numpy()] for col in columns]
    if stratify == "multilabel":
        exploded = objects[["image_id", "attributes"]].explode("attributes").dropna()
        parts.append(pd.DataFrame({"image_id": exploded["image_id"], "label": "attribute:" + exploded["attributes"].astype(str)}))
    return pd.concat(parts, ignore_index=True)


@contextmanager
def _seeded_global_numpy(seed: int) -> Iterator[None]:
    """scikit-multilearn breaks ties with the global numpy RNG; seed it and restore it afterwards."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def iterative_folds(labels: np.ndarray, fractions: list[float], seed: int) -> np.ndarray:
    """Fold index per row by iterative stratification of a boolean label matrix."""
    from skmultilearn.model_selection import IterativeStratification

    if labels.shape[1] == 0:
        labels = np.ones((len(labels), 1), dtype=bool)
    positive = [i for i, f in enumerate(fractions) if f > 0]
    stratifier = IterativeStratification(n_splits=len(positive), order=1, sample_distribution_per_fold=[fractions[i] for i in positive])
    fold_of = np.full(len(labels), -1, dtype=np.int64)
    with _seeded_global_numpy(seed):
        for k, rows in enumerate(stratifier._iter_test_indices(np.zeros(len(labels)), labels.astype(int))):
            fold_of[np.asarray(rows, dtype=np.int64)] = positive[k]
    return fold_of


def random_folds(weights: np.ndarray, fractions: list[float]) -> np.ndarray:
    """Cut an (already shuffled) sequence of groups by cumulative weight at the fractions."""
    cumulative = np.cumsum(weights) - weights / 2
    edges = np.cumsum(fractions)[:-1] * weights.sum()
    return np.searchsorted(edges, cumulative, side="right")


def group_folds(free: pd.DataFrame, objects: pd.DataFrame, fractions: list[float], seed: int, stratify: str) -> dict:
    """Fold index per product group of `free` (image_id, group), cut at `fractions`: seeded,
    stratified by the groups' labels."""
    unique_groups = np.array(sorted(free["group"].unique()), dtype=object)
    rng = np.random.default_rng(seed)
    order = unique_groups[rng.permutation(len(unique_groups))]
    if stratify == "none":
        weights = free.merge(objects[["image_id"]], on="image_id", how="left").groupby("group").size().reindex(order).fillna(1).to_numpy(float)
        fold = random_folds(weights, fractions)
    else:
        pairs = object_labels(objects, stratify).merge(free, on="image_id")
        label_codes, names = pd.factorize(pairs["label"], sort=True)
        index_of = {g: i for i, g in enumerate(order)}
        matrix = np.zeros((len(order), len(names)), dtype=bool)
        matrix[pairs["group"].map(index_of).to_numpy(dtype=np.int64), label_codes] = True
        fold = iterative_folds(matrix, fractions, seed)
    return dict(zip(order, fold.tolist()))


def assign_splits(images: pd.DataFrame, objects: pd.DataFrame, recipe: SplitRecipe) -> pd.DataFrame:
    """Return the images table with `split` set for every image not already gold (and, with a
    gold share, the gold fold in gold and every image's `fold`)."""
    images = images.copy()
    gold = images["split"].eq("gold").to_numpy(dtype=bool, copy=True)
    if recipe.gold and FOLD_COLUMN in images.columns:
        gold &= images[FOLD_COLUMN].isna().to_numpy()  # gold from an earlier fold split is free again
    groups = product_groups(images)
    gold_groups = set(groups[gold])
    clash = sorted(g for g in gold_groups if g in set(groups[~gold]))
    if clash:
        raise CurateError(f"product(s) {', '.join(map(str, clash[:5]))} have images in the gold split and outside it; move them all to gold or none")
    free = images.loc[~gold, ["image_id"]].assign(group=groups[~gold].to_numpy())
    if recipe.gold:
        k = recipe.folds()
        fold = free["group"].map(group_folds(free, objects, [1 / k] * k, recipe.seed, recipe.stratify)).to_numpy(dtype=np.int64)
        column = np.full(len(images), pd.NA, dtype=object)
        column[~gold] = fold
        images[FOLD_COLUMN] = pd.array(column, dtype="Int64")
        in_gold = fold == recipe.gold_fold()
        images.loc[images.index[~gold][in_gold], "split"] = "gold"
        gold[np.flatnonzero(~gold)[in_gold]] = True
        free = free[~in_gold]
    split_of_group = {g: SPLIT_NAMES[f] for g, f in group_folds(free, objects, recipe.fractions(), recipe.seed, recipe.stratify).items()}
    images.loc[~gold, "split"] = free["group"].map(split_of_group).to_numpy()
    return images


def fold_report(images: pd.DataFrame, recipe: SplitRecipe) -> dict:
    """The gold fold: share, folds, which one, and its products and images."""
    chosen = images[FOLD_COLUMN].eq(recipe.gold_fold()).fillna(False).to_numpy(dtype=bool)
    return {"share": recipe.gold, "folds": recipe.folds(), "fold": recipe.gold_fold(),
            "products": int(product_groups(images)[chosen].nunique()), "images": int(chosen.sum())}


def split_report(images: pd.DataFrame, objects: pd.DataFrame, stratify: str = "multilabel") -> dict:
    """Objects per split and each label's share of objects per split vs. the whole."""
    split_of = images.set_index("image_id")["split"]
    pairs = object_labels(objects, stratify if stratify != "none" else "category")
    pairs["split"] = pairs["image_id"].map(split_of)
    per_object = objects.assign(split=objects["image_id"].map(split_of))
    totals = per_object["split"].value_counts()
    whole = pairs["label"].value_counts() / len(objects) if len(objects) else pd.Series(dtype=float)
    report: dict = {"objects": {str(k): int(v) for k, v in totals.sort_index().items()}, "max_share_gap_points": {}}
    for split in sorted(pairs["split"].dropna().unique()):
        share = pairs.loc[pairs["split"] == split, "label"].value_counts() / totals[split]
        gap = (share.reindex(whole.index).fillna(0) - whole).abs().max() * 100
        report["max_share_gap_points"][str(split)] = round(float(gap), 3)
    return report
