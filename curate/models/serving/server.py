"""Running the app under uvicorn: one process, or `workers` processes each with its own models.

SIGTERM (and Ctrl-C) stop the server gracefully: it stops accepting connections, answers the
requests it already has (for up to the request timeout), drains the batcher, then exits 0.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from curate.errors import CurateError
from curate.models.model_dir import read_model_info
from curate.models.serving.config import ServeConfig

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def check_models_dir(models_dir: str | Path) -> None:
    """Fail before starting the server when the model directories cannot be read at all."""
    root = Path(models_dir)
    if not (root / "detector").is_dir():
        raise CurateError.at(root, "expected a detector/ model directory (and optionally category/ and attributes/)")
    for stage in ("detector", "category", "attributes"):
        if (root / stage).is_dir():
            read_model_info(root / stage, stage)


def serve(config: ServeConfig) -> int:
    """Serve until stopped; the exit status (1 when the models failed to load)."""
    import uvicorn

    from curate.models.serving.app import CONFIG_ENV, create_app

    check_models_dir(config.models_dir)
    options = dict(
        host=config.host,
        port=config.port,
        log_level=config.log_level,
        access_log=config.log_level in ("debug", "trace", "info"),
        timeout_graceful_shutdown=int(config.timeout_s) + 5,
        server_header=False,
    )
    # uvicorn re-raises the stop signal once it has shut down; a no-op handler makes a graceful
    # stop an ordinary return (exit 0) instead of death by that signal.
    previous = {sig: signal.signal(sig, _stopped) for sig in STOP_SIGNALS}
    try:
        if config.workers > 1:
            os.environ[CONFIG_ENV] = config.to_json()
            uvicorn.run("curate.models.serving.app:app_from_environment", factory=True, workers=config.workers, **options)
            return 0
        failures: list[str] = []
        servers: list[uvicorn.Server] = []

        def on_load_failure(message: str) -> None:
            failures.append(message)
            servers[0].should_exit = True  # the error is in the log; stop instead of serving 503s

        servers.append(uvicorn.Server(uvicorn.Config(create_app(config, on_load_failure=on_load_failure), **options)))
        servers[0].run()
        return 1 if failures or not servers[0].started else 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stopped(signum, frame) -> None:
    """Signal handler restored after uvicorn's graceful shutdown: nothing left to do."""

