"""Exact and near-duplicate images, leakage across splits, and the one-pattern/one-style filter
(the taxonomy rule `curate.taxonomy.rules.several_values`).

Exact duplicates share the sha256 of their file bytes; near duplicates have 64-bit DCT
perceptual hashes within a Hamming distance. Duplicates are grouped (connected components of the
"is a duplicate of" graph), and a group that spans train and an evaluation split is leakage.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import cv2
import numpy as np
import pandas as pd
from pydantic import Field

from curate.errors import CurateError
from curate.imageio import load_image_reduced
from curate.recipes import RecipeModel
from curate.taxonomy.rules import several_values

# Which copy of a duplicate group survives: evaluation splits first, so a training copy is the one dropped.
SPLIT_PRIORITY = {"gold": 0, "test": 1, "val": 2, "train": 3}
# pHash looks at a 32x32 thumbnail: larger JPEGs are decoded reduced, to at least this side.
PHASH_SIDE = 256
EVALUATION_SPLITS = ("gold", "test", "val")


class DedupRecipe(RecipeModel):
    """Duplicate detection and what to drop."""

    hamming: int = Field(6, ge=0, le=64, description="near duplicate when pHash bits differ by at most this")
    policy: Literal["report", "drop-leaks", "keep-one"] = "keep-one"
    multi_label_objects: Literal["keep", "flag", "drop"] = "drop"


def phash_hex(rgb: np.ndarray) -> str:
    """64-bit perceptual hash: signs of the 8x8 lowest DCT frequencies of a 32x32 grey thumbnail."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb
    thumb = cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    low = cv2.dct(thumb)[:8, :8].ravel()
    # The DC term is the mean brightness, not structure; leave it out of the median.
    bits = low > np.median(low[1:])
    return f"{int(np.packbits(bits).view('>u8')[0]):016x}"


def hash_file(path: str) -> dict[str, Any]:
    """Per-image task: sha256 of the bytes, pHash and size, or the reason the file is unreadable."""
    try:
        rgb, (width, height) = load_image_reduced(path, PHASH_SIDE)  # the hash looks at 32x32 pixels
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except (CurateError, OSError) as exc:
        return {"error": str(exc)}
    return {"error": None, "sha256": digest.hexdigest(), "phash": phash_hex(rgb), "width": width, "height": height}


def hamming_pairs(hashes: np.ndarray, threshold: int, block: int = 2048) -> np.ndarray:
    """All index pairs (i < j) of uint64 hashes within `threshold` differing bits, as (k, 2)."""
    found = []
    for start in range(0, len(hashes), block):
        chunk = hashes[start : start + block]
        distance = np.bitwise_count(chunk[:, None] ^ hashes[None, start:])
        i, j = np.nonzero(distance <= threshold)
        j = j + start
        i = i + start
        keep = i < j
        found.append(np.stack([i[keep], j[keep]], axis=1))
    return np.concatenate(found) if found else np.zeros((0, 2), dtype=np.int64)


