"""Dataset-level curation operations shared by the commands and `curate build`.

Each operation takes the two tables (and the directory their relative paths resolve against), runs
its per-image work on an executor, and returns new tables plus a JSON-able report. Images that
cannot be read are skipped and listed in the report, never fatal. Writing is the caller's job
(always through `staged_dataset`, so a failure leaves the previous dataset as it was).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from curate.curation import augment, autobox, balance, dedup, flatlay, imbalance, split
from curate.dataset import image_paths
from curate.parallel import Executor

# Images per task sent to a worker: each costs milliseconds, so small chunks keep workers evenly busy.
IMAGE_CHUNK = 8


def run_image_tasks(executor: Executor, fn: Callable, images: pd.DataFrame, tasks: list, description: str) -> tuple[dict[str, dict], list[dict]]:
    """Run per-image tasks; (results by image_id for successes, [{image_id, error}] for failures)."""
    results = executor.map(fn, tasks, description, chunksize=IMAGE_CHUNK) if tasks else []
    ok, failed = {}, []
    for image_id, result in zip(images["image_id"], results):
        if result.get("error"):
            failed.append({"image_id": image_id, "error": result["error"]})
        else:
            ok[image_id] = result
    return ok, failed


# ---------------------------------------------------------------------------------------------


def mark_flat_lays(images: pd.DataFrame, root: Path, executor: Executor, only_missing: bool = True) -> tuple[pd.DataFrame, dict]:
    """Fill `flat_lay` and its reason (`flat_lay_reason`); the report counts the answers by reason."""
    todo = images[images["flat_lay"].isna()] if only_missing else images
    ok, failed = run_image_tasks(executor, flatlay.flat_lay_file, todo, image_paths(todo, root), "flat-lay")
    images = images.copy()
    found = images["image_id"].map({k: v["flat_lay"] for k, v in ok.items()})
    images["flat_lay"] = found.where(found.notna(), images["flat_lay"]).astype("object")
    reasons = images["image_id"].map({k: v["reason"] for k, v in ok.items()})
    previous = images["flat_lay_reason"] if "flat_lay_reason" in images else pd.Series(None, index=images.index, dtype=object)
    images["flat_lay_reason"] = reasons.where(reasons.notna(), previous).astype("object")
    kinds = pd.Series([v["reason"].split(":")[0].split(" (")[0] for v in ok.values()], dtype=object).value_counts()
    return images, {
        "checked": len(todo),
        "flat_lay": int(sum(v["flat_lay"] for v in ok.values())),
        "by_reason": {str(k): int(n) for k, n in kinds.sort_index().items()},
        "unreadable": failed,
    }


def autobox_objects(images: pd.DataFrame, objects: pd.DataFrame, root: Path, executor: Executor, split_pairs: bool = False, qa_chart: Path | None = None) -> tuple[pd.DataFrame, dict]:
    """Box flat-lays without boxes; with `qa_chart`, compare proposals with manual boxes instead
    (the tables are left as they are) and draw the IoU histogram there."""
    qa = qa_chart is not None
    targets = autobox.autobox_targets(images, objects, qa)
    tasks = [(path, split_pairs) for path in image_paths(targets, root)]
    ok, failed = run_image_tasks(executor, autobox.autobox_file, targets, tasks, "auto-boxing")
    report: dict[str, Any] = {"images": len(targets), "unreadable": failed, "split_pairs": split_pairs}
    if qa:
        ious = autobox.qa_ious(objects, ok)
        report["qa"] = autobox.iou_summary(ious)
        autobox.write_iou_histogram(ious, qa_chart)
        return objects, report
    objects, stats = autobox.apply_proposals(objects, ok)
    report.update(stats)
    return objects, report


def hash_images(images: pd.DataFrame, root: Path, executor: Executor) -> tuple[pd.DataFrame, dict]:
    """Fill sha256, phash, width and height where missing."""
    todo = images[images["sha256"].isna() | images["phash"].isna()]
    ok, failed = run_image_tasks(executor, dedup.hash_file, todo, image_paths(todo, root), "hashing")
    images = images.copy()
    for column in ("sha256", "phash", "width", "height"):
        found = images["image_id"].map({k: v[column] for k, v in ok.items()})
        images[column] = found.where(found.notna(), images[column])
    return images, {"hashed": len(ok), "unreadable": failed}


def dedup_images(images: pd.DataFrame, objects: pd.DataFrame, root: Path, executor: Executor, recipe: dedup.DedupRecipe) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Hash, then confirm the near-duplicate candidates on their pixels (only the images in a
    candidate pair are decoded again), group and apply the policies."""
    images, hashed = hash_images(images, root, executor)
    pairs = dedup.candidate_pairs(images, recipe.hamming)
    involved = images.iloc[np.unique(pairs)] if len(pairs) else images.iloc[:0]
    ok, failed = run_image_tasks(executor, dedup.signature_file, involved, image_paths(involved, root), "comparing near duplicates")
    signatures = {image_id: result["signature"] for image_id, result in ok.items()}
    images, objects, report = dedup.dedup_tables(images, objects, recipe, signatures)
    return images, objects, report | {"unreadable": hashed["unreadable"] + failed}


