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

from curate.intel.search import build_index, search_index  # noqa: E402


def median_ms(fns: dict, queries) -> dict[str, float]:
    """Median milliseconds per query of each function, calls interleaved query by query so a
    shared machine's load changes hit the baseline and the candidates alike."""
    times = {name: [] for name in fns}
    for fn in fns.values():
        fn(queries[0])
    for q in queries:
        for name, fn in fns.items():
            start = time.perf_counter()
            fn(q)
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) * 1000 for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--no-hnsw", action="store_true", help="skip the approximate index (its build takes minutes)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    embeddings = rng.standard_normal((args.rows, args.dim), dtype=np.float32)
    queries = embeddings[rng.choice(args.rows, args.queries, replace=False)] + 0.1 * rng.standard_normal((args.queries, args.dim), dtype=np.float32)

    exact = build_index(embeddings, "exact")
    category = rng.random(args.rows) < 0.1
    ms = median_ms(
        {
            "dot": lambda q: exact.vectors @ q,
            "exact": lambda q: search_index(exact, q, args.k),
            "category": lambda q: search_index(exact, q, args.k, category),
        },
        queries,
    )
    print(f"{args.rows} x {args.dim} float32, k={args.k}, {args.queries} queries, 1 thread, median per query")
    print(f"  numpy dot product (baseline)  {ms['dot']:7.2f} ms/query")
    print(f"  exact search                  {ms['exact']:7.2f} ms/query   ratio to baseline {ms['exact'] / ms['dot']:.2f}x")
    print(f"  exact search, one category    {ms['category']:7.2f} ms/query   (10 % of rows allowed)")

    if args.no_hnsw:
        return
    import faiss

    # Building the graph may use every core; searching it is timed on one, like the exact scan.
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    start = time.perf_counter()
    hnsw = build_index(embeddings, "hnsw")
    build_s = time.perf_counter() - start
    faiss.omp_set_num_threads(1)
    hnsw_ms = median_ms({"hnsw": lambda q: search_index(hnsw, q, args.k)}, queries)["hnsw"]
    truth = [set(search_index(exact, q, args.k)[0]) for q in queries[:50]]
    recall = np.mean([len(t & set(search_index(hnsw, q, args.k)[0])) / args.k for t, q in zip(truth, queries[:50])])
    print(f"  HNSW (faiss) search           {hnsw_ms:7.2f} ms/query   ratio to baseline {hnsw_ms / ms['dot']:.2f}x, recall@{args.k} {recall:.3f}, build {build_s:.1f} s")


if __name__ == "__main__":
    main()
