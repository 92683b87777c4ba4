"""The serving parts without models: request reading, the micro-batcher, and the app's queue,
timeout and failure paths driven through ASGI with a stand-in predictor."""

import asyncio
import base64
import io
import json
import threading
import time

import httpx
import numpy as np
import pytest
from PIL import Image

from curate.models.serving.app import create_app
from curate.models.serving.batcher import MicroBatcher, QueueFull
from curate.models.serving.config import ServeConfig
from curate.models.serving.inputs import RequestError, accepts_json, checked_media_type, decode_image, image_bytes, wants_png


def png_bytes(width=32, height=24) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), 200, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def status_of(fn, *args) -> int:
    with pytest.raises(RequestError) as caught:
        fn(*args)
    assert caught.value.message
    return caught.value.status


# -- inputs ----------------------------------------------------------------------------------


def test_media_types_accepted_and_refused():
    assert checked_media_type("image/PNG; charset=binary") == "image/png"
    assert checked_media_type("application/x-image") == "application/x-image"
    assert status_of(checked_media_type, None) == 415
    assert status_of(checked_media_type, "text/plain") == 415
    with pytest.raises(RequestError, match="'text/plain' is not accepted; expected one of image/jpeg, image/png"):
        checked_media_type("text/plain")


def test_json_bodies():
    data = png_bytes()
    encoded = base64.b64encode(data).decode()
    assert image_bytes("application/json", json.dumps({"image": encoded}).encode()) == (data, "field 'image'")
    assert image_bytes("application/json", json.dumps({"image": "data:image/png;base64," + encoded}).encode())[0] == data
    assert image_bytes("application/json", json.dumps({"image": encoded[:40] + "\n" + encoded[40:]}).encode())[0] == data
    assert image_bytes("image/png", data) == (data, "request body")
    for body, needle in [(b"", "empty"), (b"{not json", "not valid JSON"), (b"[1, 2]", "found a JSON list"), (b'{"img": "x"}', "keys ['img']"),
                         (b'{"image": 3}', "found a JSON int"), (b'{"image": "@@"}', "not valid base64"), (b'{"image": ""}', "empty")]:
        with pytest.raises(RequestError) as caught:
            image_bytes("application/json", body)
        assert needle in caught.value.message
        assert caught.value.status == 400


