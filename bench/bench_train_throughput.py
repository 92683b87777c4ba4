"""Category-stage training throughput (images/s) against a plain PyTorch loop, same run.

Keras side: the classifier exactly as `curate train category` builds it (uint8 input, pixel
scaling, backbone, pooling, dropout, softmax head) fed by curate's input pipeline (tf.data on
TensorFlow, a PyDataset elsewhere) from in-memory synthetic uint8 images. Baseline: a plain
PyTorch loop over torchvision's EfficientNet-B0 on the same synthetic images, already on the
device (channels-last, bf16 autocast when --bf16). Skipped with a clear message when torch is
not installed. Pick the Keras backend with KERAS_BACKEND (tensorflow, jax, torch).

Example (GPU): KERAS_BACKEND=jax python bench/bench_train_throughput.py --batch 128 --image-size 224 --steps 100 --bf16
Example (CPU): python bench/bench_train_throughput.py --batch 16 --image-size 96 --steps 8 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# JAX would otherwise reserve 75 % of the GPU up front, leaving the PyTorch baseline in the
# same process too little.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

N_CLASSES = 22  # the source document's single model over all categories


def synthetic(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`n` distinct uint8 images: every timed step gathers a fresh batch, as real training does."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8), rng.integers(0, N_CLASSES, size=n).astype(np.int32)


def keras_throughput(args, x, y) -> tuple[list[float], str]:
    """Images/s of each timed epoch: one pass of curate's pipeline over all of `x`."""
    from curate.models.backbones import build_image_model
    from curate.models.data import batches
    from curate.models.recipe import AugmentationSection
    from curate.models.runtime import keras_module, set_precision

    keras = keras_module()
    set_precision(args.bf16)
    model = build_image_model(args.backbone, "none", args.image_size, N_CLASSES, "softmax", 0.2, None, AugmentationSection(flip=False, rotation=0, zoom=0))
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy")
    warm = args.warmup * args.batch
    model.fit(batches(x[:warm], y[:warm], args.batch, shuffle=True), epochs=1, verbose=0)  # compile and warm up
    data = batches(x, y, args.batch, shuffle=True)
    rates = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        model.fit(data, epochs=1, verbose=0)  # the epoch's logs are read back, so the device is done
        rates.append(len(x) / (time.perf_counter() - start))
    return rates, keras.backend.backend()


def torch_throughput(args, x, y) -> list[float] | None:
    """Images/s of each timed pass of a plain PyTorch loop over the same images, already on the device."""
    try:
        import torch
        import torchvision
    except ImportError as exc:
        print(f"PyTorch baseline skipped: {exc.name} is not installed (pip install torch torchvision to run it)")
        return None
    rates = torch_rates(args, x, y, torch, torchvision)
    if torch.cuda.is_available():
        torch.cuda.empty_cache()  # the model and images are gone: hand their memory back before Keras starts
    return rates


def torch_rates(args, x, y, torch, torchvision) -> list[float]:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = torchvision.models.efficientnet_b0(num_classes=N_CLASSES).to(device).to(memory_format=torch.channels_last)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    images = torch.from_numpy(x).to(device).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
    labels = torch.from_numpy(y).long().to(device)
    mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1) * 255
    steps = len(x) // args.batch

    def step(i: int) -> None:
        sl = slice(i * args.batch, (i + 1) * args.batch)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16):
            loss = loss_fn(model((images[sl].float() - mean) / std), labels[sl])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    def synchronise() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    model.train()
    for i in range(args.warmup):
        step(i)
    synchronise()
    rates = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for i in range(steps):
            step(i)
        synchronise()
        rates.append(steps * args.batch / (time.perf_counter() - start))
    return rates


def device_names() -> str:
    from curate.models.runtime import keras_module

    keras = keras_module()
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return ", ".join(str(d) for d in jax.devices())
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return ", ".join(g.name for g in gpus) or "CPU"
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="efficientnet_b0")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=50, help="batches per timed epoch")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per side; the median is reported")
    parser.add_argument("--bf16", action="store_true", help="mixed bfloat16 on both sides")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--backend-check", action="store_true", help="print the Keras backend and its devices, then exit")
    args = parser.parse_args()
    devices = device_names()
    print(f"KERAS_BACKEND={os.environ.get('KERAS_BACKEND', 'tensorflow (default)')}; devices: {devices}")
    if args.backend_check:
        return
    x, y = synthetic(args.steps * args.batch, args.image_size)
    print(f"{args.backbone}, {args.image_size} px, batch {args.batch}, {args.repeats} timed epochs of {args.steps} steps after {args.warmup} warm-up steps, bf16={args.bf16}")
    baseline = torch_throughput(args, x, y)
    ours, backend = keras_throughput(args, x, y)
    ours_median = statistics.median(ours)
    print(f"Keras 3 ({backend}) curate category stage: {ours_median:,.1f} images/s (epochs: {', '.join(f'{r:,.0f}' for r in ours)})")
    result = {"devices": devices, "backend": backend, "backbone": args.backbone, "image_size": args.image_size, "batch": args.batch,
              "steps": args.steps, "repeats": args.repeats, "bf16": args.bf16, "python": platform.python_version(),
              "keras_images_per_s": ours, "keras_median": ours_median}
    if baseline is None:
        print("plain PyTorch torchvision EfficientNet-B0: skipped (ratio not available)")
    else:
        base_median = statistics.median(baseline)
        print(f"plain PyTorch torchvision EfficientNet-B0: {base_median:,.1f} images/s (epochs: {', '.join(f'{r:,.0f}' for r in baseline)})")
        print(f"ratio Keras/PyTorch: {ours_median / base_median:.2f}x")
        result.update(torch_images_per_s=baseline, torch_median=base_median, ratio=ours_median / base_median)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