def duplicate_groups(images: pd.DataFrame, hamming: int) -> pd.Series:
    """A group number per image (images with no duplicate get their own), by sha256 or pHash."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(images)
    pairs = [np.zeros((0, 2), dtype=np.int64)]
    known_sha = images["sha256"].notna().to_numpy()
    sha_codes = pd.factorize(images["sha256"])[0]
    for code in np.unique(sha_codes[known_sha]):
        members = np.flatnonzero(sha_codes == code)
        pairs.append(np.stack([members[:-1], members[1:]], axis=1))
    known_phash = np.flatnonzero(images["phash"].notna().to_numpy())
    if len(known_phash):
        hashes = np.array([int(h, 16) for h in images["phash"].iloc[known_phash]], dtype=np.uint64)
        pairs.append(known_phash[hamming_pairs(hashes, hamming)])
    edges = np.concatenate(pairs)
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    return pd.Series(connected_components(graph, directed=False)[1], index=images.index)


def find_duplicates(images: pd.DataFrame, hamming: int) -> pd.DataFrame:
    """Images that have at least one duplicate, with group, kind and split; sorted by group."""
    groups = duplicate_groups(images, hamming)
    frame = images[["image_id", "split", "sha256", "phash"]].assign(group=groups.to_numpy())
    sizes = frame.groupby("group")["image_id"].transform("size")
    frame = frame[sizes > 1].copy()
    exact = frame.groupby("group")["sha256"].transform(lambda s: s.notna().all() and s.nunique() == 1)
    frame["kind"] = np.where(exact, "exact", "near")
    frame["priority"] = frame["split"].map(SPLIT_PRIORITY).fillna(len(SPLIT_PRIORITY)).astype(int)
    return frame.sort_values(["group", "priority", "image_id"], kind="mergesort").reset_index(drop=True)


def leakage(duplicates: pd.DataFrame) -> list[dict[str, Any]]:
    """Each evaluation (gold/test/val) image with a duplicate in train, and those train images."""
    leaks = []
    for _, group in duplicates.groupby("group", sort=True):
        train = sorted(group.loc[group["split"] == "train", "image_id"])
        if not train:
            continue
        for row in group[group["split"].isin(EVALUATION_SPLITS)].itertuples():
            leaks.append({"image_id": row.image_id, "split": row.split, "train_duplicates": train, "kind": row.kind})
    return leaks


def mark_duplicates(images: pd.DataFrame, duplicates: pd.DataFrame, leaks: list[dict[str, Any]]) -> pd.DataFrame:
    """Columns the review loop turns into views: `duplicate_group` (null when unique) and
    `leakage` (an evaluation image with a train duplicate, or that train duplicate)."""
    group_of = dict(zip(duplicates["image_id"], duplicates["group"]))
    leaked = {leak["image_id"] for leak in leaks} | {t for leak in leaks for t in leak["train_duplicates"]}
    return images.assign(
        duplicate_group=[f"group-{group_of[i]}" if i in group_of else None for i in images["image_id"]],
        leakage=images["image_id"].isin(leaked).to_numpy(),
    )


def images_to_drop(duplicates: pd.DataFrame, policy: str) -> list[str]:
    """Ids dropped by the policy; gold images are never dropped."""
    if policy == "report":
        return []
    drop: list[str] = []
    for _, group in duplicates.groupby("group", sort=True):
        if policy == "keep-one":
            drop.extend(group["image_id"].iloc[1:][group["split"].iloc[1:] != "gold"])
        elif group["split"].isin(EVALUATION_SPLITS).any():
            drop.extend(group.loc[group["split"] == "train", "image_id"])
    return sorted(drop)


def dedup_tables(images: pd.DataFrame, objects: pd.DataFrame, recipe: DedupRecipe) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Apply the recipe to tables whose sha256/phash are filled; return new tables and the report."""
    duplicates = find_duplicates(images, recipe.hamming)
    dropped = images_to_drop(duplicates, recipe.policy)
    split_sets = duplicates.groupby("group")["split"].agg(lambda s: tuple(sorted(s.fillna("(none)").unique())))
    report: dict[str, Any] = {
        "policy": recipe.policy,
        "hamming": recipe.hamming,
        "exact_groups": int(duplicates.loc[duplicates["kind"] == "exact", "group"].nunique()),
        "near_groups": int(duplicates.loc[duplicates["kind"] == "near", "group"].nunique()),
        "groups_within_one_split": int((split_sets.map(len) == 1).sum()),
        "groups_across_splits": int((split_sets.map(len) > 1).sum()),
        "leakage": leakage(duplicates),
        "dropped_images": dropped,
        "groups": [
            {"kind": g["kind"].iloc[0], "images": list(g["image_id"]), "splits": list(g["split"].fillna("(none)"))}
            for _, g in duplicates.groupby("group", sort=True)
        ],
    }
    images = images[~images["image_id"].isin(dropped)].reset_index(drop=True)
    images = mark_duplicates(images, duplicates, report["leakage"])
    objects = objects[objects["image_id"].isin(images["image_id"])].reset_index(drop=True)
    many = several_values(objects)
    report["multi_label_objects"] = {"policy": recipe.multi_label_objects, "objects": sorted(objects.loc[many, "object_id"])}
    if recipe.multi_label_objects == "drop":
        objects = objects[~many].reset_index(drop=True)
    elif recipe.multi_label_objects == "flag":
        objects = objects.assign(flags=["more than one pattern or style" if m else None for m in many])
    return images, objects, report
