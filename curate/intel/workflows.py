"""Catalogue applications on a dataset: embed it with a category model, search it by image, and
rank the labels most likely to be wrong (section 2.1.2 of the source document: visual search,
similar products, label QA)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from curate.dataset import BOX_COLUMNS, read_dataset, save_tables
from curate.errors import CurateError
from curate.imageio import load_image_rgb
from curate.intel.embeddings import EmbeddingStore, embeddings_path, read_embeddings, update_embeddings
from curate.intel.label_noise import box_disagreements, label_issues, out_of_fold_probabilities
from curate.intel.search import build_index, search_index
from curate.models.classifier import load_category_model
from curate.progress import track

ISSUE_COLUMNS = ("label_issue_score", "label_issue", "suggested_category")


def embed_dataset(dataset_path: str | Path, model_dir: str | Path, batch_size: int = 256) -> dict[str, int]:
    """Compute (incrementally) the model's embeddings of every object crop and every image."""
    dataset = read_dataset(dataset_path)
    model = load_category_model(model_dir)
    model.check_dataset(dataset)
    return update_embeddings(dataset, model.describe(), model.dataset_embedder(dataset), batch_size, progress=track)


def _current_objects(store: EmbeddingStore, objects: pd.DataFrame) -> tuple[EmbeddingStore, pd.DataFrame]:
    """Object embeddings for the objects the table has now, and those objects in the same order."""
    store = store.select("object")
    keep = store.rows["key"].isin(objects["object_id"]).to_numpy()
    rows = store.rows[keep].reset_index(drop=True)
    aligned = objects.set_index("object_id").loc[rows["key"]].reset_index()
    return EmbeddingStore(rows, store.vectors[keep], store.probabilities[keep], store.model), aligned


def search_catalogue(
    dataset_path: str | Path,
    query_image: str | Path,
    k: int = 10,
    category: str | None = None,
    model_dir: str | Path | None = None,
    method: str = "auto",
) -> pd.DataFrame:
    """The k catalogue objects most similar to a query image: rank, score, object and image ids,
    category and image path. Uses the embeddings of `model_dir` (or the latest embedded model)."""
    dataset = read_dataset(dataset_path)
    if dataset.objects.empty:
        raise CurateError.at(dataset.path, "the dataset has no objects: nothing to search")
    model = load_category_model(model_dir) if model_dir is not None else None
    store = read_embeddings(dataset.path, model.sha256 if model else None)
    if model is None:
        model = load_category_model(store.model["path"])
        if model.sha256 != store.model["sha256"]:
            raise CurateError.at(model.path, "the model changed since the embeddings were computed: re-run `curate embed`")
    model.check_dataset(dataset)
    # The index covers every stored object row (so a saved HNSW graph stays valid); objects no
    # longer in the table, or outside the category, are masked out.
    store = store.select("object")
    current = dataset.objects.set_index("object_id")
    allowed = np.array(store.rows["key"].isin(current.index))
    if not allowed.any():
        raise CurateError.at(dataset.path, "no object embeddings: run `curate embed DATASET --model DIR` first")
    categories = current["category"].reindex(store.rows["key"]).to_numpy()
    if category is not None:
        allowed &= categories == category
        if not allowed.any():
            raise CurateError(f"no embedded object has category '{category}'")
    source = embeddings_path(dataset.path, store.model["sha256"])
    cache = source.with_name(f"{source.stem}-{source.stat().st_mtime_ns}.hnsw")
    vectors, _ = model.embed_image_files([query_image])
    rows, scores = search_index(build_index(store.vectors, method, cache_path=cache), vectors[0], k, None if allowed.all() else allowed)
    hits = store.rows.iloc[rows]
    paths = dataset.images.set_index("image_id")["path"]
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(rows) + 1),
            "score": np.round(scores.astype(float), 4),
            "object_id": hits["key"].to_numpy(),
            "image_id": hits["image_id"].to_numpy(),
            "category": categories[rows],
            "path": paths.loc[hits["image_id"]].to_numpy(),
        }
    )


