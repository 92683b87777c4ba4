"""Nearest-neighbour search over embeddings by cosine similarity.

Exact search is a matrix-vector product over L2-normalised float32 rows followed by
`argpartition`, which answers a query over 100,000 x 512 rows in a few tens of milliseconds on
one core. For catalogues of millions of rows the same call switches to an approximate HNSW index
from faiss (imported only when that index is built).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from curate.errors import CurateError

# Above this many rows `method="auto"` builds an approximate index instead of scanning.
APPROXIMATE_FROM_ROWS = 1_000_000
METHODS = ("auto", "exact", "hnsw")


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm as contiguous float32; all-zero rows stay zero."""
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0).astype(np.float32)


def top_k_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores, best first (ties broken by lower index)."""
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k < len(scores):
        candidates = np.argpartition(-scores, k - 1)[:k]
    else:
        candidates = np.arange(len(scores))
    order = np.lexsort((candidates, -scores[candidates]))
    return candidates[order]


@dataclass
class SearchIndex:
    """Unit-norm embeddings plus, for the approximate method, the faiss index built over them."""

    vectors: np.ndarray
    method: str
    ann: Any = None

    def __len__(self) -> int:
        return len(self.vectors)


def build_index(embeddings: np.ndarray, method: str = "auto", hnsw_neighbours: int = 32, cache_path: Path | None = None) -> SearchIndex:
    """An index over the rows of `embeddings` for `search_index`.

    Building an HNSW graph over millions of rows takes minutes, so with `cache_path` the graph is
    saved there and reused by later calls (the caller puts the embeddings' version in the name).
    """
    if method not in METHODS:
        raise CurateError(f"unknown search method '{method}' (expected one of {', '.join(METHODS)})")
    vectors = normalise_rows(embeddings)
    if method == "auto":
        method = "hnsw" if len(vectors) >= APPROXIMATE_FROM_ROWS else "exact"
    if method == "exact":
        return SearchIndex(vectors, "exact")
    import faiss

    if cache_path is not None and cache_path.exists():
        ann = faiss.read_index(str(cache_path))
        if ann.ntotal == len(vectors) and ann.d == vectors.shape[1]:
            return SearchIndex(vectors, "hnsw", ann)
    ann = faiss.IndexHNSWFlat(vectors.shape[1], hnsw_neighbours, faiss.METRIC_INNER_PRODUCT)
    ann.hnsw.efConstruction = 80
    ann.add(vectors)
    if cache_path is not None:
        for stale in cache_path.parent.glob(f"{cache_path.name.split('-')[0]}-*.hnsw"):
            stale.unlink()
        tmp = cache_path.with_name(f".{cache_path.name}.tmp")
        faiss.write_index(ann, str(tmp))
        os.replace(tmp, cache_path)
    return SearchIndex(vectors, "hnsw", ann)


def search_index(index: SearchIndex, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The k rows most similar to one query vector: (row indices, cosine scores), best first.

    `allowed` is an optional boolean mask over the rows (e.g. one category); rows outside it are
    never returned.
    """
    q = normalise_rows(query)[0]
    if q.shape[0] != index.vectors.shape[1]:
        raise CurateError(f"query embedding has {q.shape[0]} dimensions, the index has {index.vectors.shape[1]}")
    if index.method == "exact":
        if allowed is None:
            rows = top_k_rows(index.vectors @ q, k)
            return rows, index.vectors[rows] @ q
        subset = np.flatnonzero(allowed)
        scores = index.vectors[subset] @ q
        best = top_k_rows(scores, k)
        return subset[best], scores[best]
    return _search_hnsw(index, q, k, allowed)


def _search_hnsw(index: SearchIndex, q: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    import faiss

    k = min(k, len(index) if allowed is None else int(allowed.sum()))
    if k <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    params = faiss.SearchParametersHNSW(efSearch=max(64, 2 * k))
    if allowed is not None:
        selector = faiss.IDSelectorBatch(np.flatnonzero(allowed).astype(np.int64))
        params = faiss.SearchParametersHNSW(efSearch=max(64, 2 * k), sel=selector)
    scores, rows = index.ann.search(q[None, :], k, params=params)
    keep = rows[0] >= 0
    return rows[0][keep].astype(np.int64), scores[0][keep]
