"""The demo's summary: every step's figures and artifacts as rich tables, Markdown and JSON.

The tables show the same figures on every run (a reused step shows its stored ones); only the
step table's status and seconds tell a fresh run from a reused one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from curate.demo.runner import StepOutcome, ran

SUMMARY_FILE = "summary.json"
STATUS_STYLE = {"done": "green", "reused": "cyan", "failed": "red", "missing": "red", "blocked": "yellow"}


def figure_rows(figures: dict, prefix: str = "") -> list[tuple[str, str]]:
    """Flatten nested figures into (name, value) rows: {"a": {"b": 1}} -> ("a b", "1")."""
    rows = []
    for key, value in figures.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            rows += figure_rows(value, f"{name} ")
        elif isinstance(value, dict):
            rows.append((name, ", ".join(f"{k} {v}" for k, v in value.items())))
        else:
            rows.append((name, f"{value:.4f}" if isinstance(value, float) else str(value)))
    return rows


def summary_markdown(outcomes: dict[str, StepOutcome]) -> str:
    """The results table as Markdown (what the README quotes)."""
    lines = ["| step | figure | value |", "|---|---|---|"]
    for o in outcomes.values():
        if not ran(o):
            lines.append(f"| {o.name} | {o.status} | {o.note} |")
        for i, (name, value) in enumerate(figure_rows(o.figures)):
            lines.append(f"| {o.name if i == 0 else ''} | {name} | {value} |")
    return "\n".join(lines) + "\n"


def summary_doc(outcomes: dict[str, StepOutcome]) -> dict[str, Any]:
    """What the final tables show: every step's figures and artifacts, without timings."""
    return {
        "steps": {name: {"status": "ok" if o.status in ("done", "reused") else o.status, "note": o.note} for name, o in outcomes.items()},
        "figures": {name: o.figures for name, o in outcomes.items() if o.figures},
        "artifacts": {label: path for o in outcomes.values() for label, path in o.artifacts.items()},
    }


def step_line(outcome: StepOutcome) -> str:
    """One console line per step as it finishes (rich markup)."""
    style = STATUS_STYLE[outcome.status]
    seconds = f" {outcome.seconds:.1f}s" if outcome.status == "done" else ""
    note = f" [dim]{outcome.note}[/]" if outcome.note else ""
    return f"[{style}]{outcome.status:>7}[/]{seconds}  {outcome.title}{note}"


def summary_tables(outcomes: dict[str, StepOutcome], out: Path) -> list[Table]:
    """The step table (status, time) and the results and artifacts tables (same on every run)."""
    steps = Table("step", "status", "seconds", "note", title="curate demo: steps", title_justify="left")
    for o in outcomes.values():
        steps.add_row(o.title, f"[{STATUS_STYLE[o.status]}]{o.status}[/]", f"{o.seconds:.1f}" if o.status == "done" else "-", o.note)
    results = Table("step", "figure", "value", title="curate demo: results", title_justify="left")
    for o in outcomes.values():
        for i, (name, value) in enumerate(figure_rows(o.figures)):
            results.add_row(o.name if i == 0 else "", name, value)
    artifacts = Table("artifact", "path", title="curate demo: artifacts", title_justify="left")
    for o in outcomes.values():
        for label, path in o.artifacts.items():
            artifacts.add_row(label, str(out / path))
    return [steps, results, artifacts]
