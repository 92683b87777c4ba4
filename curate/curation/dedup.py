"""Exact and near-duplicate images, leakage across splits, and the one-pattern/one-style filter
(the taxonomy rule `curate.taxonomy.rules.several_values`).

Exact duplicates share the sha256 of their file bytes. Near duplicates are proposed by 64-bit
DCT perceptual hashes within `hamming` bits (found by multi-index hashing, so a million images
are feasible: `curate.curation.hamming`) and confirmed on their pixels in colour
(`curate.curation.likeness`): same-pose variants of different products collide in a grey hash,
copies of one picture do not differ in colour. Without the pixels (tables only) the hash alone
decides, and the report says so.

Groups never chain: each is a star around a representative (an evaluation copy first, so a
training copy is the one dropped), every member confirmed against the representative itself; a
group holds at most `max_group` images, and the pairs the stars leave out are reported. A group
that spans train and an evaluation split is leakage.

What is dropped: `policy` for exact duplicates (keep-one by default, as before), `near_policy`
for near ones (by default drop-leaks, never stricter than `policy`: a near duplicate is only
dropped when it is a training copy of an evaluation image; distinct products are never deleted
silently, they are reported).
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import cv2
import numpy as np
import pandas as pd
from pydantic import Field

from curate.curation.hamming import hamming_pairs, pairs_within
from curate.curation.likeness import MAX_RESIDUAL, residual, signature, signature_from_bytes, signature_to_bytes
from curate.errors import CurateError
from curate.imageio import load_image_reduced
from curate.recipes import RecipeModel
from curate.taxonomy.rules import several_values

__all__ = ["DedupRecipe", "dedup_tables", "hamming_pairs", "hash_file", "phash_hex", "signature_file"]

# Which copy of a duplicate group survives: evaluation splits first, so a training copy is the one dropped.
SPLIT_PRIORITY = {"gold": 0, "test": 1, "val": 2, "train": 3}
# pHash (32x32) and the pixel signature (96x96) look at thumbnails: larger JPEGs are decoded
# reduced, to at least this side.
PHASH_SIDE = 256
EVALUATION_SPLITS = ("gold", "test", "val")
POLICIES = ("report", "drop-leaks", "keep-one")  # from the mildest
_LISTED = 200


class DedupRecipe(RecipeModel):
    """Duplicate detection and what to drop."""

    hamming: int = Field(8, ge=0, le=64, description="near-duplicate candidates: pHash bits differing by at most this (multi-index hashing up to 16 for large sets)")
    max_residual: float = Field(MAX_RESIDUAL, ge=0, le=255, description="same picture when the aligned colour residual of a candidate pair is at most this")
    max_group: int = Field(20, ge=2, description="at most this many images in one near-duplicate group; the pairs left out are reported")
    policy: Literal["report", "drop-leaks", "keep-one"] = "keep-one"
    near_policy: Literal["report", "drop-leaks", "keep-one"] | None = Field(None, description="near duplicates; default: drop-leaks, never stricter than policy")
    multi_label_objects: Literal["keep", "flag", "drop"] = "drop"

    def effective_near_policy(self) -> str:
        if self.near_policy is not None:
            return self.near_policy
        return POLICIES[min(POLICIES.index(self.policy), POLICIES.index("drop-leaks"))]


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


def signature_file(path: str) -> dict[str, Any]:
    """Per-image task: the pixel signature near duplicates are confirmed with (bytes)."""
    try:
        return {"error": None, "signature": signature_to_bytes(signature(load_image_reduced(path, PHASH_SIDE)[0]))}
    except (CurateError, OSError) as exc:
        return {"error": str(exc)}


def candidate_pairs(images: pd.DataFrame, hamming: int) -> np.ndarray:
    """Row-position pairs (i < j) whose pHashes differ by at most `hamming` bits."""
    known = np.flatnonzero(images["phash"].notna().to_numpy())
    if len(known) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    hashes = np.array([int(h, 16) for h in images["phash"].iloc[known]], dtype=np.uint64)
    return known[pairs_within(hashes, hamming)]


def confirmed_pairs(images: pd.DataFrame, pairs: np.ndarray, signatures: dict[str, bytes] | None, max_residual: float) -> list[tuple[int, int, dict]]:
    """Candidate pairs confirmed on their pixels (every pair, when there are no signatures)."""
    ids = images["image_id"].to_numpy()
    phash = images["phash"].to_numpy()
    out = []
    cache: dict[str, np.ndarray] = {}

    def sig(image_id: str) -> np.ndarray | None:
        if signatures is None or image_id not in signatures:
            return None
        if image_id not in cache:
            cache[image_id] = signature_from_bytes(signatures[image_id])
        return cache[image_id]

    for i, j in pairs.tolist():
        bits = bin(int(phash[i], 16) ^ int(phash[j], 16)).count("1")
        evidence: dict[str, Any] = {"hamming": bits}
        if signatures is not None:
            a, b = sig(ids[i]), sig(ids[j])
            if a is None or b is None:
                continue  # unreadable: no pixels to confirm with
            evidence["residual"] = round(residual(a, b), 2)
            if evidence["residual"] > max_residual:
                continue
        out.append((i, j, evidence))
    return out


def find_duplicates(
    images: pd.DataFrame,
    hamming: int,
    signatures: dict[str, bytes] | None = None,
    max_residual: float = MAX_RESIDUAL,
    max_group: int = 20,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Images that have at least one duplicate: image_id, split, group, kind (the image's relation
    to its group's representative: exact or near), priority, evidence; plus what the stars cut.

    Exact copies (identical bytes) form groups first. Near duplicates then form stars: in order of
    priority, an image that is no member of another group takes every confirmed neighbour not yet
    in a group, and every exact group whose representative is such a neighbour, as long as the
    group stays within `max_group` images; confirmed pairs left across two groups are cut.
    """
    n = len(images)
    ids = images["image_id"].astype(str).to_numpy()
    priority = images["split"].map(SPLIT_PRIORITY).fillna(len(SPLIT_PRIORITY)).astype(int).to_numpy()
    order = sorted(range(n), key=lambda k: (priority[k], ids[k]))
    rank = {k: r for r, k in enumerate(order)}
    group_of: dict[int, int] = {}
    kind_of: dict[int, str] = {}
    evidence_of: dict[int, dict] = {}
    members: list[list[int]] = []  # per group, its representative first
    sha = images["sha256"].to_numpy()
    same_bytes: dict[str, list[int]] = {}
    for k in order:
        if isinstance(sha[k], str):
            same_bytes.setdefault(sha[k], []).append(k)
    for copies in same_bytes.values():
        if len(copies) > 1:
            members.append(list(copies))
            for k in copies:
                group_of[k], kind_of[k] = len(members) - 1, "exact"
    candidates = candidate_pairs(images, hamming)
    confirmed = confirmed_pairs(images, candidates, signatures, max_residual)
    neighbours: dict[int, list[tuple[int, dict]]] = {}
    for i, j, ev in confirmed:
        if isinstance(sha[i], str) and sha[i] == sha[j]:
            continue  # already exact duplicates
        neighbours.setdefault(i, []).append((j, ev))
        neighbours.setdefault(j, []).append((i, ev))
    cut: list[dict[str, Any]] = []
    for k in order:
        if k not in neighbours or (k in group_of and members[group_of[k]][0] != k):
            continue  # a member of another group: its own neighbours are not pulled in (no chaining)
        own = group_of.get(k)
        free = [(v, ev) for v, ev in neighbours[k] if v not in group_of or (group_of[v] != own and members[group_of[v]][0] == v and kind_of[v] == "exact" and len(members[group_of[v]]) == sum(kind_of[m] == "exact" for m in members[group_of[v]]))]
        if not free:
            continue
        if own is None:
            members.append([k])
            own = group_of[k] = len(members) - 1
            kind_of[k] = "near"
        free.sort(key=lambda t: (t[1].get("residual", 0.0), t[1]["hamming"], rank[t[0]]))
        for v, ev in free:
            joining = members[group_of[v]] if v in group_of else [v]
            if len(members[own]) + len(joining) > max_group:
                cut.append({"image_id": ids[v], "representative": ids[k], "why": f"group full ({max_group} images)", **ev})
                continue
            if v in group_of:
                members[group_of[v]] = []  # an exact group joins the star whole
            for m in joining:
                group_of[m], kind_of[m], evidence_of[m] = own, "near", ev
            members[own].extend(joining)
    for i, j, ev in confirmed:
        if i in group_of and j in group_of and group_of[i] != group_of[j]:
            cut.append({"image_id": ids[i], "other": ids[j], "why": "confirmed pair in two different groups (groups do not chain)", **ev})
    numbering = {g: new for new, g in enumerate(g for g, m in enumerate(members) if m)}
    rows = [k for g, m in enumerate(members) if m for k in sorted(m, key=lambda k: rank[k])]
    frame = images.iloc[rows][["image_id", "split", "sha256", "phash"]].copy()
    frame["group"] = [numbering[group_of[k]] for k in rows]
    frame["kind"] = [kind_of[k] for k in rows]
    frame["priority"] = [int(priority[k]) for k in rows]
    frame["representative"] = [members[group_of[k]][0] == k for k in rows]
    frame["evidence"] = [evidence_of.get(k) for k in rows]
    frame = frame.reset_index(drop=True)
    info = {
        "candidate_pairs": int(len(candidates)),
        "confirmed_pairs": int(len(confirmed)),
        "confirmed_on": "pixels" if signatures is not None else "pHash only (no pixels)",
        "cut_pairs": len(cut),
        "cut": cut[:_LISTED],
    }
    return frame, info


