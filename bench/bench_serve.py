"""`curate serve` under load on 127.0.0.1, against the predictor called in-process one image at a time.

Bounded: `--clients` concurrent keep-alive clients send `--requests` requests in all, then stop.
Reports requests/s, p50/p95/p99 latency and errors, and the ratio of the server's throughput to
the in-process baseline measured in the same run (the same decode -> predict -> JSON record work
per image, one image per call, no HTTP); for reference also the in-process throughput with
`--max-batch` images per call, the ceiling that batching without HTTP would reach. A second run makes every tenth request malformed (five
kinds, in turn): the good ones must all get 200, the bad ones all 4xx, and the server must still
answer /ping afterwards. Exits non-zero when any of that fails.

Without `--models`, it trains the tiny models of the test suite (RetinaNet on resnet_tiny at
128 px, small_cnn classifiers at 32 px, two steps each: about a minute on 2 cores) on the seeded
garment dataset of curate.demo.synthetic, and sets the detector threshold so pictures carry
about `--objects` objects each (two steps leave it near 1, where nothing is found), so the
category and attribute stages crop and classify. The pictures are that dataset's, half JPEG, half PNG; a third of the good
requests send them as base64 JSON.

Example: python bench/bench_serve.py --clients 16 --requests 2000 --json bench-serve.json
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

BAD_KINDS = ("text/plain body", "not an image", "truncated JPEG", "malformed JSON", "invalid base64")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pictures(dataset: Path) -> list[bytes]:
    """The garment dataset's pictures, as JPEG and PNG in turn."""
    import cv2

    out = []
    for i, path in enumerate(sorted((dataset / "media").glob("*.png"))):
        ok, data = cv2.imencode(".png" if i % 2 else ".jpg", cv2.imread(str(path)))
        out.append(data.tobytes())
    return out


