"""The executor seam for per-image work: a local process pool by default, Dask when asked.

Every executor's `map` returns results in input order, so tables come out identical whichever
executor ran them.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterable, Protocol, Sequence, TypeVar

from curate.errors import CurateError
from curate.progress import track

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    name: str

    def map(self, fn: Callable[[T], R], items: Sequence[T], description: str = "working", chunksize: int = 64) -> list[R]: ...


def _apply_chunk(fn: Callable[[T], R], chunk: Sequence[T]) -> list[R]:
    return [fn(item) for item in chunk]


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _flatten_tracked(results: Iterable[list[R]], n_items: int, n_chunks: int, description: str) -> list[R]:
    out: list[R] = []
    for part in track(results, description, total=n_chunks):
        out.extend(part)
    assert len(out) == n_items
    return out


class SerialExecutor:
    """Runs everything in this process; used for tiny inputs and as the benchmark baseline."""

    name = "serial"

    def map(self, fn, items, description="working", chunksize=64):
        return list(track((fn(i) for i in items), description, total=len(items)))


class LocalExecutor:
    """A process pool on this machine."""

    name = "local"

    def __init__(self, workers: int | None = None):
        self.workers = workers or os.cpu_count() or 1

    def map(self, fn, items, description="working", chunksize=64):
        items = list(items)
        if self.workers <= 1 or len(items) <= chunksize:
            return SerialExecutor().map(fn, items, description)
        chunks = _chunks(items, chunksize)
        with ProcessPoolExecutor(max_workers=self.workers) as pool:
            results = pool.map(_apply_chunk, [fn] * len(chunks), chunks)
            return _flatten_tracked(results, len(items), len(chunks), description)


class DaskExecutor:
    """A Dask distributed cluster, given by scheduler address or an existing Client."""

    name = "dask"

    def __init__(self, scheduler: str | None = None, client=None):
        from dask.distributed import Client  # heavy: only when scale-out is asked for

        if client is None and not scheduler:
            raise CurateError("the dask executor needs --scheduler ADDRESS (e.g. tcp://127.0.0.1:8786)")
        try:
            self.client = client or Client(scheduler, timeout="10s")
        except OSError as exc:
            raise CurateError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None

    def map(self, fn, items, description="working", chunksize=64):
        from dask.distributed import as_completed

        items = list(items)
        chunks = _chunks(items, chunksize)
        futures = [self.client.submit(_apply_chunk, fn, chunk, pure=False) for chunk in chunks]
        for _ in track(as_completed(futures), description, total=len(futures)):
            pass
        return [r for part in self.client.gather(futures) for r in part]


def make_executor(kind: str = "local", scheduler: str | None = None, workers: int | None = None) -> Executor:
    """Build an executor by name: serial, local or dask."""
    registry = {
        "serial": lambda: SerialExecutor(),
        "local": lambda: LocalExecutor(workers),
        "dask": lambda: DaskExecutor(scheduler),
    }
    if kind not in registry:
        raise CurateError(f"unknown executor '{kind}' (expected one of {', '.join(registry)})")
    return registry[kind]()
