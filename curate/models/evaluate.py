"""Evaluation of the three stages against a labelled split (the gold standard by default).

Each stage's evaluator runs its predictor over the split and computes the metrics of
`curate.models.metrics`: COCO metrics and F1 at the chosen thresholds for the detector, accuracy
and the confusion matrix for the category classifier, multi-label scores (constrained by the
taxonomy and not) for the attribute tagger. Results go to MODEL_DIR/evaluation/<dataset>-<split>/
as metrics.json, metrics.md and PNGs, and a summary goes into model.json and the model card.
This module imports the stages; the stages never import it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from curate.dataset import BOX_COLUMNS, Dataset, read_dataset, write_text_atomic
from curate.errors import CurateError
from curate.imageio import load_image_rgb
from curate.models.classifier import CategoryModel
from curate.models.data import object_crops, split_objects
from curate.models.detector import DetectorPredictor, apply_thresholds, truth_frames
from curate.models.metrics import classification_metrics, coco_metrics, f1_of_kept, multilabel_metrics
from curate.models.model_dir import read_model_info, update_model_json
from curate.models.tagger import TaggerPredictor, frame_labels, multi_hot
from curate.taxonomy import OBJECT_TYPES

# ---------------------------------------------------------------------------------------------
# The stages' evaluators


def evaluate_detector(model_dir: Path, dataset: Dataset, split: str) -> dict[str, Any]:
    """COCO metrics on every detection above min_score, and F1 at the chosen thresholds."""
    predictor = DetectorPredictor(model_dir)
    objects = split_objects(dataset, split, "detector evaluation", need_boxes=True)
    images = dataset.images[dataset.images["split"] == split].sort_values("image_id").reset_index(drop=True)
    found = []
    for start in range(0, len(images), 16):
        chunk = images.iloc[start : start + 16]
        found += predictor.detect([load_image_rgb(dataset.image_path(p)) for p in chunk["path"]], thresholded=False)
    detections = pd.concat([d.assign(image_id=i) for d, i in zip(found, images["image_id"])], ignore_index=True) if found else pd.DataFrame(columns=["image_id", "object_type", "score", *BOX_COLUMNS])
    metrics = coco_metrics(images, objects, detections, OBJECT_TYPES)
    truth = truth_frames(objects, images["image_id"].tolist())
    kept = [apply_thresholds(d, predictor.thresholds) for d in found]
    for name, entry in metrics["per_class"].items():
        entry["f1_at_threshold"] = float(f1_of_kept(truth, kept, name))
        entry["threshold"] = float(predictor.thresholds.get(name, {}).get("threshold", 0.5))
    present = [n for n in OBJECT_TYPES if (objects["object_type"] == n).any()]
    metrics["f1_at_thresholds"] = float(np.mean([metrics["per_class"][n]["f1_at_threshold"] for n in present])) if present else 0.0
    metrics["detections"] = pd.concat([d.assign(image_id=i) for d, i in zip(kept, images["image_id"])], ignore_index=True).to_dict("records") if kept else []
    return metrics


def evaluate_category(model_dir: Path, dataset: Dataset, split: str) -> dict[str, Any]:
    """Category accuracy of stage 2 alone, on ground-truth boxes and object types."""
    predictor = CategoryModel(model_dir)
    objects = split_objects(dataset, split, "category evaluation")
    objects = objects[objects["category"].notna()].reset_index(drop=True)
    crops = object_crops(dataset, objects, predictor.image_size, random_pad=False)
    scored = predictor.probabilities(crops, objects["object_type"].tolist())
    ranked = [[names[i] for i in np.argsort(-p)] for names, p in scored]
    labels = sorted({name for names in predictor.labels.values() for name in names})
    metrics = classification_metrics(objects["category"].tolist(), ranked, labels)
    metrics["predictions"] = [
        {"object_id": oid, "category": r[0] if r else None, "confidence": float(p.max()) if len(p) else None}
        for oid, r, (_, p) in zip(objects["object_id"], ranked, scored)
    ]
    return metrics


def evaluate_tagger(model_dir: Path, dataset: Dataset, split: str) -> dict[str, Any]:
    """Stage 3 alone on ground-truth boxes and categories; constrained and unconstrained."""
    predictor = TaggerPredictor(model_dir)
    objects = split_objects(dataset, split, "attribute evaluation")
    truth = multi_hot(frame_labels(objects), predictor.vocabulary).astype(bool)
    keep = truth.any(axis=1)
    objects, truth = objects[keep].reset_index(drop=True), truth[keep]
    probs = predictor.probabilities(object_crops(dataset, objects, predictor.image_size, random_pad=False))
    decoded = predictor.decode(probs, objects["category"].tolist())
    constrained = multi_hot([d["labels"] for d in decoded], predictor.vocabulary).astype(bool)
    metrics = multilabel_metrics(truth, constrained, predictor.vocabulary)
    plain = multilabel_metrics(truth, probs >= predictor.threshold, predictor.vocabulary)
    metrics["unconstrained"] = {k: plain[k] for k in ("exact_match", "binary_accuracy", "macro_f1", "micro_f1")}
    metrics["predictions"] = [{"object_id": oid, "labels": d["labels"], "scores": d["scores"]} for oid, d in zip(objects["object_id"], decoded)]
    return metrics


EVALUATORS: dict[str, Callable[[Path, Dataset, str], dict[str, Any]]] = {
    "detector": evaluate_detector,
    "category": evaluate_category,
    "attributes": evaluate_tagger,
}


# ---------------------------------------------------------------------------------------------
# Reports


def confusion_png(confusion: dict[str, Any], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, matrix = confusion["labels"], np.asarray(confusion["matrix"], dtype=float)
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    side = max(4.0, 0.45 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(side + 1, side))
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), [f"{name} ({int(n)})" for name, n in zip(labels, rows[:, 0])], fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (objects)")
    ax.set_title(title, fontsize=10)
    if len(labels) <= 25:
        for i in range(len(labels)):
            for j in range(len(labels)):
                if matrix[i, j]:
                    ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=6, color="white" if share[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of true class")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def per_label_png(per_label: dict[str, dict[str, float]], key: str, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(per_label)
    values = [per_label[n][key] for n in names]
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.28 * len(names) + 1)))
    ax.barh(range(len(names)), values, color="#4c72b0")
    for i, (name, value) in enumerate(zip(names, values)):
        # the value on every bar (a zero has no bar to see; COCO's -1 is no ground truth) and the support
        support = per_label[name].get("support", per_label[name].get("ground_truth"))
        text = (f"{value:.2f}" if value >= 0 else "n/a") + (f"  n={support}" if support is not None else "")
        inside = value > 0.75
        ax.text(value - 0.01 if inside else max(value, 0) + 0.01, i, text, va="center", ha="right" if inside else "left", fontsize=7, color="white" if inside else "black")
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel(key)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


SUMMARY_KEYS = {
    "detector": ("mAP", "AP50", "AP75", "AR1", "AR10", "AR100", "f1_at_thresholds"),
    "category": ("examples", "accuracy", "top3_accuracy", "macro_f1"),
    "attributes": ("examples", "exact_match", "binary_accuracy", "macro_f1", "micro_f1"),
}


def markdown_report(stage: str, title: str, metrics: dict[str, Any], pngs: list[str]) -> str:
    lines = [f"# {title}", "", "| metric | value |", "|---|---|"]
    for key in SUMMARY_KEYS[stage]:
        value = metrics.get(key)
        lines.append(f"| {key} | {value:.4f} |" if isinstance(value, float) else f"| {key} | {value} |")
    if "fiftyone" in metrics:
        run = metrics["fiftyone"]
        where = f" in FiftyOne dataset {run['dataset']}" if run.get("dataset") else ""
        lines.append(f"| FiftyOne evaluation run | {run['eval_key'] + where if run['stored'] else 'not stored: ' + run['reason']} |")
    if "unconstrained" in metrics:
        lines.append("| without taxonomy constraints | " + ", ".join(f"{k} {v:.4f}" for k, v in metrics["unconstrained"].items()) + " |")
    table = metrics.get("per_class") or metrics.get("per_label") or {}
    if table:
        columns = list(next(iter(table.values())))
        lines += ["", "| label | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
        for name, row in table.items():
            lines.append(f"| {name} | " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row.values()) + " |")
    lines += [""] + [f"![{p}]({p})" for p in pngs] + [""]
    return "\n".join(lines)


def write_report(model_dir: Path, stage: str, dataset: Dataset, split: str, metrics: dict[str, Any]) -> Path:
    """metrics.json, metrics.md and PNGs under MODEL_DIR/evaluation/<dataset>-<split>/."""
    name = f"{dataset.meta.get('name', dataset.path.name)}-{split}"
    out = model_dir / "evaluation" / name
    out.mkdir(parents=True, exist_ok=True)
    pngs = []
    if "confusion" in metrics:
        confusion_png(metrics["confusion"], out / "confusion.png", f"{stage}: {name}, accuracy {metrics['accuracy']:.3f}")
        pngs.append("confusion.png")
    if stage == "category" and metrics.get("per_class"):
        per_label_png(metrics["per_class"], "f1", out / "per_class_f1.png", f"category F1 per class: {name}")
        pngs.append("per_class_f1.png")
    if "per_label" in metrics and metrics["per_label"]:
        per_label_png(metrics["per_label"], "f1", out / "per_label_f1.png", f"{stage} F1 per label: {name}")
        pngs.append("per_label_f1.png")
    if stage == "detector":
        per_label_png(metrics["per_class"], "AP", out / "per_class_ap.png", f"AP@[.5:.95] per class: {name}")
        pngs.append("per_class_ap.png")
    write_text_atomic(out / "metrics.json", json.dumps({"stage": stage, "dataset": str(dataset.path), "split": split, **metrics}, indent=2) + "\n")
    write_text_atomic(out / "metrics.md", markdown_report(stage, f"{stage} evaluation on {name}", metrics, pngs))
    info = read_model_info(model_dir)
    evaluations = dict(info.get("evaluations", {}))
    evaluations[name] = {k: metrics[k] for k in SUMMARY_KEYS[stage] if k in metrics}
    update_model_json(model_dir, evaluations=evaluations)
    return out


def evaluate_model(stage: str, model_dir: str | Path, dataset_path: str | Path, split: str = "gold", fiftyone: bool = True) -> tuple[dict[str, Any], Path]:
    """Run one stage's model over a split and write its report beside the model.

    The predictions are also stored as a FiftyOne evaluation run (when the dataset is in
    FiftyOne, see `curate review`) so the review loop's false-positive/negative views work: the
    detector's boxes on the review dataset, categories and attributes on its per-object companion."""
    if stage not in EVALUATORS:
        raise CurateError(f"unknown stage '{stage}'; expected one of {', '.join(EVALUATORS)}")
    model_dir = Path(model_dir)
    read_model_info(model_dir, stage)
    dataset = read_dataset(dataset_path)
    metrics = EVALUATORS[stage](model_dir, dataset, split)
    detections = metrics.pop("detections", None)
    predictions = metrics.pop("predictions", None)
    if detections is not None and fiftyone:
        metrics["fiftyone"] = store_fiftyone_run(dataset, detections, split)
    if predictions is not None and fiftyone:
        metrics["fiftyone"] = store_object_run(stage, dataset, predictions, split)
    return metrics, write_report(model_dir, stage, dataset, split, metrics)


