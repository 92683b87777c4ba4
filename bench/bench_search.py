"""Exact cosine search over 100,000 x 512 embeddings on one core, against a plain numpy dot product.

The baseline is the bare matrix-vector product `vectors @ query` (no top-k, no normalisation of
the query); `search_index` adds normalising the query and an argpartition top-k. Both run in the
same process, single-threaded, on the same matrix. The HNSW index (faiss) is timed too.

Usage: PYTHONPATH=. python bench/bench_search.py [--rows 100000] [--dim 512] [--queries 200]
"""

from __future__ import annotations

import os

# One core: pin the BLAS and faiss thread pools before numpy loads them.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from curate.search import build_index, search_index  # noqa: E402


def per_query_ms(fn, queries) -> float:
    fn(queries[0])
    start = time.perf_counter()
    for q in queries:
        fn(q)
    return (time.perf_counter() - start) / len(queries) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    embeddings = rng.standard_normal((args.rows, args.dim), dtype=np.float32)
    queries = embeddings[rng.choice(args.rows, args.queries, replace=False)] + 0.1 * rng.standard_normal((args.queries, args.dim), dtype=np.float32)

    exact = build_index(embeddings, "exact")
    dot_ms = per_query_ms(lambda q: exact.vectors @ q, queries)
    exact_ms = per_query_ms(lambda q: search_index(exact, q, args.k), queries)
    category = rng.random(args.rows) < 0.1
    filtered_ms = per_query_ms(lambda q: search_index(exact, q, args.k, category), queries)
    print(f"{args.rows} x {args.dim} float32, k={args.k}, {args.queries} queries, 1 thread")
    print(f"  numpy dot product (baseline)  {dot_ms:7.2f} ms/query")
    print(f"  exact search                  {exact_ms:7.2f} ms/query   ratio to baseline {exact_ms / dot_ms:.2f}x")
    print(f"  exact search, one category    {filtered_ms:7.2f} ms/query   (10 % of rows allowed)")

    import faiss

    faiss.omp_set_num_threads(1)
    start = time.perf_counter()
    hnsw = build_index(embeddings, "hnsw")
    build_s = time.perf_counter() - start
    hnsw_ms = per_query_ms(lambda q: search_index(hnsw, q, args.k), queries)
    truth = [set(search_index(exact, q, args.k)[0]) for q in queries[:50]]
    recall = np.mean([len(t & set(search_index(hnsw, q, args.k)[0])) / args.k for t, q in zip(truth, queries[:50])])
    print(f"  HNSW (faiss) search           {hnsw_ms:7.2f} ms/query   ratio to baseline {hnsw_ms / dot_ms:.2f}x, recall@{args.k} {recall:.3f}, build {build_s:.1f} s")


if __name__ == "__main__":
    main()
