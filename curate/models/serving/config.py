"""The settings of `curate serve`, one frozen value passed to every worker process (light to
import: the command line reads its defaults from here)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

from curate.errors import CurateError

MIB = 1024 * 1024
# The command-line option of each setting, for error messages.
OPTION = {"timeout_s": "--timeout", "max_wait_ms": "--max-wait-ms"} | {n: "--" + n.replace("_", "-") for n in ("port", "workers", "max_batch", "max_queue", "max_bytes", "max_pixels")}


@dataclass(frozen=True)
class ServeConfig:
    models_dir: str
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1  # server processes, each with its own copy of the models
    visualize: bool = False  # answer `Accept: image/png` with the colour-coded picture
    rules: tuple[str, ...] | None = None  # post-processing rules in order; None: all of them
    max_batch: int = 8  # images per model call
    max_wait_ms: float = 10.0  # how long the first image of a batch waits for company
    max_queue: int = 64  # images waiting for the models; more get 503 + Retry-After
    timeout_s: float = 30.0  # per request, from arrival to answer; then 504
    max_bytes: int = 16 * MIB  # request body
    max_pixels: int = 50_000_000  # decoded image, width x height
    log_level: str = "info"

    def __post_init__(self) -> None:
        expected = {
            "port": (0 <= self.port <= 65535, "0..65535"), "workers": (self.workers >= 1, ">= 1"),
            "max_batch": (self.max_batch >= 1, ">= 1"), "max_wait_ms": (self.max_wait_ms >= 0, ">= 0"),
            "max_queue": (self.max_queue >= 1, ">= 1"), "timeout_s": (self.timeout_s > 0, "> 0"),
            "max_bytes": (self.max_bytes > 0, "> 0"), "max_pixels": (self.max_pixels > 0, "> 0"),
        }
        bad = [f"{OPTION.get(name, name)} {getattr(self, name)}: expected {want}" for name, (ok, want) in expected.items() if not ok]
        if bad:
            raise CurateError("; ".join(bad))

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "ServeConfig":
        doc = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: tuple(v) if k == "rules" and v is not None else v for k, v in doc.items() if k in known})


DEFAULTS = ServeConfig(models_dir="")