def split_images(images: pd.DataFrame, objects: pd.DataFrame, recipe: split.SplitRecipe) -> tuple[pd.DataFrame, dict]:
    images = split.assign_splits(images, objects, recipe)
    report = split.split_report(images, objects, recipe.stratify)
    if recipe.gold:
        report["gold_fold"] = split.fold_report(images, recipe)
    return images, report


def balance_training_split(images: pd.DataFrame, objects: pd.DataFrame, root: Path, out_root: Path, executor: Executor, recipe: balance.BalanceRecipe) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Undersample (if asked) and upsample the training split; copies go to out_root/media/augmented/.

    Earlier augmented copies are removed first, so balancing twice gives the same result.
    """
    stale = images["parent_image_id"].notna()
    shutil.rmtree(out_root / "media" / "augmented", ignore_errors=True)
    images = images[~stale].reset_index(drop=True)
    objects = objects[objects["image_id"].isin(images["image_id"])].reset_index(drop=True)
    before = balance.group_counts(images, objects, recipe.by)
    views_before = imbalance.dataset_reports(images, objects, split="train")
    report: dict[str, Any] = {"by": recipe.by, "removed_previous_copies": int(stale.sum())}
    if recipe.undersample_limit is not None:
        dropped = balance.undersample(images, objects, recipe.undersample_limit, recipe.by, recipe.seed)
        images = images[~images["image_id"].isin(dropped)].reset_index(drop=True)
        objects = objects[objects["image_id"].isin(images["image_id"])].reset_index(drop=True)
        report["undersampled_images"] = len(dropped)
    planned = balance.upsampling_plan(images, objects, recipe)
    plan = planned.copies
    by_id = images.set_index("image_id", drop=False)
    # Boxes go to the augmenter in object_id order; augmented_rows reads them back in that order.
    boxed = objects[objects["x_min"].notna()].sort_values(["image_id", "object_id"], kind="mergesort")
    boxes_of = {k: g[["x_min", "y_min", "x_max", "y_max"]].to_numpy(np.float64).tolist() for k, g in boxed.groupby("image_id")}
    parents = by_id.loc[[p for p, _ in plan]] if plan else by_id.iloc[:0]
    tasks = []
    for (parent, k), path in zip(plan, image_paths(parents, root)):
        flat = bool(by_id.at[parent, "flat_lay"]) if pd.notna(by_id.at[parent, "flat_lay"]) else False
        policy = "crop" if recipe.policy == "crop" else ("flat-lay" if flat else "on-model")
        tasks.append({
            "path": path,
            "out_path": str(out_root / augmented_path(parent, k)),
            "policy": policy,
            "seed": balance.copy_seed(recipe.seed, parent, k),
            "boxes": boxes_of.get(parent, []),
            "use_mask": recipe.masks and policy == "flat-lay",
        })
    failed = []
    results = executor.map(augment.augment_file, tasks, "augmenting", chunksize=IMAGE_CHUNK) if tasks else []
    new_images, new_objects = [], []
    objects_of = {k: g for k, g in objects.groupby("image_id")}
    for (parent, k), result in zip(plan, results):
        if result.get("error"):
            failed.append({"image_id": parent, "error": result["error"]})
            continue
        parent_objects = objects_of[parent].sort_values("object_id", kind="mergesort")
        image_row, object_rows = balance.augmented_rows(by_id.loc[parent], parent_objects, k, result, augmented_path(parent, k))
        new_images.append(image_row)
        new_objects.extend(object_rows)
    if new_images:
        images = pd.concat([images, pd.DataFrame(new_images)], ignore_index=True)
        objects = pd.concat([objects, pd.DataFrame(new_objects)], ignore_index=True)
    after = balance.group_counts(images, objects, recipe.by)
    views_after = imbalance.dataset_reports(images, objects, split="train")
    report.update({
        "augmented_images": len(new_images),
        "augmented_objects": len(new_objects),
        "counts_before": before,
        "counts_after": after,
        "ir_after": float(max(after.values()) / min(after.values())) if after else None,
        "goal": planned.goal,
        "guarded": planned.guarded,
        "not_guarded_nested": planned.nested,
        "stopped": planned.stopped,
        "mean_ir": {label: {"before": _mean_ir(views_before, view), "after": _mean_ir(views_after, view)} for view, label in VIEW_LABELS.items()},
        "unreadable": failed,
    })
    return images, objects, report


# The label views balancing reports on, as the imbalance report names them.
VIEW_LABELS = {"object_type": "object types", "category": "categories", "attribute pattern": "patterns"}


def _mean_ir(reports: dict, view: str) -> float | None:
    return round(float(reports[view].mean_ir), 4) if view in reports else None


def augmented_path(parent: str, k: int) -> str:
    return f"media/augmented/{parent}-{k}.jpg"
