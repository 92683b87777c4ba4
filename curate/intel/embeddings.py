"""Embeddings stored beside the tables: one Parquet file per model, keyed by object and image id.

DATASET/embeddings/<model hash[:16]>.parquet holds, per object crop (kind "object", key =
object_id) and per whole image (kind "image", key = image_id), the model's penultimate-layer
embedding and its class probabilities, plus a content key (image hash + box) so a re-run only
computes rows whose object is new or whose image or box changed. The model's full hash, its
directory and its label list are kept in the file's metadata.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from curate.dataset import BOX_COLUMNS, Dataset, ensure_folder, write_parquet_atomic
from curate.errors import CurateError

EMBEDDINGS_DIR = "embeddings"
_META_KEY = b"curate.embeddings"

# (jobs frame with key, kind, image_id, path, box columns) -> (embeddings, probabilities)
Embedder = Callable[[pd.DataFrame], tuple[np.ndarray, np.ndarray]]


@dataclass
class EmbeddingStore:
    """Rows of one embeddings file, aligned: `rows` (key, kind, image_id, content_key),
    `vectors` (n, dim) float32 and `probabilities` (n, classes) float32."""

    rows: pd.DataFrame
    vectors: np.ndarray
    probabilities: np.ndarray
    model: dict

    def select(self, kind: str) -> "EmbeddingStore":
        mask = (self.rows["kind"] == kind).to_numpy()
        return EmbeddingStore(self.rows[mask].reset_index(drop=True), self.vectors[mask], self.probabilities[mask], self.model)


def embeddings_path(dataset_path: Path, model_sha256: str) -> Path:
    return Path(dataset_path) / EMBEDDINGS_DIR / f"{model_sha256[:16]}.parquet"


def embedding_jobs(dataset: Dataset) -> pd.DataFrame:
    """What to embed: every object (its box, or the whole image when it has none) and every image."""
    images, objects = dataset.images, dataset.objects
    if images.empty:
        raise CurateError.at(dataset.path, "the dataset has no images: nothing to embed")
    image_cols = images[["image_id", "path", "sha256"]]
    obj = objects[["object_id", "image_id", *BOX_COLUMNS]].merge(image_cols, on="image_id", how="left")
    obj = obj.rename(columns={"object_id": "key"}).assign(kind="object")
    img = image_cols.assign(key=images["image_id"], kind="image", **{c: np.nan for c in BOX_COLUMNS})
    jobs = pd.concat([obj, img], ignore_index=True)
    jobs["content_key"] = [_content_key(dataset, row) for row in jobs.itertuples(index=False)]
    return jobs[["key", "kind", "image_id", "path", *BOX_COLUMNS, "content_key"]]


def _content_key(dataset: Dataset, row) -> str:
    """Changes when the image content or the box changes, so a stored row is still valid iff equal."""
    if isinstance(row.sha256, str) and row.sha256:
        image_part = row.sha256
    else:
        stat = dataset.image_path(row.path).stat() if dataset.image_path(row.path).exists() else None
        image_part = f"{row.path}:{stat.st_size}:{stat.st_mtime_ns}" if stat else f"{row.path}:missing"
    box = tuple(getattr(row, c) for c in BOX_COLUMNS)
    box_part = "none" if any(pd.isna(v) for v in box) else ",".join(f"{float(v):.6f}" for v in box)
    return hashlib.sha1(f"{image_part}|{box_part}".encode()).hexdigest()[:16]


def read_embeddings(dataset_path: Path, model_sha256: str | None = None) -> EmbeddingStore:
    """The embeddings of one model (by hash), or of the only/most recent model when None."""
    folder = Path(dataset_path) / EMBEDDINGS_DIR
    if model_sha256 is not None:
        path = embeddings_path(dataset_path, model_sha256)
        if not path.exists():
            raise CurateError.at(path, "no embeddings for this model: run `curate embed DATASET --model DIR` first")
    else:
        files = sorted(folder.glob("*.parquet"), key=lambda p: p.stat().st_mtime) if folder.exists() else []
        if not files:
            raise CurateError.at(folder, "no embeddings: run `curate embed DATASET --model DIR` first")
        path = files[-1]
    table = pq.read_table(path)
    model = json.loads(table.schema.metadata[_META_KEY])
    rows = table.select(["key", "kind", "image_id", "content_key"]).to_pandas()
    vectors = _matrix(table.column("embedding"), model["dim"])
    probabilities = _matrix(table.column("probabilities"), len(model["labels"]))
    return EmbeddingStore(rows, vectors, probabilities, model)


def _matrix(column: pa.ChunkedArray, width: int) -> np.ndarray:
    flat = column.combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return np.asarray(flat, dtype=np.float32).reshape(-1, width)


def write_embeddings(dataset_path: Path, store: EmbeddingStore) -> Path:
    target = embeddings_path(dataset_path, store.model["sha256"])
    ensure_folder(dataset_path, EMBEDDINGS_DIR)  # a folder of the current generation, kept by later ones
    order = np.lexsort((store.rows["key"].to_numpy(), store.rows["kind"].to_numpy()))
    rows = store.rows.iloc[order].reset_index(drop=True)
    dim, classes = store.vectors.shape[1], store.probabilities.shape[1]
    table = pa.table(
        {
            **{c: pa.array(rows[c].astype(str).tolist(), pa.string()) for c in ("key", "kind", "image_id", "content_key")},
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(store.vectors[order].ravel(), pa.float32()), dim),
            "probabilities": pa.FixedSizeListArray.from_arrays(pa.array(store.probabilities[order].ravel(), pa.float32()), classes),
        }
    ).replace_schema_metadata({_META_KEY: json.dumps({**store.model, "dim": dim}).encode()})
    write_parquet_atomic(table, target)
    return target


def update_embeddings(dataset: Dataset, model: dict, embed: Embedder, batch_size: int = 256, progress=lambda items, description, total: items) -> dict[str, int]:
    """Bring the model's embeddings file up to date with the tables; only new or changed rows are
    computed. `model` carries sha256, path and labels. Returns counts: computed, reused, and
    dropped (stored rows no longer valid: the object was removed or its image or box changed)."""
    jobs = embedding_jobs(dataset)
    path = embeddings_path(dataset.path, model["sha256"])
    old = read_embeddings(dataset.path, model["sha256"]) if path.exists() else None
    if old is not None and list(old.model["labels"]) != list(model["labels"]):
        raise CurateError.at(path, "stored embeddings were made with a different label list for the same model hash")
    reuse_at = {}
    if old is not None:
        reuse_at = {(k, kind, ck): i for i, (k, kind, ck) in enumerate(old.rows[["key", "kind", "content_key"]].itertuples(index=False))}
    found = np.array([reuse_at.get((k, kind, ck), -1) for k, kind, ck in jobs[["key", "kind", "content_key"]].itertuples(index=False)], dtype=np.int64)
    todo = np.flatnonzero(found < 0)
    dim = old.vectors.shape[1] if old is not None else None
    vectors = [None] * len(jobs)
    probs = [None] * len(jobs)
    for i in np.flatnonzero(found >= 0):
        vectors[i], probs[i] = old.vectors[found[i]], old.probabilities[found[i]]
    batches = [todo[s : s + batch_size] for s in range(0, len(todo), batch_size)]
    for batch in progress(batches, "embedding", len(batches)):
        emb, prob = embed(jobs.iloc[batch].reset_index(drop=True))
        if dim is not None and emb.shape[1] != dim:
            raise CurateError.at(path, f"the model gives {emb.shape[1]}-dimensional embeddings, the stored ones have {dim}")
        dim = emb.shape[1]
        for j, i in enumerate(batch):
            vectors[i], probs[i] = emb[j], prob[j]
    store = EmbeddingStore(
        jobs[["key", "kind", "image_id", "content_key"]],
        np.stack(vectors).astype(np.float32),
        np.stack(probs).astype(np.float32),
        {"sha256": model["sha256"], "path": str(model["path"]), "labels": list(model["labels"])},
    )
    write_embeddings(dataset.path, store)
    dropped = len(old.rows) - int((found >= 0).sum()) if old is not None else 0
    return {"computed": int(len(todo)), "reused": int((found >= 0).sum()), "dropped": dropped}