def request_for(i: int, images: list[bytes], bad_every: int) -> tuple[str, bytes, bool]:
    """(content type, body, malformed?) of request `i`."""
    data = images[i % len(images)]
    if bad_every and i % bad_every == bad_every - 1:
        kind = BAD_KINDS[(i // bad_every) % len(BAD_KINDS)]
        return {
            "text/plain body": ("text/plain", b"a caption, not a picture"),
            "not an image": ("image/jpeg", b"<html>not a picture</html>"),
            "truncated JPEG": ("image/jpeg", images[0][: len(images[0]) // 2]),
            "malformed JSON": ("application/json", b'{"image": "abc'),
            "invalid base64": ("application/json", b'{"image": "@@not base64@@"}'),
        }[kind] + (True,)
    if i % 3 == 2:
        return "application/json", json.dumps({"image": base64.b64encode(data).decode()}).encode(), False
    return ("image/jpeg" if data[:2] == b"\xff\xd8" else "image/png"), data, False


def load_test(port: int, images: list[bytes], clients: int, total: int, bad_every: int = 0) -> dict:
    """`clients` threads with a keep-alive connection each send `total` requests in all."""
    lock = threading.Lock()
    counter = iter(range(total))
    results: list[tuple[bool, int, float]] = []  # (malformed, status, seconds)

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            kind, body, bad = request_for(i, images, bad_every)
            start = time.perf_counter()
            try:
                conn.request("POST", "/invocations", body, {"Content-Type": kind})
                response = conn.getresponse()
                payload = response.read()
                status = response.status
                if status == 200:
                    json.loads(payload)
            except (OSError, http.client.HTTPException, ValueError):
                status = 0
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            with lock:
                results.append((bad, status, time.perf_counter() - start))
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    good = [r for r in results if not r[0]]
    bad = [r for r in results if r[0]]
    latency_ms = np.array([r[2] for r in good]) * 1e3
    return {
        "requests": len(results),
        "seconds": round(seconds, 2),
        "requests_per_s": round(len(results) / seconds, 2),
        "good": len(good),
        "good_ok": sum(r[1] == 200 for r in good),
        "errors": sum(r[1] != 200 for r in good),
        "bad": len(bad),
        "bad_4xx": sum(400 <= r[1] < 500 for r in bad),
        "latency_ms": {f"p{q}": round(float(np.percentile(latency_ms, q)), 1) for q in (50, 95, 99)} if len(good) else {},
    }


def calibrate_detector(detector_dir: Path, images: list[bytes], objects_per_image: float) -> float:
    """Set every detector threshold to the score that keeps `objects_per_image` detections per
    picture on average (before the post-processing rules); returns it."""
    from curate.demo.synthetic import set_detector_threshold
    from curate.imageio import decode_image_bytes
    from curate.models.detector import DetectorPredictor

    found = DetectorPredictor(detector_dir).detect([decode_image_bytes(data, "bench picture") for data in images], thresholded=False)
    scores = np.sort(np.concatenate([f["score"].to_numpy() for f in found]))[::-1]
    threshold = float(scores[min(len(scores) - 1, round(objects_per_image * len(images)))])
    set_detector_threshold(detector_dir, threshold)
    return threshold


def in_process(models: Path, images: list[bytes], n: int, batch: int) -> dict:
    """The baseline: decode -> predict_image -> record -> JSON, one image at a time; and for
    reference the same work through predict_batch, `batch` images per call, without HTTP."""
    from curate.imageio import decode_image_bytes
    from curate.models.postprocess import RULES
    from curate.models.predictor import MergedPredictor, prediction_record

    predictor = MergedPredictor(models, list(RULES))
    # Warm-up: every picture once through both paths, so graph tracing (a classifier traces each
    # new power-of-two crop count once) stays out of the timings, as the server's warm-up does.
    decoded = [decode_image_bytes(data, "warm-up") for data in images]
    for image in decoded:
        predictor.predict_image(image)
    for first in range(0, len(decoded), batch):
        predictor.predict_batch(decoded[first : first + batch])

    def timed(per_call: int) -> tuple[float, int]:
        start, objects = time.perf_counter(), 0
        for first in range(0, n, per_call):
            chunk = [decode_image_bytes(images[i % len(images)], "bench picture") for i in range(first, min(first + per_call, n))]
            for image, (found, removed) in zip(chunk, predictor.predict_batch(chunk)):
                json.dumps(prediction_record((image.shape[1], image.shape[0]), found, removed, predictor.versions(), None))
                objects += len(found)
        return time.perf_counter() - start, objects

    one_s, objects = timed(1)
    batch_s, _ = timed(batch)
    return {
        "images": n,
        "objects_per_image": round(objects / n, 2),
        "one_at_a_time_images_per_s": round(n / one_s, 2),
        f"batches_of_{batch}_images_per_s": round(n / batch_s, 2),
    }


def get_json(port: int, path: str) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def start_server(models: Path, port: int, args) -> subprocess.Popen:
    command = [sys.executable, "-c", "from curate.cli.main import main; main()", "serve", "--models", str(models), "--host", "127.0.0.1",
               "--port", str(port), "--max-batch", str(args.max_batch), "--max-wait-ms", str(args.max_wait_ms), "--log-level", "warning"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}: {server.stderr.read()[-2000:]}")
        try:
            if get_json(port, "/ping")[0] == 200:
                return server
        except OSError:
            pass
        time.sleep(0.5)
    server.kill()
    raise SystemExit("the server did not answer /ping with 200 within 300 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, help="model directory (default: the tiny models of the test suite, trained here)")
    parser.add_argument("--objects", type=float, default=2.0, help="objects per picture the tiny detector's threshold is set to keep")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--baseline-images", type=int, default=100, help="images for the in-process one-at-a-time baseline")
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--max-wait-ms", type=float, default=10.0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    from curate.demo.synthetic import garment_dataset, train_tiny_stages

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        dataset = garment_dataset(root / "synthetic", n_images=40)
        images = pictures(dataset)
        models = args.models
        if models is None:
            models = train_tiny_stages(dataset, root / "models")
            threshold = calibrate_detector(models / "detector", images, args.objects)
        baseline = in_process(models, images, args.baseline_images, args.max_batch)
        port = free_port()
        server = start_server(models, port, args)
        try:
            load_test(port, images, args.clients, 4 * len(images))  # warm-up: each picture in a few batch mixes
            clean = load_test(port, images, args.clients, args.requests)
            health_clean = get_json(port, "/health")[1]
            mixed = load_test(port, images, args.clients, args.requests, bad_every=10)
            alive = get_json(port, "/ping")[0] == 200 and server.poll() is None
            health = get_json(port, "/health")[1]
        finally:
            server.terminate()
            server.wait(timeout=120)
    report = {
        "machine": f"{os.cpu_count()} CPU cores (shared), server and clients on 127.0.0.1",
        "models": str(args.models) if args.models else f"tiny trained: RetinaNet resnet_tiny 128 px, small_cnn 32 px classifiers, two steps each; detector threshold {threshold:.6f} for {args.objects} objects per picture",
        "pictures": "the 40 garment pictures of 128 px, JPEG and PNG in turn; every third good request as base64 JSON",
        "clients": args.clients,
        "in_process": baseline,
        "server": clean,
        "ratio_server_to_in_process_one_at_a_time": round(clean["requests_per_s"] / baseline["one_at_a_time_images_per_s"], 2),
        "ratio_server_to_in_process_batches": round(clean["requests_per_s"] / baseline[f"batches_of_{args.max_batch}_images_per_s"], 2),
        "batching": health_clean["batching"],
        "with_10_percent_malformed": mixed,
        "server_alive_after": alive,
        "server_exit_status": server.returncode,
        "responses": health["responses"],
    }
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    failures = []
    if clean["errors"]:
        failures.append(f"{clean['errors']} of {clean['requests']} clean requests failed")
    if mixed["good_ok"] != mixed["good"]:
        failures.append(f"{mixed['good'] - mixed['good_ok']} good requests of the mixed run failed")
    if mixed["bad_4xx"] != mixed["bad"]:
        failures.append(f"{mixed['bad'] - mixed['bad_4xx']} malformed requests got no 4xx")
    if not alive:
        failures.append("the server did not answer /ping after the mixed run")
    if failures:
        raise SystemExit("; ".join(failures))


if __name__ == "__main__":
    main()
