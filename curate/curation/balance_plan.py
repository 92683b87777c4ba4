"""Which training images to copy so the target view balances without unbalancing the others.

Counting follows the imbalance report (curate.curation.imbalance.dataset_reports): in the
object-type, category and `object_type x image_type` views an image is an instance carrying the
labels of its objects; in the pattern view every object is an instance. A copy of an image adds
its labels to every view, so copying an outfit to raise a rare object type also raises the
object types, categories and patterns it carries, often ones that are already the majority.

The plan is greedy over label signatures (images with the same labels in every view have the
same effect): each step copies the image that adds most to groups still below the target and
nothing to groups at it ("labels all below the target"), preferring the copy that leaves the
target view's MeanIR lowest and then the guarded views' MeanIR lowest. A copy is never made that
would lift a guarded view's MeanIR more than `max_rise` above where it started. By default the
guarded views are the other views except those nested in the target: every category belongs to
one object type, so while categories are balanced, balanced object types need unbalanced
categories (a dress category against four upper-body ones); such a view is reported, not
guarded, and `guard` names views to guard anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

VIEWS = ("object_type", "category", "pattern")
IMAGE_VIEWS = ("object_type", "category", "object_type x image_type")


def image_type(images: pd.DataFrame) -> pd.Series:
    return images["flat_lay"].map({True: "flat-lay", False: "on-model"}).fillna("on-model")


def object_labels(images: pd.DataFrame, objects: pd.DataFrame, view: str) -> pd.Series:
    """Each object's label in a view (index aligned with `objects`; null where it has none)."""
    if view == "object_type x image_type":
        kind = objects["image_id"].map(images.set_index("image_id").pipe(image_type))
        return objects["object_type"] + " x " + kind
    return objects[view]


def label_matrix(images: pd.DataFrame, objects: pd.DataFrame, views: list[str]) -> tuple[pd.Index, np.ndarray, list[tuple[str, str]]]:
    """(image ids, images x labels counts, (view, label) per column) over the given views."""
    ids = pd.Index(sorted(images["image_id"]))
    blocks, columns = [], []
    for view in views:
        part = pd.DataFrame({"image_id": objects["image_id"], "label": object_labels(images, objects, view)}).dropna()
        if view in IMAGE_VIEWS:
            part = part.drop_duplicates()
        names = sorted(part["label"].unique())
        block = np.zeros((len(ids), len(names)), dtype=np.int64)
        rows, cols = ids.get_indexer(part["image_id"]), pd.Index(names).get_indexer(part["label"])
        keep = rows >= 0
        np.add.at(block, (rows[keep], cols[keep]), 1)
        blocks.append(block)
        columns += [(view, name) for name in names]
    matrix = np.hstack(blocks) if blocks else np.zeros((len(ids), 0), dtype=np.int64)
    return ids, matrix, columns


def mean_ir_rows(counts: np.ndarray) -> np.ndarray:
    """MeanIR of each row of a (k x labels) count matrix; labels with no instances are left out."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.shape[1] == 0:
        return np.full(len(counts), np.nan)
    top = counts.max(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        ir = np.where(counts > 0, top / counts, np.nan)
        return np.nanmean(ir, axis=1) if np.isfinite(ir).any() else np.full(len(counts), np.nan)


def nested_in(images: pd.DataFrame, objects: pd.DataFrame, view: str, target: str) -> bool:
    """True when each label of `view` comes with one target label only, and there are more of
    them: balancing the target then unbalances `view` whatever is copied."""
    part = pd.DataFrame({"view": object_labels(images, objects, view), "target": object_labels(images, objects, target)}).dropna()
    if part.empty:
        return False
    return bool((part.groupby("view")["target"].nunique() == 1).all()) and part["view"].nunique() > part["target"].nunique()


@dataclass
class Plan:
    copies: list[tuple[str, int]]
    goal: int | None = None
    guarded: dict[str, float] = field(default_factory=dict)  # view -> highest MeanIR allowed
    nested: list[str] = field(default_factory=list)  # views not guarded: nested in the target
    stopped: str = ""


def greedy_plan(
    images: pd.DataFrame,
    objects: pd.DataFrame,
    by: str,
    target: str | int,
    max_copies_per_image: int,
    seed: int,
    guard: list[str] | None,
    max_rise: float,
) -> Plan:
    """The copies to make of the (training, original) images given."""
    others = [v for v in VIEWS if v != by]
    nested = [v for v in others if nested_in(images, objects, v, by)]
    views = [v for v in (guard if guard is not None else [v for v in others if v not in nested]) if v != by]
    ids, matrix, columns = label_matrix(images, objects, [by, *views])
    view_of = np.array([view for view, _ in columns])
    in_target = view_of == by
    counts = matrix.sum(axis=0)
    if not in_target.any():
        return Plan([], nested=nested, stopped="no labelled training objects")
    goal = int(counts[in_target].max()) if target == "majority" else int(target)
    limits = {}
    for view in views:
        start = mean_ir_rows(counts[view_of == view][None])[0]
        if np.isfinite(start) and (view_of == view).sum() > 1:
            limits[view] = float(start * (1.0 + max_rise))
    signatures, inverse = np.unique(matrix, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).ravel()
    members: list[list[int]] = [[] for _ in range(len(signatures))]
    for position in np.random.default_rng(seed).permutation(len(ids)):
        members[inverse[position]].append(int(position))
    copies = np.zeros(len(ids), dtype=np.int64)
    room = np.array([len(m) * max_copies_per_image for m in members])
    adds = signatures[:, in_target]
    stopped = "every group reached the target"
    while True:
        deficit = np.maximum(goal - counts[in_target], 0)
        if not deficit.any():
            break
        useful = np.minimum(adds, deficit).sum(axis=1)
        waste = adds.sum(axis=1) - useful
        allowed = (useful > 0) & (room > 0)
        if not allowed.any():
            stopped = "no image left that adds to a group below the target (or each was copied max_copies_per_image times)"
            break
        after = counts[None, :] + signatures
        guard_sum = np.zeros(len(signatures))
        for view, limit in limits.items():
            rising = mean_ir_rows(after[:, view_of == view])
            allowed &= ~(rising > limit + 1e-9)
            guard_sum += np.nan_to_num(rising)
        if not allowed.any():
            stopped = f"any further copy would lift the MeanIR of {', '.join(limits)} by more than {max_rise:.0%}"
            break
        order = np.lexsort((guard_sum, mean_ir_rows(after[:, in_target]), -(useful - waste), waste > 0))
        best = int(next(s for s in order if allowed[s]))
        position = min(members[best], key=lambda p: copies[p])  # round-robin within the signature
        copies[position] += 1
        room[best] -= 1
        counts += signatures[best]
    made = [(ids[p], k) for p in np.flatnonzero(copies) for k in range(1, copies[p] + 1)]
    return Plan(sorted(made), goal, limits, nested, stopped)
