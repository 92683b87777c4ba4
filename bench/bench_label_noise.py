"""Planted label noise and visual search on Fashion-MNIST.

1. Build a Fashion-MNIST dataset (N per class of the official train split, Bag dropped), flip 5 %
   of its category labels at random, train the small category CNN on the noisy labels, and run
   `rank_mislabelled` (k-fold over the train split, confident learning). Report precision@k
   (k = number flipped) and AUROC, against a random ranking in the same run.
2. Query the catalogue with held-out images (official test split, never in the dataset) and
   report how often the query's category is among the top-5 results.

Usage: PYTHONPATH=. python bench/bench_label_noise.py [--per-class 400] [--queries 50]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from curate.dataset import read_dataset  # noqa: E402
from curate.demo.synthetic import fashion_mnist_dataset, train_category_model  # noqa: E402
from curate.intel.embeddings import read_embeddings  # noqa: E402
from curate.intel.label_noise import auroc, precision_at_k  # noqa: E402
from curate.intel.search import build_index, search_index  # noqa: E402
from curate.intel.workflows import rank_mislabelled, search_catalogue  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-class", type=int, default=400)
    parser.add_argument("--queries", type=int, default=50, help="held-out queries per category")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-label-noise-"))
    try:
        run(work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, args) -> None:
    start = time.perf_counter()
    ds_path, flipped, _ = fashion_mnist_dataset(work / "catalogue", {"train": args.per_class}, seed=args.seed, flip_share=0.05)
    queries_path, _, query_truth = fashion_mnist_dataset(work / "queries", {"test": args.queries}, seed=args.seed)
    model = train_category_model(ds_path, work / "model", epochs=args.epochs, seed=args.seed)
    trained = time.perf_counter()
    ranked = rank_mislabelled(ds_path, model.path, split="train", folds=args.folds, seed=args.seed)
    ranked_at = time.perf_counter()

    k = len(flipped)
    is_flipped = ranked["object_id"].isin(flipped).to_numpy()
    scores = ranked["label_issue_score"].to_numpy()
    random_scores = np.random.default_rng(args.seed).random(len(scores))
    print(f"planted noise: {len(ranked)} train labels, {k} flipped (5 %), {args.folds}-fold, curate.models small_cnn, up to {args.epochs} epochs")
    print(f"  confident learning  precision@{k} = {precision_at_k(scores, is_flipped, k):.3f}   AUROC = {auroc(scores, is_flipped):.4f}")
    print(f"  random ranking      precision@{k} = {precision_at_k(random_scores, is_flipped, k):.3f}   AUROC = {auroc(random_scores, is_flipped):.4f}")
    print(f"  flagged by confident learning: {int(ranked['label_issue'].sum())}, of which flipped: {int(ranked.loc[ranked['label_issue'], 'object_id'].isin(flipped).sum())}")
    print(f"  time: build+train {trained - start:.1f} s, embed + k-fold + scoring {ranked_at - trained:.1f} s")

    dataset = read_dataset(ds_path)
    store = read_embeddings(ds_path, model.sha256).select("object")
    objects = dataset.objects.set_index("object_id").loc[store.rows["key"]]
    index = build_index(store.vectors, "exact")
    queries = read_dataset(queries_path)
    query_rows = queries.objects.merge(queries.images[["image_id", "path"]], on="image_id")
    vectors, _ = model.embed_image_files([queries.image_path(p) for p in query_rows["path"]])
    hits = []
    for vector, category in zip(vectors, query_rows["object_id"].map(query_truth)):
        rows, _ = search_index(index, vector, 5)
        hits.append(category in set(objects["category"].iloc[rows]))
    hits = np.array(hits)
    per_category = query_rows.assign(hit=hits).groupby(query_rows["object_id"].map(query_truth))["hit"].mean()
    print(f"visual search: {len(hits)} held-out queries ({args.queries} per category), catalogue of {len(store.rows)} objects")
    print(f"  query category in top 5: {hits.mean():.3f} (worst category {per_category.idxmin()} {per_category.min():.2f})")
    one = search_catalogue(ds_path, queries.image_path(query_rows["path"].iloc[0]), k=5)
    print(f"  search_catalogue on one query ({query_truth[query_rows['object_id'].iloc[0]]}): {one['category'].tolist()}")


if __name__ == "__main__":
    main()
