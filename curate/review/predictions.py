"""Model boxes in FiftyOne: a `predictions` field, an evaluation run and its FP/FN views."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from curate.dataset import BOX_COLUMNS, read_dataset
from curate.errors import CurateError
from curate.geometry import xyxy_to_xywh
from curate.review.connection import import_fiftyone, load_review_dataset
from curate.review.labels import GROUND_TRUTH, PREDICTIONS, default_review_name


def add_predictions(
    dataset_path_or_name: str | Path,
    predictions: pd.DataFrame,
    eval_key: str = "eval",
    iou: float = 0.5,
    image_ids: Sequence[str] | None = None,
) -> dict[str, float]:
    """Store model boxes in a `predictions` field, evaluate them against `ground_truth`, save FP/FN views.

    `predictions` has image_id, x_min, y_min, x_max, y_max (relative), object_type and score.
    `image_ids` are the images the model was run on (an evaluation split): only they are scored,
    so the ground truth of images never shown to the model does not count as missed. By default
    every sample is scored. Returns precision, recall and the TP/FP/FN counts of the evaluation.
    """
    fo = import_fiftyone()
    from fiftyone import ViewField as F

    path = Path(dataset_path_or_name)
    name = default_review_name(read_dataset(path)) if path.is_dir() else str(dataset_path_or_name)
    ds = load_review_dataset(fo, name)
    missing = [c for c in ("image_id", *BOX_COLUMNS, "object_type", "score") if c not in predictions.columns]
    if missing:
        raise CurateError.at("predictions", "missing columns", field=", ".join(missing))
    grouped = {image_id: group for image_id, group in predictions.groupby("image_id")}
    ids, all_image_ids = ds.values(["id", "image_id"])
    scored = set(all_image_ids) if image_ids is None else set(image_ids)
    unknown = sorted((set(grouped) | scored) - set(all_image_ids))
    if unknown:
        raise CurateError.at("predictions", f"{len(unknown)} image_id(s) not in FiftyOne dataset '{name}', e.g. {unknown[0]}", field="image_id")
    outside = sorted(set(grouped) - scored)
    if outside:
        raise CurateError.at("predictions", f"{len(outside)} image_id(s) have predictions but are not among the scored images, e.g. {outside[0]}", field="image_id")
    values = {}
    for sample_id, image_id in zip(ids, all_image_ids):
        if image_id not in scored:
            continue
        group = grouped.get(image_id)
        dets = []
        if group is not None:
            for row in group.itertuples(index=False):
                box = xyxy_to_xywh([float(getattr(row, c)) for c in BOX_COLUMNS]).tolist()
                dets.append(fo.Detection(label=row.object_type, bounding_box=box, confidence=float(row.score)))
        values[sample_id] = fo.Detections(detections=dets)
    view = ds if image_ids is None else ds.select(list(values))
    view.set_values(PREDICTIONS, values, key_field="id")
    result = view.evaluate_detections(PREDICTIONS, gt_field=GROUND_TRUTH, eval_key=eval_key, iou=iou)
    base = view.match_tags("augmented", bool=False)
    ds.save_view(f"false positives ({eval_key})", base.filter_labels(PREDICTIONS, F(eval_key) == "fp").sort_by(f"{eval_key}_fp", reverse=True), overwrite=True)
    ds.save_view(f"false negatives ({eval_key})", base.filter_labels(GROUND_TRUTH, F(eval_key) == "fn").sort_by(f"{eval_key}_fn", reverse=True), overwrite=True)
    tp, fp, fn = (int(view.sum(f"{eval_key}_{k}")) for k in ("tp", "fp", "fn"))
    return {
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "tp": tp, "fp": fp, "fn": fn, "mAP": float(result.mAP()) if hasattr(result, "mAP") else float("nan"),
    }