def store_fiftyone_run(dataset: Dataset, detections: list[dict[str, Any]], split: str) -> dict[str, Any]:
    """The detections as a FiftyOne evaluation run `eval_<split>` over that split's images, with its FP/FN views."""
    from curate.review import add_predictions

    frame = pd.DataFrame(detections, columns=["image_id", "object_type", "score", *BOX_COLUMNS])
    scored = dataset.images.loc[dataset.images["split"] == split, "image_id"].tolist()
    try:
        return {"stored": True, "eval_key": f"eval_{split}", **add_predictions(dataset.path, frame, eval_key=f"eval_{split}", image_ids=scored)}
    except CurateError as exc:
        return {"stored": False, "reason": str(exc)}


def store_object_run(stage: str, dataset: Dataset, predictions: list[dict[str, Any]], split: str) -> dict[str, Any]:
    """Category or attribute predictions per object as a FiftyOne evaluation run `eval_<stage>_<split>`
    on the review dataset's per-object companion, with its false-positive/negative views."""
    from curate.review import add_attribute_predictions, add_category_predictions

    add, columns = (add_category_predictions, ["object_id", "category", "confidence"]) if stage == "category" else (add_attribute_predictions, ["object_id", "labels", "scores"])
    try:
        return {"stored": True, **add(dataset, pd.DataFrame(predictions, columns=columns), split)}
    except CurateError as exc:
        return {"stored": False, "reason": str(exc)}