def test_image_decoding_statuses():
    data = png_bytes(40, 30)
    assert decode_image(data, "request body", 10_000).shape == (30, 40, 3)
    assert status_of(decode_image, b"<html></html>", "request body", 10_000) == 415
    assert status_of(decode_image, data[: len(data) // 2], "request body", 10_000) == 400  # truncated
    with pytest.raises(RequestError, match=r"40x30 = 1,200 pixels; the server accepts at most 1,000") as caught:
        decode_image(data, "request body", 1_000)
    assert caught.value.status == 413
    corrupt = data[:33] + b"\x00" * (len(data) - 45) + data[-12:]  # header and IEND intact, pixels not
    assert status_of(decode_image, corrupt, "field 'image'", 10_000) == 400


@pytest.mark.parametrize("accept,png,json_ok", [
    (None, False, True), ("*/*", False, True), ("application/json", False, True), ("image/png", True, False),
    ("image/png, application/json;q=0.5", True, True), ("application/json, image/png", False, True),
    ("image/png;q=0", False, False), ("text/html", False, False), ("application/*", False, True),
])
def test_accept_header(accept, png, json_ok):
    assert wants_png(accept) is png
    assert accepts_json(accept) is json_ok


# -- the micro-batcher -------------------------------------------------------------------------


class Recorder:
    def __init__(self, seconds=0.05, fail_on=None):
        self.seconds, self.fail_on, self.batches = seconds, fail_on, []

    def __call__(self, items):
        self.batches.append(list(items))
        time.sleep(self.seconds)
        if self.fail_on is not None and self.fail_on in items:
            raise ValueError(f"cannot predict {self.fail_on}")
        return [item * 10 for item in items]


def run_batcher(predict, body, **options):
    async def main():
        batcher = MicroBatcher(predict, **options)
        batcher.start()
        try:
            return await body(batcher)
        finally:
            await batcher.stop()

    return asyncio.run(main())


def test_concurrent_requests_are_batched_and_each_gets_its_own_result():
    predict = Recorder()

    async def body(batcher):
        return await asyncio.gather(*(batcher.submit(i) for i in range(20)))

    assert run_batcher(predict, body, max_batch=8, max_wait_s=0.02) == [i * 10 for i in range(20)]
    assert [len(b) for b in predict.batches] == [8, 8, 4]
    assert sorted(i for b in predict.batches for i in b) == list(range(20))


def test_a_lone_request_waits_at_most_the_bounded_wait():
    predict = Recorder(seconds=0.0)

    async def body(batcher):
        start = time.perf_counter()
        result = await batcher.submit(7)
        return result, time.perf_counter() - start

    result, seconds = run_batcher(predict, body, max_batch=8, max_wait_s=0.05)
    assert result == 70 and predict.batches == [[7]]
    assert 0.04 <= seconds < 1.0


def test_full_queue_refuses_with_a_retry_estimate():
    started, release = threading.Event(), threading.Event()

    def held(items):
        started.set()
        release.wait(5)
        return [item * 10 for item in items]

    async def body(batcher):
        first = asyncio.ensure_future(batcher.submit(0))
        while not started.is_set():  # 0 is on the inference thread, held there
            await asyncio.sleep(0.01)
        queued = [asyncio.ensure_future(batcher.submit(i)) for i in (1, 2)]
        await asyncio.sleep(0.01)
        assert batcher.depth == 2
        with pytest.raises(QueueFull, match=r"queue is full \(2 requests waiting\)") as caught:
            await batcher.submit(99)
        assert caught.value.retry_after_s >= 1
        release.set()
        return await asyncio.gather(first, *queued)

    assert run_batcher(held, body, max_batch=1, max_wait_s=0.0, max_queue=2) == [0, 10, 20]


def test_timed_out_requests_are_dropped_from_the_queue():
    predict = Recorder(seconds=0.2)

    async def body(batcher):
        running = asyncio.ensure_future(batcher.submit(1))
        await asyncio.sleep(0.05)  # 1 is on the thread now
        with pytest.raises(asyncio.TimeoutError):
            await batcher.submit(2, timeout_s=0.05)
        assert await running == 10
        assert await batcher.submit(3) == 30
        return batcher.stats.expired

    assert run_batcher(predict, body, max_batch=4, max_wait_s=0.0) == 1
    assert predict.batches == [[1], [3]]


def test_a_failing_item_fails_only_its_own_request():
    predict = Recorder(seconds=0.0, fail_on=3)

    async def body(batcher):
        return await asyncio.gather(*(batcher.submit(i) for i in range(6)), return_exceptions=True)

    results = run_batcher(predict, body, max_batch=8, max_wait_s=0.02)
    assert [r for i, r in enumerate(results) if i != 3] == [0, 10, 20, 40, 50]
    assert isinstance(results[3], ValueError)


# -- the app with a stand-in predictor ----------------------------------------------------------


class SlowPredictor:
    def __init__(self, seconds):
        self.seconds = seconds

    def versions(self):
        return {"detector": "detector-stand-in", "category": None, "attributes": None}

    def predict_batch(self, images):
        time.sleep(self.seconds)
        if any(image.shape[1] == 13 for image in images):
            raise RuntimeError("stand-in failure")
        return [([], []) for _ in images]


def call_app(config: ServeConfig, body, load=None):
    app = create_app(config, load=load or (lambda c: SlowPredictor(0.2)))

    async def main():
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://serve.test") as client:
                for _ in range(100):
                    if (await client.get("/ping")).status_code == 200:
                        break
                    await asyncio.sleep(0.02)
                return await body(client)

    return asyncio.run(main())


def post_png(client, data=None, **headers):
    return client.post("/invocations", content=data or png_bytes(), headers={"Content-Type": "image/png", **headers})


def test_full_queue_answers_503_with_retry_after():
    async def body(client):
        return await asyncio.gather(*(post_png(client) for _ in range(6)))

    responses = call_app(ServeConfig("stand-in", max_batch=1, max_wait_ms=0, max_queue=2), body)
    refused = [r for r in responses if r.status_code == 503]
    assert sorted(r.status_code for r in responses).count(200) >= 3 and refused
    assert all(int(r.headers["Retry-After"]) >= 1 and "queue is full" in r.json()["error"] for r in refused)


def test_request_timeout_answers_504():
    async def body(client):
        return await post_png(client)

    response = call_app(ServeConfig("stand-in", timeout_s=0.05), body)
    assert response.status_code == 504
    assert response.json() == {"error": "the prediction took longer than the request timeout of 0.05 s (queue depth 0)", "status": 504}


def test_a_predictor_failure_is_a_json_500_without_traceback_and_the_next_request_works():
    async def body(client):
        failed = await post_png(client, png_bytes(13, 10))
        return failed, await post_png(client)

    failed, ok = call_app(ServeConfig("stand-in"), body, load=lambda c: SlowPredictor(0.0))
    assert failed.status_code == 500 and "RuntimeError" in failed.json()["error"] and "Traceback" not in failed.text
    assert ok.status_code == 200 and ok.json()["models"]["detector"] == "detector-stand-in"


def test_models_that_fail_to_load_keep_ping_at_503_and_say_why():
    def broken(config):
        raise OSError("model.keras is not a zip file")

    async def body(client):
        await asyncio.sleep(0.1)
        return await client.get("/ping"), await client.get("/health"), await post_png(client)

    ping, health, invocation = call_app(ServeConfig("models/"), body, load=broken)
    assert ping.status_code == 503 and ping.json()["status"] == "failed"
    assert health.json()["error"] == "models/: the models failed to load: OSError: model.keras is not a zip file"
    assert invocation.status_code == 503 and "model.keras is not a zip file" in invocation.json()["error"]


def test_a_body_slower_than_the_timeout_answers_408():
    async def slow_body():
        yield png_bytes()[:20]
        await asyncio.sleep(1.0)
        yield b"rest"

    async def body(client):
        return await client.post("/invocations", content=slow_body(), headers={"Content-Type": "image/png"})

    response = call_app(ServeConfig("stand-in", timeout_s=0.2), body, load=lambda c: SlowPredictor(0.0))
    assert response.status_code == 408
    assert response.json()["error"] == "the request body did not arrive within the request timeout of 0.2 s"