def rank_mislabelled(dataset_path: str | Path, model_dir: str | Path, split: str = "train", folds: int = 5, seed: int = 0) -> pd.DataFrame:
    """Score every category label of `split` (or "all") by how likely it is wrong and write
    label_issue_score, label_issue and suggested_category into objects.parquet.

    Out-of-fold probabilities come from k-fold logistic regression on the model's embeddings, so
    no label is judged by a classifier that saw it; confident learning turns them into scores.
    """
    embed_dataset(dataset_path, model_dir)
    dataset = read_dataset(dataset_path)
    model = load_category_model(model_dir)
    store, objects = _current_objects(read_embeddings(dataset.path, model.sha256), dataset.objects)
    chosen = np.array(objects["category"].notna())
    if split != "all":
        in_split = set(dataset.images.loc[dataset.images["split"] == split, "image_id"])
        chosen &= objects["image_id"].isin(in_split).to_numpy()
    if chosen.sum() < folds:
        raise CurateError.at(dataset.path, f"{int(chosen.sum())} labelled objects in split '{split}': too few for {folds}-fold ranking")
    classes = sorted(objects.loc[chosen, "category"].unique())
    index_of = {c: i for i, c in enumerate(classes)}
    labels = objects.loc[chosen, "category"].map(index_of).to_numpy()
    probs = out_of_fold_probabilities(store.vectors[chosen], labels, len(classes), folds, seed, progress=lambda items, d: track(items, d))
    issues = label_issues(probs, labels)
    scored = pd.DataFrame(
        {
            "object_id": objects.loc[chosen, "object_id"].to_numpy(),
            "label_issue_score": issues["label_issue_score"].to_numpy(),
            "label_issue": issues["label_issue"].to_numpy(),
            "suggested_category": np.asarray(classes, dtype=object)[issues["suggested_label"].to_numpy()],
        }
    )
    table = dataset.objects.drop(columns=[c for c in ISSUE_COLUMNS if c in dataset.objects.columns])
    table = table.merge(scored, on="object_id", how="left")
    save_tables(dataset.path, dataset.images, table, dataset.meta, expect_generation=dataset.generation)
    return scored.merge(objects[["object_id", "image_id", "category"]], on="object_id").sort_values("label_issue_score", ascending=False, kind="mergesort").reset_index(drop=True)


PREDICTION_COLUMNS = ("image_id", "object_type", *BOX_COLUMNS, "score")


def detector_predictions(dataset_path: str | Path, detector_dir: str | Path) -> pd.DataFrame:
    """Run a trained detector (`curate train detector`) over every image, unthresholded."""
    from curate.models.detector import DetectorPredictor

    dataset = read_dataset(dataset_path)
    detector = DetectorPredictor(detector_dir)
    frames = []
    for image_id, path in track(list(zip(dataset.images["image_id"], dataset.images["path"])), "detecting"):
        found = detector.detect([load_image_rgb(dataset.image_path(path))], thresholded=False)[0]
        frames.append(found.assign(image_id=image_id))
    return pd.concat(frames, ignore_index=True)[list(PREDICTION_COLUMNS)] if frames else pd.DataFrame(columns=PREDICTION_COLUMNS)


def read_predictions(path: str | Path) -> pd.DataFrame:
    """Detector predictions saved as Parquet (image_id, object_type, x_min..y_max, score)."""
    path = Path(path)
    try:
        predicted = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise CurateError.at(path, f"cannot read the predictions: {exc}") from None
    missing = [c for c in PREDICTION_COLUMNS if c not in predicted.columns]
    if missing:
        raise CurateError.at(path, f"missing columns {', '.join(missing)}", field=missing[0])
    return predicted


def flag_box_issues(dataset_path: str | Path, predicted: pd.DataFrame, iou_match: float = 0.5, min_score: float = 0.5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Compare the ground-truth boxes with a detector's predictions; write box_spurious_score into
    objects.parquet and the likely-missing boxes to reports/likely_missing_boxes.parquet."""
    dataset = read_dataset(dataset_path)
    spurious, missing = box_disagreements(dataset.objects, predicted, iou_match, min_score)
    table = dataset.objects.drop(columns=["box_spurious_score"], errors="ignore").merge(spurious[["object_id", "box_spurious_score"]], on="object_id", how="left")
    save_tables(dataset.path, dataset.images, table, dataset.meta, expect_generation=dataset.generation)
    dataset.reports_dir.mkdir(parents=True, exist_ok=True)
    missing.to_parquet(dataset.reports_dir / "likely_missing_boxes.parquet", index=False)
    return spurious.sort_values("box_spurious_score", ascending=False, kind="mergesort").reset_index(drop=True), missing
