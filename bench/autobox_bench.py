"""Auto-boxing throughput against decoding alone, and two local workers against one.

Writes seeded product photos (Fashion-MNIST items scaled up onto a plain canvas, saved as JPEG
at a typical e-commerce size), then times in this one process:
  1. decode only            (curate.imageio.load_image_rgb on every file)
  2. decode + box proposals (curate.curation.autobox.autobox_file: the same decode, then Canny boxing)
  3. autobox_file on a local pool with 1 worker, then with 2 workers
and prints the ratios the issue asks for. Usage: python bench/autobox_bench.py [N] [SIDE]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from curate.curation.autobox import autobox_file, propose_boxes
from curate.demo.synthetic import draw_on_canvas, fashion_mnist
from curate.imageio import load_image_rgb
from curate.parallel import LocalExecutor


def write_photos(folder: Path, n: int, side: int) -> list[str]:
    items, _ = fashion_mnist("test", limit=n)
    rng = np.random.default_rng(0)
    paths = []
    for k, item in enumerate(items):
        rgb, _ = draw_on_canvas(item, rng, light=k % 2 == 0, scale=side // 40, canvas_wh=(side, side))
        path = folder / f"{k:04d}.jpg"
        cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        paths.append(str(path))
    return paths


def interleaved_best(rounds: int, **runs) -> dict[str, float]:
    """Best time of each run over rounds that alternate them, so load from other jobs hits all alike."""
    best = {name: float("inf") for name in runs}
    for _ in range(rounds):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    side = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    cv2.setNumThreads(1)  # one core per image task, as in a worker pool
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_photos(Path(tmp), n, side)
        decoded = [load_image_rgb(p) for p in paths]
        t = interleaved_best(
            5,
            decode=lambda: [load_image_rgb(p) for p in paths],
            autobox=lambda: [autobox_file((p, False)) for p in paths],
            boxes_only=lambda: [propose_boxes(rgb) for rgb in decoded],
        )
        print(f"{n} JPEG photos of {side}x{side}, best of 5 interleaved rounds")
        print(f"decode only:              {n / t['decode']:8.1f} images/s")
        print(f"decode + autobox:         {n / t['autobox']:8.1f} images/s")
        print(f"box-finding alone:        {n / t['boxes_only']:8.1f} images/s ({1e3 * t['boxes_only'] / n:.2f} ms/image)")
        print(f"autobox throughput / decode throughput = {t['decode'] / t['autobox']:.3f}  (target >= 0.8)")
        print(f"box-finding time / decode time = {t['boxes_only'] / t['decode']:.3f}  (target <= 0.25)")
        tasks = [(p, False) for p in paths] * 2
        w = interleaved_best(
            3,
            one=lambda: LocalExecutor(1).map(autobox_file, tasks, chunksize=8),
            two=lambda: LocalExecutor(2).map(autobox_file, tasks, chunksize=8),
        )
        print(f"local pool, 1 worker:     {len(tasks) / w['one']:8.1f} images/s")
        print(f"local pool, 2 workers:    {len(tasks) / w['two']:8.1f} images/s")
        print(f"2 workers / 1 worker = {w['one'] / w['two']:.3f}  (target >= 1.7; {os.cpu_count()} cores here, shared with other jobs; load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
