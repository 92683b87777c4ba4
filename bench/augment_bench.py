"""The augmentation step against calling albumentations directly with the same transforms.

Both sides get the same images, boxes and seeds, and run the same Compose (flips + rotation by an
angle from {45, 90, 180}); the difference is what curate adds around the library call: choosing
the angle, the cached pipeline lookup, box conversion in and out. The flat-lay variant with the
foreground mask does extra work by design (measuring the background, building and rotating the
mask, re-deriving tight boxes), so it is reported separately.
Usage: python bench/augment_bench.py [N]
"""

from __future__ import annotations

import sys
import time

import cv2
import numpy as np

from curate.curation.augment import ROTATION_ANGLES, augment_image, build_pipeline
from curate.demo.synthetic import draw_on_canvas, fashion_mnist


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    cv2.setNumThreads(1)
    items, _ = fashion_mnist("test", limit=n)
    rng = np.random.default_rng(0)
    samples = []
    for item in items:
        rgb, (x0, y0, x1, y1) = draw_on_canvas(item, rng, scale=4, canvas_wh=(320, 320))
        samples.append((rgb, np.array([[x0 / 320, y0 / 320, x1 / 320, y1 / 320]])))
    seeds = list(range(n))

    def direct() -> None:
        for (rgb, boxes), seed in zip(samples, seeds):
            angle = ROTATION_ANGLES[seed % 3]
            pipeline = build_pipeline("on-model", angle, (0, 0, 0))
            pipeline.set_random_seed(seed)
            pipeline(image=rgb, bboxes=boxes, box_index=[0])

    def curate_step() -> None:
        for (rgb, boxes), seed in zip(samples, seeds):
            augment_image(rgb, boxes, "on-model", seed)

    def curate_mask() -> None:
        for (rgb, boxes), seed in zip(samples, seeds):
            augment_image(rgb, boxes, "flat-lay", seed, use_mask=True)

    for angle in ROTATION_ANGLES:  # build the cached pipelines outside the timings
        build_pipeline("on-model", angle, (0, 0, 0))
    best = {"direct": float("inf"), "curate": float("inf"), "mask": float("inf")}
    for _ in range(5):  # interleaved rounds: the machine is shared
        for name, fn in (("direct", direct), ("curate", curate_step), ("mask", curate_mask)):
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    print(f"{n} images 320x320, best of 5 interleaved rounds")
    print(f"albumentations called directly: {1e3 * best['direct'] / n:.3f} ms/image")
    print(f"curate.curation.augment.augment_image:   {1e3 * best['curate'] / n:.3f} ms/image")
    print(f"overhead = {100 * (best['curate'] / best['direct'] - 1):.1f}%  (target <= 15%)")
    print(f"flat-lay with mask-tight boxes: {1e3 * best['mask'] / n:.3f} ms/image ({100 * (best['mask'] / best['direct'] - 1):.1f}% over direct; extra work by design)")


if __name__ == "__main__":
    main()