def group_kinds(duplicates: pd.DataFrame) -> pd.Series:
    """Per group: exact when every member is an exact copy of the representative, else near."""
    return duplicates.groupby("group")["kind"].agg(lambda k: "exact" if (k == "exact").all() else "near")


def leakage(duplicates: pd.DataFrame) -> list[dict[str, Any]]:
    """Each evaluation (gold/test/val) image with a duplicate in train, and those train images."""
    leaks = []
    kinds = group_kinds(duplicates)
    for g, group in duplicates.groupby("group", sort=True):
        train = sorted(group.loc[group["split"] == "train", "image_id"])
        if not train:
            continue
        for row in group[group["split"].isin(EVALUATION_SPLITS)].itertuples():
            leaks.append({"image_id": row.image_id, "split": row.split, "train_duplicates": train, "kind": kinds[g]})
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


def images_to_drop(duplicates: pd.DataFrame, policy: str, near_policy: str | None = None) -> list[str]:
    """Ids dropped: `policy` for the exact copies of a representative, `near_policy` (default:
    the same) for its near duplicates; representatives and gold images are never dropped."""
    near_policy = near_policy or policy
    drop: list[str] = []
    for _, group in duplicates.groupby("group", sort=True):
        spans_evaluation = group["split"].isin(EVALUATION_SPLITS).any()
        for row in group.itertuples():
            if row.representative or row.split == "gold":
                continue
            rule = policy if row.kind == "exact" else near_policy
            if rule == "keep-one" or (rule == "drop-leaks" and spans_evaluation and row.split == "train"):
                drop.append(row.image_id)
    return sorted(drop)


