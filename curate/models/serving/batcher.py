"""Micro-batching: requests that arrive together go through the models as one batch.

Each request puts its decoded image on a bounded queue and awaits a future. One collector task
takes the first waiting image, then keeps taking more until the batch holds `max_batch` images
or `max_wait_s` has passed since the first one, and hands the batch to a single inference
thread (`predict_batch` is not called from two threads at once). While the thread works, new
requests queue up, so under load the next batch is full as soon as the thread is free and the
wait costs nothing; a lone request waits at most `max_wait_s`.

Pure asyncio and threads: no web framework here, so the batching is testable on its own.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence


class QueueFull(Exception):
    """The queue already holds `max_queue` images; `retry_after_s` estimates when to retry."""

    def __init__(self, max_queue: int, retry_after_s: int):
        super().__init__(f"the prediction queue is full ({max_queue} requests waiting); retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass
class BatchStats:
    batches: int = 0
    images: int = 0
    largest: int = 0
    seconds: float = 0.0
    expired: int = 0  # requests that timed out before their batch ran
    sizes: dict[int, int] = field(default_factory=dict)

    def add(self, size: int, seconds: float) -> None:
        self.batches += 1
        self.images += size
        self.largest = max(self.largest, size)
        self.seconds += seconds
        self.sizes[size] = self.sizes.get(size, 0) + 1

    def to_json(self) -> dict[str, Any]:
        return {
            "batches": self.batches,
            "images": self.images,
            "mean_batch": round(self.images / self.batches, 3) if self.batches else 0.0,
            "largest_batch": self.largest,
            "batch_sizes": {str(k): v for k, v in sorted(self.sizes.items())},
            "mean_batch_seconds": round(self.seconds / self.batches, 4) if self.batches else 0.0,
            "expired_in_queue": self.expired,
        }


class MicroBatcher:
    """`await submit(item)` returns `predict_batch([... item ...])`'s entry for that item.

    `predict_batch` runs on the batcher's own single thread; `run_on_thread` runs any other
    call there too (loading the models, so they are created on the thread that uses them)."""

    def __init__(self, predict_batch: Callable[[list[Any]], Sequence[Any]] | None = None, max_batch: int = 8, max_wait_s: float = 0.01, max_queue: int = 64):
        if max_batch < 1 or max_queue < 1 or max_wait_s < 0:
            raise ValueError(f"max_batch and max_queue must be >= 1 and max_wait_s >= 0, got {max_batch}, {max_queue}, {max_wait_s}")
        self.predict_batch = predict_batch
        self.max_batch, self.max_wait_s, self.max_queue = max_batch, max_wait_s, max_queue
        self.stats = BatchStats()
        self._queue: deque[tuple[Any, asyncio.Future]] = deque()
        self._arrived: asyncio.Event | None = None
        self._collector: asyncio.Task | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="predict")
        self._running = 0  # images in the batch the thread is working on

    # -- lifecycle (call from the event loop) --------------------------------------------------

    def start(self) -> None:
        self._arrived = asyncio.Event()
        self._collector = asyncio.get_running_loop().create_task(self._collect(), name="micro-batcher")

    async def stop(self, drain_s: float = 60.0) -> None:
        """Finish what is queued (for at most `drain_s`), then stop the collector and the thread."""
        give_up = time.monotonic() + drain_s
        while (self._queue or self._running) and time.monotonic() < give_up and self._collector and not self._collector.done():
            await asyncio.sleep(0.01)
        if self._collector is not None:
            self._collector.cancel()
            await asyncio.gather(self._collector, return_exceptions=True)
        self._thread.shutdown(wait=True)

    async def run_on_thread(self, fn: Callable, *args) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    # -- requests ------------------------------------------------------------------------------

    @property
    def depth(self) -> int:
        return len(self._queue)

    def retry_after_s(self) -> int:
        """Seconds until the queue has likely drained, from the mean batch time so far."""
        per_batch = self.stats.seconds / self.stats.batches if self.stats.batches else 1.0
        return max(1, math.ceil(per_batch * (len(self._queue) / self.max_batch + 1)))

    async def submit(self, item: Any, timeout_s: float | None = None) -> Any:
        """The prediction for `item`; QueueFull when full, asyncio.TimeoutError after `timeout_s`."""
        if len(self._queue) >= self.max_queue:
            raise QueueFull(self.max_queue, self.retry_after_s())
        future = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        self._arrived.set()
        # A timed-out request cancels its future; the collector skips cancelled entries.
        return await asyncio.wait_for(future, timeout_s)

    # -- the collector -------------------------------------------------------------------------

    def _take(self, batch: list[tuple[Any, asyncio.Future]]) -> None:
        while self._queue and len(batch) < self.max_batch:
            item, future = self._queue.popleft()
            if future.done():  # its request timed out while queued
                self.stats.expired += 1
            else:
                batch.append((item, future))

    async def _collect(self) -> None:
        while True:
            while not self._queue:
                self._arrived.clear()
                await self._arrived.wait()
            batch: list[tuple[Any, asyncio.Future]] = []
            self._take(batch)
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch and (left := deadline - time.monotonic()) > 0:
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), left)
                except asyncio.TimeoutError:
                    break
                self._take(batch)
            if batch:
                await self._run(batch)

    async def _run(self, batch: list[tuple[Any, asyncio.Future]]) -> None:
        items = [item for item, _ in batch]
        self._running = len(batch)
        start = time.perf_counter()
        try:
            results = await self.run_on_thread(self._predict_isolated, items)
        finally:
            self._running = 0
        self.stats.add(len(batch), time.perf_counter() - start)
        for (_, future), result in zip(batch, results):
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    def _predict_isolated(self, items: list[Any]) -> list[Any]:
        """The batch's results; if the batch fails, each item alone, so one bad item fails only
        its own request (its exception becomes its result)."""
        try:
            results = list(self.predict_batch(items))
            if len(results) != len(items):
                raise RuntimeError(f"predict_batch returned {len(results)} results for {len(items)} inputs")
            return results
        except Exception as exc:  # noqa: BLE001 - reported to the requests as a 500
            if len(items) == 1:
                return [exc]
        return [self._predict_isolated([item])[0] for item in items]
