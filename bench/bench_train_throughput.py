"""Category-stage training throughput (images/s) against a plain PyTorch loop, same run.

Keras side: the classifier exactly as `curate train category` builds it (uint8 input, pixel
scaling, backbone, pooling, dropout, softmax head) fed by curate's input pipeline (tf.data on
TensorFlow, a PyDataset elsewhere) from in-memory synthetic uint8 images. Baseline: a plain
PyTorch loop over torchvision's EfficientNet-B0 on the same synthetic images, already on the
device (channels-last, bf16 autocast when --bf16). Skipped with a clear message when torch is
not installed. Pick the Keras backend with KERAS_BACKEND (tensorflow, jax, torch).

Example (GPU): KERAS_BACKEND=jax python bench/bench_train_throughput.py --batch 128 --image-size 224 --steps 100 --bf16
Example (CPU): python bench/bench_train_throughput.py --batch 16 --image-size 96 --steps 10
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

N_CLASSES = 22  # the source document's single model over all categories


def synthetic(batch: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = batch * 8  # a pool of distinct batches, cycled
    return rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8), rng.integers(0, N_CLASSES, size=n).astype(np.int32)


def keras_throughput(args, x, y) -> tuple[float, str]:
    from curate.models.backbones import build_image_model
    from curate.models.common import AugmentationSection, keras_module, set_precision
    from curate.models.data import batches

    keras = keras_module()
    set_precision(args.bf16)
    model = build_image_model(args.backbone, "none", args.image_size, N_CLASSES, "softmax", 0.2, None, AugmentationSection(flip=False, rotation=0, zoom=0))
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy")
    data = batches(x, y, args.batch, shuffle=True)
    if hasattr(data, "repeat"):
        data = data.repeat()
    model.fit(data, epochs=1, steps_per_epoch=args.warmup, verbose=0)  # compile and warm up
    start = time.perf_counter()
    model.fit(data, epochs=1, steps_per_epoch=args.steps, verbose=0)
    seconds = time.perf_counter() - start
    return args.steps * args.batch / seconds, keras.backend.backend()


def torch_throughput(args, x, y) -> float | None:
    try:
        import torch
        import torchvision
    except ImportError as exc:
        print(f"PyTorch baseline skipped: {exc.name} is not installed (pip install torch torchvision to run it)")
        return None
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = torchvision.models.efficientnet_b0(num_classes=N_CLASSES).to(device).to(memory_format=torch.channels_last)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    images = torch.from_numpy(x).to(device).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
    labels = torch.from_numpy(y).long().to(device)
    mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1) * 255
    pool = len(x) // args.batch

    def step(i: int) -> None:
        sl = slice((i % pool) * args.batch, (i % pool + 1) * args.batch)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16):
            loss = loss_fn(model((images[sl].float() - mean) / std), labels[sl])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    model.train()
    for i in range(args.warmup):
        step(i)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for i in range(args.steps):
        step(i)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return args.steps * args.batch / (time.perf_counter() - start)


def device_names() -> str:
    from curate.models.common import keras_module

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
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--bf16", action="store_true", help="mixed bfloat16 on both sides")
    parser.add_argument("--backend-check", action="store_true", help="print the Keras backend and its devices, then exit")
    args = parser.parse_args()
    print(f"KERAS_BACKEND={os.environ.get('KERAS_BACKEND', 'tensorflow (default)')}; devices: {device_names()}")
    if args.backend_check:
        return
    x, y = synthetic(args.batch, args.image_size)
    print(f"{args.backbone}, {args.image_size} px, batch {args.batch}, {args.steps} timed steps after {args.warmup} warm-up, bf16={args.bf16}")
    baseline = torch_throughput(args, x, y)
    ours, backend = keras_throughput(args, x, y)
    print(f"Keras 3 ({backend}) curate category stage: {ours:,.1f} images/s")
    if baseline is None:
        print("plain PyTorch torchvision EfficientNet-B0: skipped (ratio not available)")
    else:
        print(f"plain PyTorch torchvision EfficientNet-B0: {baseline:,.1f} images/s")
        print(f"ratio Keras/PyTorch: {ours / baseline:.2f}x")


if __name__ == "__main__":
    main()
