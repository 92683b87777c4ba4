"""A cached step runner: a fixed list of steps, each run only when what it reads has changed.

Each step names the earlier steps whose outputs it reads (`after`, required; `uses`, read when
they succeeded), the recipe part that shapes it (`settings`) and its outputs. Its key is a hash
of those settings, the installed code and the content hashes of what it reads; a step whose key
matches the last run and whose outputs are still there (with the same content) is reused with
its stored figures, so a second run with the same recipe reuses everything and prints the same
tables. A step that fails is reported with its traceback in logs/, and the steps after it that
need it are blocked; the others go on. A step can also name `module:function` entries it
`needs`: when one cannot be imported the step is reported as missing, never faked.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import time
import traceback
from dataclasses import asdict, dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any, Callable

from curate import __version__
from curate.dataset import IMAGES_FILE, OBJECTS_FILE, write_text_atomic
from curate.parallel import Executor

STATE_FILE = "demo-state.json"


@dataclass
class StepOutcome:
    name: str
    title: str
    status: str  # done | reused | failed | missing | blocked
    seconds: float = 0.0
    figures: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    note: str = ""
    key: str = ""
    output_hash: str = ""


@dataclass
class RunContext:
    """What every step gets: the recipe, the output folder, the executor, the outcomes so far."""

    recipe: Any
    out: Path
    executor: Executor
    outcomes: dict[str, StepOutcome] = field(default_factory=dict)

    def path(self, *parts: str) -> Path:
        return self.out.joinpath(*parts)


@dataclass(frozen=True)
class Step:
    name: str
    title: str
    run: Callable[[RunContext], tuple[dict, dict]] | None  # -> (figures, artifacts)
    needs: tuple[str, ...] = ()  # "module:function" the step calls
    after: tuple[str, ...] = ()  # steps whose outputs it reads
    uses: tuple[str, ...] = ()  # steps whose outputs it reads when they succeeded (not required)
    settings: Callable[[Any], Any] = lambda r: None  # the recipe part that shapes it
    outputs: tuple[str, ...] = ()  # paths under the demo folder
    # For outputs that live outside the folder (the FiftyOne dataset): are they still there?
    still_there: Callable[[RunContext], bool] = lambda ctx: True


def missing_needs(needs: tuple[str, ...]) -> list[str]:
    """The `module:function` entries that cannot be imported (a piece that is not installed)."""
    missing = []
    for need in needs:
        module_name, _, attr = need.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            missing.append(need)
            continue
        if attr and not hasattr(module, attr):
            missing.append(need)
    return missing


def content_files(path: Path) -> list[Path]:
    """The files that define a step output's content.

    For a dataset folder that is its two tables: they are byte-identical for the same content
    and hold every image's sha256, whereas dataset.yaml carries a creation time.
    """
    if not path.is_dir():
        return [path]
    tables = [path / IMAGES_FILE, path / OBJECTS_FILE]
    if all(t.exists() for t in tables):
        return tables
    return sorted(p for p in path.rglob("*") if p.is_file())


def hash_paths(paths: list[Path]) -> str:
    """Content hash of files, and of the content files under folders, by relative name and bytes."""
    digest = hashlib.sha256()
    for path in paths:
        files = content_files(path)
        for file in files:
            if file.name == STATE_FILE or any(part.startswith(".") for part in file.parts[-2:]):
                continue
            digest.update(str(file.relative_to(path.parent)).encode())
            digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def code_hash() -> str:
    """Hash of the installed curate sources: changed code re-runs every step."""
    root = Path(str(files("curate")))
    return hash_paths(sorted(root.rglob("*.py")))[:16]


def load_state(out: Path) -> dict[str, dict]:
    path = out / STATE_FILE
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}  # a damaged state only costs a full re-run


def ran(outcome: StepOutcome) -> bool:
    return outcome.status in ("done", "reused")


def step_key(step: Step, ctx: RunContext, code: str) -> str:
    upstream = [ctx.outcomes[name].output_hash for name in step.after]
    upstream += [ctx.outcomes[name].output_hash if ran(ctx.outcomes[name]) else "absent" for name in step.uses]
    doc = {"step": step.name, "settings": step.settings(ctx.recipe), "upstream": upstream, "code": code, "version": __version__}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def run_step(step: Step, ctx: RunContext, state: dict[str, dict], code: str) -> StepOutcome:
    blocked = [name for name in step.after if not ran(ctx.outcomes[name])]
    if blocked:
        return StepOutcome(step.name, step.title, "blocked", note=f"waits for: {', '.join(blocked)}")
    missing = missing_needs(step.needs) if step.needs else []
    if missing or step.run is None:
        return StepOutcome(step.name, step.title, "missing", note=f"not installed: {', '.join(missing or step.needs)}")
    key = step_key(step, ctx, code)
    outputs = [match for pattern in step.outputs for match in (sorted(ctx.out.glob(pattern)) if "*" in pattern else [ctx.path(pattern)])]
    previous = state.get(step.name)
    outputs_there = all(p.exists() for p in outputs) and (bool(outputs) or not step.outputs)
    if previous and previous.get("key") == key and outputs_there and step.still_there(ctx):
        if hash_paths(outputs) == previous.get("output_hash"):
            return StepOutcome(**{**previous, "status": "reused", "seconds": 0.0})
    start = time.perf_counter()
    try:
        figures, artifacts = step.run(ctx)
    except Exception as exc:  # one broken step is reported; the steps that do not need it go on
        log = ctx.path("logs", f"{step.name}.log")
        write_text_atomic(log, traceback.format_exc())
        message = (str(exc).strip().splitlines() or [""])[0]
        return StepOutcome(step.name, step.title, "failed", round(time.perf_counter() - start, 1),
                           note=f"{type(exc).__name__}: {message[:200]} (traceback: {log.relative_to(ctx.out)})")
    # Artifact paths are kept relative to the demo folder, so summaries do not depend on where it lives.
    # abspath, not resolve: a dataset's entries are links into its current generation, which a
    # later run replaces; the summary names the stable path
    artifacts = {label: str(Path(os.path.abspath(p)).relative_to(ctx.out)) for label, p in artifacts.items()}
    outcome = StepOutcome(
        step.name, step.title, "done", round(time.perf_counter() - start, 1), figures, artifacts,
        key=key, output_hash=hash_paths(outputs),
    )
    return outcome


def run_steps(steps: tuple[Step, ...], ctx: RunContext, on_step: Callable[[StepOutcome], None] = lambda o: None) -> dict[str, StepOutcome]:
    """Run (or reuse) every step in order, keeping the state file up to date; outcomes by name."""
    state = load_state(ctx.out)
    code = code_hash()
    for step in steps:
        outcome = run_step(step, ctx, state, code)
        ctx.outcomes[step.name] = outcome
        if outcome.status in ("done", "reused"):
            state[step.name] = {k: v for k, v in asdict(outcome).items() if k not in ("status", "seconds")}
            # Key order is kept: figures are shown in the order the step produced them.
            write_text_atomic(ctx.out / STATE_FILE, json.dumps(state, indent=1))
        on_step(outcome)
    return ctx.outcomes
