"""`curate serve` as a real server: started through the SageMaker entry point
(examples/sagemaker/serve) as a subprocess on a free 127.0.0.1 port with the tiny trained models,
and called over HTTP: /ping while loading and once loaded, each accepted body, each bad input,
the OpenAPI page, batching under concurrency, `curate predict`'s JSON for the same image, and a
graceful stop on SIGTERM that still answers the requests in flight."""

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from curate.cli.main import app
from curate.demo.synthetic import set_detector_threshold

pytestmark = pytest.mark.slow
MAX_BYTES = 300_000
MAX_PIXELS = 1_000_000
LOAD_TIMEOUT_S = 240


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_models, tmp_path_factory, repo_root):
    """The server on the tiny models, detector thresholds lowered so pictures carry objects."""
    root = tmp_path_factory.mktemp("serve")
    models = root / "models"
    shutil.copytree(tiny_models["models"], models, ignore=shutil.ignore_patterns("evaluation"))
    set_detector_threshold(models / "detector", 0.3)
    port = free_port()
    log = (root / "server.log").open("w")
    # SageMaker's variables say where the models are and which port to use; `curate` is found on
    # PATH beside this interpreter; the options after the entry point's own replace its 0.0.0.0.
    env = {**os.environ, "SM_MODEL_DIR": str(models), "SAGEMAKER_BIND_TO_PORT": str(port), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    process = subprocess.Popen(
        [str(repo_root / "examples" / "sagemaker" / "serve"), "--host", "127.0.0.1", "--visualize",
         "--max-bytes", str(MAX_BYTES), "--max-pixels", str(MAX_PIXELS), "--max-wait-ms", "20"],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    pings = []
    deadline = time.monotonic() + LOAD_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        try:
            response = client.get("/ping")
        except httpx.TransportError:
            time.sleep(0.05)
            continue
        pings.append((response.status_code, response.json()))
        if response.status_code == 200:
            break
        time.sleep(0.2)
    info = {"process": process, "client": client, "models": models, "root": root, "pings": pings, "log": root / "server.log", "port": port}
    yield info
    client.close()
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)
    log.close()


@pytest.fixture(scope="module")
def pictures(tiny_models, tmp_path_factory):
    """Three dataset pictures as PNG and JPEG files and bytes."""
    root = tmp_path_factory.mktemp("pictures")
    out = {}
    for name in ("0001", "0005", "0010"):
        png = tiny_models["dataset"] / "media" / f"{name}.png"
        jpg = root / f"{name}.jpg"
        cv2.imwrite(str(jpg), cv2.imread(str(png)), [cv2.IMWRITE_JPEG_QUALITY, 92])
        shutil.copy(png, root / f"{name}.png")
        out[name] = {"png": root / f"{name}.png", "jpg": jpg}
    return out


def invoke(server, body: bytes, content_type: str | None, **headers) -> httpx.Response:
    if content_type is not None:
        headers["Content-Type"] = content_type
    return server["client"].post("/invocations", content=body, headers=headers)


def test_ping_answers_503_while_loading_then_200(server):
    statuses = [status for status, _ in server["pings"]]
    assert statuses and statuses[-1] == 200, server["log"].read_text()[-3000:]
    assert statuses[0] == 503 and server["pings"][0][1]["status"] == "loading"
    assert set(statuses[:-1]) == {503}
    response = server["client"].get("/ping")
    assert response.status_code == 200 and response.json() == {"status": "ready"}
    assert f"Uvicorn running on http://127.0.0.1:{server['port']}" in server["log"].read_text()


def test_jpeg_png_raw_and_base64_bodies(server, pictures):
    jpg, png = pictures["0005"]["jpg"].read_bytes(), pictures["0005"]["png"].read_bytes()
    answers = {
        "jpeg": invoke(server, jpg, "image/jpeg"),
        "png": invoke(server, png, "image/png"),
        "x-image": invoke(server, png, "application/x-image"),
        "base64": invoke(server, json.dumps({"image": base64.b64encode(png).decode()}).encode(), "application/json"),
    }
    for kind, response in answers.items():
        assert response.status_code == 200, (kind, response.text)
        record = response.json()
        assert set(record) == {"image", "width", "height", "objects", "removed", "models"} and record["image"] is None
        assert (record["width"], record["height"]) == (128, 128)
    assert answers["png"].json() == answers["x-image"].json() == answers["base64"].json()
    assert answers["png"].json()["objects"], "the lowered thresholds should leave objects to classify"
    assert set(answers["png"].json()["objects"][0]) >= {"box", "object_type", "score", "category", "pattern", "attributes"}


def test_endpoint_json_equals_curate_predict_for_the_same_image(server, pictures):
    for name, files in pictures.items():
        out = server["root"] / f"predict-{name}.json"
        result = CliRunner().invoke(app, ["predict", str(files["png"]), "--models", str(server["models"]), "--out", str(out)])
        assert result.exit_code == 0, result.output
        expected = json.loads(out.read_text())["images"][0]
        served = invoke(server, files["png"].read_bytes(), "image/png").json()
        assert expected.pop("image") == str(files["png"]) and served.pop("image") is None
        assert served == expected


def _png_of_size(pixels: tuple[int, int]) -> bytes:
    ok, data = cv2.imencode(".png", np.zeros((pixels[1], pixels[0], 3), np.uint8))
    return data.tobytes()


BAD_INPUTS = [
    ("text/plain", b"a caption", 415, "Content-Type 'text/plain' is not accepted; expected one of image/jpeg, image/png, application/x-image, application/json"),
    (None, b"\xff\xd8\xff", 415, "the request has no Content-Type header"),
    ("image/jpeg", b"<html>a web page</html>", 415, "request body: not a PNG, JPEG, GIF, BMP or WebP image (its first bytes are 3c 68 74 6d 6c 3e 61 20)"),
    ("image/jpeg", "truncated", 400, "request body: truncated JPEG: no end-of-image marker"),
    ("image/png", b"", 400, "the request body is empty; expected the bytes of a PNG, JPEG, GIF, BMP or WebP image"),
    ("application/json", b'{"image": "abc', 400, "the request body is not valid JSON"),
    ("application/json", b'{"picture": "abc"}', 400, "expected a JSON object {\"image\": \"<base64>\"}, found an object with keys ['picture']"),
    ("application/json", b'{"image": "@@ not base64 @@"}', 400, "field 'image' is not valid base64"),
    ("application/json", b'{"image": "PGh0bWw+"}', 415, "field 'image': not a PNG, JPEG, GIF, BMP or WebP image"),
    ("image/png", b"\x89PNG" + b"\x00" * (MAX_BYTES + 1), 413, f"request body is {MAX_BYTES + 5:,} bytes; the server accepts at most {MAX_BYTES:,}"),
    ("image/png", "huge", 413, f"request body: image is 1100x1000 = 1,100,000 pixels; the server accepts at most {MAX_PIXELS:,}"),
]


@pytest.mark.parametrize("content_type,body,status,message", BAD_INPUTS, ids=[f"{b[2]}-{i}" for i, b in enumerate(BAD_INPUTS)])
def test_bad_input_gets_one_json_error_with_its_status(server, pictures, content_type, body, status, message):
    if body == "truncated":
        data = pictures["0001"]["jpg"].read_bytes()
        body = data[: len(data) // 2]
    elif body == "huge":
        body = _png_of_size((1100, 1000))
    response = invoke(server, body, content_type)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert set(document) == {"error", "status"} and document["status"] == status
    assert document["error"].startswith(message), document["error"]
    assert "Traceback" not in response.text
    assert server["client"].get("/ping").status_code == 200


def test_accept_png_returns_the_colour_coded_picture(server, pictures):
    png = pictures["0005"]["png"].read_bytes()
    response = invoke(server, png, "image/png", Accept="image/png")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    drawn = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    assert drawn.shape == (128, 128, 3)
    original = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert np.abs(drawn.astype(int) - original).sum() > 0  # boxes were drawn
    refused = invoke(server, png, "image/png", Accept="text/html")
    assert refused.status_code == 406 and "expected application/json" in refused.json()["error"]


def test_version_health_openapi_and_unknown_routes(server):
    client = server["client"]
    version = client.get("/version").json()
    models = {stage: json.loads((server["models"] / stage / "model.json").read_text())["version"] for stage in ("detector", "category", "attributes")}
    assert version["models"] == models
    assert version["taxonomy"]["name"] == "fashion" and version["taxonomy"]["version"]
    health = client.get("/health").json()
    assert health["status"] == "ready" and health["queue"]["max"] == 64 and health["batching"]["max_batch"] == 8
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/invocations"]["post"]["requestBody"]["content"]
    assert set(body) == {"image/jpeg", "image/png", "application/x-image", "application/json"}
    assert {"200", "400", "413", "415", "503", "504"} <= set(schema["paths"]["/invocations"]["post"]["responses"])
    assert "swagger" in client.get("/docs").text.lower()
    missing = client.get("/predict")
    assert missing.status_code == 404 and "the endpoints are GET /ping" in missing.json()["error"]
    wrong_method = client.get("/invocations")
    assert wrong_method.status_code == 405 and wrong_method.json()["error"] == "GET is not allowed on /invocations"


def test_concurrent_requests_are_batched_and_all_answered(server, pictures):
    bodies = [pictures[name]["jpg"].read_bytes() for name in pictures] * 8
    before = server["client"].get("/health").json()["batching"]
    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(lambda body: httpx.post(f"http://127.0.0.1:{server['port']}/invocations", content=body, headers={"Content-Type": "image/jpeg"}, timeout=120), bodies))
    assert [r.status_code for r in responses] == [200] * len(bodies)
    alone = {body: invoke(server, body, "image/jpeg").json()["objects"] for body in set(bodies)}
    for body, response in zip(bodies, responses):  # each request got its own image's answer
        batched = response.json()["objects"]
        assert [o["object_type"] for o in batched] == [o["object_type"] for o in alone[body]]
        for a, b in zip(batched, alone[body]):
            assert np.allclose(list(a["box"].values()), list(b["box"].values()), atol=1e-4)
    after = server["client"].get("/health").json()["batching"]
    assert after["images"] - before["images"] >= len(bodies)
    assert after["largest_batch"] > 1 and after["batches"] - before["batches"] < len(bodies)


def test_sigterm_finishes_the_requests_in_flight_then_exits_0(server, pictures):
    """Last in this module: it stops the server."""
    body = pictures["0001"]["jpg"].read_bytes()
    n = 24
    responses: list = [None] * n

    def send(i):
        with httpx.Client(timeout=120) as client:
            try:
                responses[i] = client.post(f"http://127.0.0.1:{server['port']}/invocations", content=body, headers={"Content-Type": "image/jpeg"}).status_code
            except httpx.TransportError as exc:
                responses[i] = repr(exc)

    answered_before = server["client"].get("/health").json()["responses"].get("200", 0)
    threads = [threading.Thread(target=send, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until every request has reached the server
        health = server["client"].get("/health").json()
        if health["in_flight"] + health["responses"].get("200", 0) - answered_before >= n:
            break
        time.sleep(0.01)
    assert health["in_flight"] > 0, "the requests were answered before the stop signal; nothing was in flight"
    server["process"].send_signal(signal.SIGTERM)
    for t in threads:
        t.join(timeout=120)
    assert responses == [200] * n
    assert server["process"].wait(timeout=120) == 0
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{server['port']}/ping", timeout=5)
    log = server["log"].read_text()
    assert "Shutting down" in log and "Traceback" not in log
