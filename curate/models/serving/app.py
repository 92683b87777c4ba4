"""The HTTP application: the SageMaker inference-container contract around the merged predictor.

`GET /ping` (200 once the models are loaded, 503 before), `POST /invocations` (an image in,
the record `curate predict` writes for it out), `GET /health`, `GET /version`, and the OpenAPI
page at `/docs` (schema at `/openapi.json`). The models load on the inference thread after the
server starts listening, so `/ping` answers 503 while they load. Every error is JSON
`{"error": message, "status": code}`; a traceback goes to the server log, never to a client.

FastAPI and Starlette are imported inside `create_app` only.
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations at runtime.
import asyncio
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from curate import __version__
from curate.models.postprocess import RULES
from curate.models.predictor import MergedPredictor, draw_predictions, prediction_record
from curate.models.serving.batcher import MicroBatcher, QueueFull
from curate.models.serving.config import ServeConfig
from curate.models.serving.inputs import RequestError, accepts_json, checked_media_type, decode_image, image_bytes, wants_png
from curate.models.serving.openapi import INVOCATIONS_DOC
from curate.taxonomy import load_taxonomy

CONFIG_ENV = "CURATE_SERVE_CONFIG"  # the config, as JSON, for worker processes
LOADING_RETRY_AFTER_S = 5
log = logging.getLogger("uvicorn.error")


@dataclass
class ServerState:
    """What the endpoints report: loading -> ready (or failed), the predictor and its counters."""

    config: ServeConfig
    status: str = "loading"
    error: str | None = None
    predictor: Any = None
    versions: dict[str, Any] = field(default_factory=dict)
    taxonomy: dict[str, str] = field(default_factory=dict)
    batcher: MicroBatcher | None = None
    started: float = field(default_factory=time.monotonic)
    load_seconds: float | None = None
    responses: Counter = field(default_factory=Counter)
    in_flight: int = 0  # /invocations requests received and not yet answered


def rules_of(config: ServeConfig) -> list[str]:
    """The post-processing rules the server applies, in order."""
    return list(RULES) if config.rules is None else list(config.rules)


def load_merged_predictor(config: ServeConfig) -> MergedPredictor:
    """The merged predictor of `config.models_dir`, traced once on a blank picture."""
    predictor = MergedPredictor(Path(config.models_dir), rules_of(config))
    predictor.predict_batch([np.full((64, 64, 3), 128, np.uint8)])  # the first call traces the detector
    return predictor


def create_app(config: ServeConfig, load: Callable[[ServeConfig], Any] = load_merged_predictor, on_load_failure: Callable[[str], None] | None = None):
    """The ASGI app. `load(config)` builds the predictor (anything with `predict_batch` and
    `versions`); `on_load_failure(message)` is called when it raises."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException

    state = ServerState(config)

    async def load_models() -> None:
        start = time.perf_counter()
        try:
            predictor = await state.batcher.run_on_thread(load, config)
            state.versions = dict(predictor.versions())
            state.taxonomy = await state.batcher.run_on_thread(_taxonomy_identity)
        except Exception as exc:  # noqa: BLE001 - reported on /ping, /health and in the log
            state.status, state.error = "failed", f"{config.models_dir}: the models failed to load: {type(exc).__name__}: {exc}"
            log.error(state.error)
            if on_load_failure is not None:
                on_load_failure(state.error)
            return
        state.predictor = predictor
        state.batcher.predict_batch = predictor.predict_batch
        state.load_seconds = round(time.perf_counter() - start, 3)
        state.status = "ready"
        log.info("models loaded in %.1f s from %s: %s", state.load_seconds, config.models_dir, state.versions)

    @asynccontextmanager
    async def lifespan(app):
        state.batcher = MicroBatcher(None, config.max_batch, config.max_wait_ms / 1000, config.max_queue)
        state.batcher.start()
        loading = asyncio.get_running_loop().create_task(load_models())
        yield
        # uvicorn has stopped accepting connections and waited for the open ones to finish.
        await asyncio.gather(loading, return_exceptions=True)
        await state.batcher.stop(drain_s=config.timeout_s)

    app = FastAPI(
        title="curate merged predictor",
        version=__version__,
        description="Detect garments, classify their category and tag their attributes (the three-stage pipeline of `curate predict`). "
        "SageMaker inference-container contract: GET /ping, POST /invocations.",
        lifespan=lifespan,
    )
    app.state.curate = state

    def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
        state.responses[status] += 1
        return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)

    @app.exception_handler(RequestError)
    async def request_error(request: Request, exc: RequestError):
        return error(exc.status, exc.message, exc.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        if exc.status_code == 404:
            return error(404, f"no endpoint at {request.url.path}; the endpoints are GET /ping, GET /health, GET /version, POST /invocations, GET /docs")
        if exc.status_code == 405:
            return error(405, f"{request.method} is not allowed on {request.url.path}", dict(exc.headers or {}))
        return error(exc.status_code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        return error(400, f"invalid request: {exc.errors()}")

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception):
        log.exception("unexpected error answering %s %s", request.method, request.url.path, exc_info=exc)
        return error(500, f"internal error while answering {request.method} {request.url.path} ({type(exc).__name__}); the server log has the details")

    def not_ready() -> RequestError:
        if state.status == "failed":
            return RequestError(503, state.error or "the models failed to load")
        return RequestError(503, f"the models are still loading from {config.models_dir}", {"Retry-After": str(LOADING_RETRY_AFTER_S)})

    @app.get("/ping", summary="Liveness for SageMaker: 200 once the models are loaded, 503 before")
    async def ping():
        if state.status != "ready":
            exc = not_ready()
            return JSONResponse({"status": state.status, "error": exc.message}, status_code=503, headers=exc.headers)
        return {"status": "ready"}

    @app.get("/health", summary="Status, queue, batching and response counters")
    async def health():
        batcher = state.batcher
        return {
            "status": state.status,
            "error": state.error,
            "models_dir": config.models_dir,
            "pid": os.getpid(),
            "uptime_s": round(time.monotonic() - state.started, 3),
            "load_seconds": state.load_seconds,
            "in_flight": state.in_flight,
            "queue": {"depth": batcher.depth if batcher else 0, "max": config.max_queue},
            "batching": {"max_batch": config.max_batch, "max_wait_ms": config.max_wait_ms, **(batcher.stats.to_json() if batcher else {})},
            "responses": {str(k): v for k, v in sorted(state.responses.items())},
            "limits": {"timeout_s": config.timeout_s, "max_bytes": config.max_bytes, "max_pixels": config.max_pixels},
            "visualize": config.visualize,
        }

    @app.get("/version", summary="curate's version, the model ids and the taxonomy version")
    async def version():
        if state.status != "ready":
            raise not_ready()
        return {"curate": __version__, "models": state.versions, "taxonomy": state.taxonomy, "rules": rules_of(config)}

    @app.post("/invocations", summary="Predict one image", **INVOCATIONS_DOC)
    async def invocations(request: Request):
        state.in_flight += 1
        try:
            return await predict(request)
        finally:
            state.in_flight -= 1

    async def predict(request):
        deadline = time.monotonic() + config.timeout_s
        if state.status != "ready":
            raise not_ready()
        accept = request.headers.get("accept")
        png = wants_png(accept)
        if png and not config.visualize:
            raise RequestError(406, "Accept: image/png is answered only by a server started with --visualize; ask for application/json")
        if not png and not accepts_json(accept):
            raise RequestError(406, f"Accept '{accept}' names no type this endpoint answers; expected application/json (or image/png with --visualize)")
        kind = checked_media_type(request.headers.get("content-type"))
        if state.batcher.depth >= config.max_queue:  # refuse before reading and decoding the body
            raise _busy(QueueFull(config.max_queue, state.batcher.retry_after_s()))
        try:
            body = await asyncio.wait_for(_read_body(request, config.max_bytes), max(deadline - time.monotonic(), 0.001))
        except asyncio.TimeoutError:
            raise RequestError(408, f"the request body did not arrive within the request timeout of {config.timeout_s:g} s") from None
        data, name = image_bytes(kind, body)
        image = await run_in_threadpool(decode_image, data, name, config.max_pixels)
        try:
            objects, removed = await state.batcher.submit(image, max(deadline - time.monotonic(), 0.001))
        except QueueFull as exc:
            raise _busy(exc) from None
        except asyncio.TimeoutError:
            raise RequestError(504, f"the prediction took longer than the request timeout of {config.timeout_s:g} s (queue depth {state.batcher.depth})") from None
        except Exception as exc:  # noqa: BLE001 - the predictor failed on this image: logged, answered 500
            log.error("the predictor failed on a %dx%d image", image.shape[1], image.shape[0], exc_info=exc)
            raise RequestError(500, f"the predictor failed on this {image.shape[1]}x{image.shape[0]} image ({type(exc).__name__}: {exc}); the server log has the details") from None
        state.responses[200] += 1
        if png:
            return Response(await run_in_threadpool(_png_of, image, objects), media_type="image/png")
        return JSONResponse(_record(image, objects, removed, state.versions))

    return app


def _busy(full: QueueFull) -> RequestError:
    return RequestError(503, str(full), {"Retry-After": str(full.retry_after_s)})


async def _read_body(request, limit: int) -> bytes:
    """The body, refusing (413) before reading when Content-Length is over `limit`, and as soon
    as a streamed body passes it."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"request body is {int(declared):,} bytes; the server accepts at most {limit:,}")
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise RequestError(413, f"request body is over {limit:,} bytes; the server accepts at most {limit:,}")
        chunks.append(chunk)
    return b"".join(chunks)


def _record(image: np.ndarray, objects, removed, versions) -> dict[str, Any]:
    return prediction_record((image.shape[1], image.shape[0]), objects, removed, versions, None)


def _png_of(image: np.ndarray, objects) -> bytes:
    ok, encoded = cv2.imencode(".png", draw_predictions(image, objects))
    if not ok:
        raise RuntimeError("OpenCV could not encode the drawn predictions as PNG")
    return encoded.tobytes()


def _taxonomy_identity() -> dict[str, str]:
    return load_taxonomy().identity()


def app_from_environment():
    """The app of one worker process started by uvicorn (`--workers N`): config from CONFIG_ENV."""
    text = os.environ.get(CONFIG_ENV)
    if not text:
        raise RuntimeError(f"{CONFIG_ENV} is not set; start the server with `curate serve`")
    return create_app(ServeConfig.from_json(text))
