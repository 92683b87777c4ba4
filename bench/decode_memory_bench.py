"""Peak memory of auto-boxing one 13,000 x 13,000 JPEG: reduced decoding against a full-size decode.

Each measurement runs in a fresh process, as a pool worker would, and reports its peak RSS
(ru_maxrss, which includes the interpreter and the imported libraries: measured alone first).
The baseline in the same run decodes the whole image and searches boxes on it, as auto-boxing
did before reduced decoding. Run: python bench/decode_memory_bench.py [--side 13000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def _measure(kind: str, path: str, queue) -> None:
    import numpy  # noqa: F401  (the imports a worker has anyway)

    from curate.curation import autobox, flatlay
    from curate.imageio import load_image_rgb

    start = time.perf_counter()
    if kind == "imports":
        result = {}
    elif kind == "reduced":
        # what `curate autobox` runs per image: flat-lay detection, then the box search
        result = {"flat_lay": flatlay.flat_lay_file(path), "autobox": autobox.autobox_file((path, False))}
    else:
        rgb = load_image_rgb(path)
        boxes = autobox.propose_boxes(rgb)
        result = {"autobox": {"boxes": [(b.x_min, b.y_min, b.x_max, b.y_max) for b in boxes]}}
    queue.put({"kind": kind, "seconds": time.perf_counter() - start, "peak_mb": _peak_mb(), "result": result})


def run(kind: str, path: str, env: dict[str, str] | None = None) -> dict:
    context = mp.get_context("spawn")
    queue = context.Queue()
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        process = context.Process(target=_measure, args=(kind, path, queue))
        process.start()
        process.join(timeout=600)
        if queue.empty():
            raise SystemExit(f"the {kind} measurement failed (exit code {process.exitcode})")
        out = queue.get()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return out


def make_jpeg(path: Path, side: int) -> None:
    """A flat-lay: light, slightly uneven background with one dark garment-like shape."""
    import cv2
    import numpy as np

    image = np.full((side, side, 3), 236, dtype=np.uint8)
    image[:, :, 2] = 240
    cv2.ellipse(image, (side // 2, side // 2), (side // 4, side // 3), 15, 0, 360, (60, 70, 90), thickness=-1)
    cv2.rectangle(image, (side // 3, side // 6), (2 * side // 3, side // 4), (40, 40, 160), thickness=-1)
    if not cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 90]):
        raise SystemExit(f"cannot write {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=13_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "huge.jpg"
        # written by a child process: ru_maxrss carries over into processes forked from this one
        maker = mp.get_context("spawn").Process(target=make_jpeg, args=(path, args.side))
        maker.start()
        maker.join()
        size_mb = path.stat().st_size / 1e6
        imports = run("imports", str(path))
        reduced = run("reduced", str(path))
        # the baseline needs the pixel cap lifted: a full decode of this image is what the cap refuses
        full = run("full", str(path), {"CURATE_MAX_PIXELS": str(args.side * args.side + 1)})
    boxes = reduced["result"]["autobox"]["boxes"]
    figures = {
        "image": f"{args.side}x{args.side} JPEG, {size_mb:.1f} MB",
        "peak_rss_mb": {"imports_only": round(imports["peak_mb"]), "autobox_reduced": round(reduced["peak_mb"]), "full_decode_baseline": round(full["peak_mb"])},
        "seconds": {"autobox_reduced": round(reduced["seconds"], 2), "full_decode_baseline": round(full["seconds"], 2)},
        "ratio_full_over_reduced": {"peak_rss": round(full["peak_mb"] / reduced["peak_mb"], 1), "seconds": round(full["seconds"] / reduced["seconds"], 1)},
        "reduced_box": [round(v, 4) for v in boxes[0][:4]] if boxes else None,
        "flat_lay": reduced["result"]["flat_lay"].get("flat_lay"),
        "within_300_mb": reduced["peak_mb"] <= 300,
    }
    json.dump(figures, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
