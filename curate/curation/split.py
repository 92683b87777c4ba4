"""Seeded train/val/test splits, stratified and grouped so one product never spans two splits.

Images already in the gold split are never moved, and nothing else is moved into it. The unit
that is assigned is the product group (`product_id`, or the image itself when it has none);
stratification balances each group's labels across splits: by category (one-hot), or by every
label the group carries (categories, patterns, styles, attributes) with iterative stratification
(Sechidis et al. 2011, scikit-multilearn).
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


class SplitRecipe(RecipeModel):
    """How to split: fractions, seed and what to stratify by."""

    train: float = Field(0.8, ge=0, le=1)
    val: float = Field(0.1, ge=0, le=1)
    test: float = Field(0.1, ge=0, le=1)
    seed: int = 0
    stratify: Literal["none", "category", "multilabel"] = "category"

    @model_validator(mode="after")
    def _fractions_sum_to_one(self) -> "SplitRecipe":
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + val + test must be 1, found {total:g}")
        return self

    def fractions(self) -> list[float]:
        return [self.train, self.val, self.test]


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


def assign_splits(images: pd.DataFrame, objects: pd.DataFrame, recipe: SplitRecipe) -> pd.DataFrame:
    """Return the images table with `split` set for every non-gold image."""
    images = images.copy()
    gold = images["split"].eq("gold").to_numpy()
    groups = product_groups(images)
    gold_groups = set(groups[gold])
    clash = sorted(g for g in gold_groups if g in set(groups[~gold]))
    if clash:
        raise CurateError(f"product(s) {', '.join(map(str, clash[:5]))} have images in the gold split and outside it; move them all to gold or none")
    free = images.loc[~gold, ["image_id"]].assign(group=groups[~gold].to_numpy())
    unique_groups = np.array(sorted(free["group"].unique()), dtype=object)
    rng = np.random.default_rng(recipe.seed)
    order = unique_groups[rng.permutation(len(unique_groups))]
    if recipe.stratify == "none":
        weights = free.merge(objects[["image_id"]], on="image_id", how="left").groupby("group").size().reindex(order).fillna(1).to_numpy(float)
        fold = random_folds(weights, recipe.fractions())
    else:
        pairs = object_labels(objects, recipe.stratify).merge(free, on="image_id")
        label_codes, names = pd.factorize(pairs["label"], sort=True)
        index_of = {g: i for i, g in enumerate(order)}
        matrix = np.zeros((len(order), len(names)), dtype=bool)
        matrix[pairs["group"].map(index_of).to_numpy(dtype=np.int64), label_codes] = True
        fold = iterative_folds(matrix, recipe.fractions(), recipe.seed)
    split_of_group = dict(zip(order, np.array(SPLIT_NAMES)[fold]))
    images.loc[~gold, "split"] = free["group"].map(split_of_group).to_numpy()
    return images


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