def dedup_tables(
    images: pd.DataFrame, objects: pd.DataFrame, recipe: DedupRecipe, signatures: dict[str, bytes] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Apply the recipe to tables whose sha256/phash are filled; return new tables and the report.

    `signatures` (image_id -> `signature_file` bytes) confirm near duplicates on their pixels;
    without them the pHash alone decides.
    """
    duplicates, found = find_duplicates(images, recipe.hamming, signatures, recipe.max_residual, recipe.max_group)
    near_policy = recipe.effective_near_policy()
    dropped = images_to_drop(duplicates, recipe.policy, near_policy)
    split_sets = duplicates.groupby("group")["split"].agg(lambda s: tuple(sorted(s.fillna("(none)").unique())))
    kinds = group_kinds(duplicates)
    report: dict[str, Any] = {
        "policy": recipe.policy,
        "near_policy": near_policy,
        "hamming": recipe.hamming,
        "max_residual": recipe.max_residual,
        "max_group": recipe.max_group,
        "exact_groups": int((kinds == "exact").sum()),
        "near_groups": int((kinds == "near").sum()),
        "groups_within_one_split": int((split_sets.map(len) == 1).sum()),
        "groups_across_splits": int((split_sets.map(len) > 1).sum()),
        **found,
        "leakage": leakage(duplicates),
        "dropped_images": dropped,
        "groups": [
            {
                "kind": kinds[g],
                "images": list(group["image_id"]),
                "representative": group.loc[group["representative"], "image_id"].iloc[0],
                "splits": list(group["split"].fillna("(none)")),
                "evidence": {r.image_id: r.evidence for r in group.itertuples() if r.evidence},
            }
            for g, group in duplicates.groupby("group", sort=True)
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
