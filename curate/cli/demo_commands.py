"""`curate demo`: run the whole toolkit on the embedded Fashion-MNIST data and summarise it."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from curate.cli.common import console, fail, handle_errors
from curate.demo import DEMO_RECIPE_PATH, StepOutcome, load_demo_recipe, run_demo

_STATUS_STYLE = {"done": "green", "reused": "cyan", "missing": "red", "blocked": "yellow"}


def _print_step(outcome: StepOutcome) -> None:
    style = _STATUS_STYLE[outcome.status]
    seconds = f" {outcome.seconds:.1f}s" if outcome.status == "done" else ""
    note = f" [dim]{outcome.note}[/]" if outcome.note else ""
    console.print(f"[{style}]{outcome.status:>7}[/]{seconds}  {outcome.title}{note}", highlight=False)


def _figure_text(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_figure_text(v)}" for k, v in value.items())
    return str(value)


def summary_tables(outcomes: dict[str, StepOutcome]) -> list[Table]:
    steps = Table("step", "status", "figures", title="curate demo: results", title_justify="left")
    for o in outcomes.values():
        status = "ok" if o.status in ("done", "reused") else o.status
        figures = "; ".join(f"{k}: {_figure_text(v)}" for k, v in o.figures.items()) or o.note
        steps.add_row(o.title, f"[{_STATUS_STYLE[o.status]}]{status}[/]", figures)
    artifacts = Table("artifact", "path", title="artifacts", title_justify="left")
    for o in outcomes.values():
        for label, path in o.artifacts.items():
            artifacts.add_row(label, path)
    return [steps, artifacts]


@handle_errors
def demo(
    quick: bool = typer.Option(False, "--quick", help="A small slice of the same steps (about 2 minutes)."),
    out: Path = typer.Option(Path("out/demo"), "--out", help="Folder for every artifact; a re-run reuses it."),
    recipe: Path = typer.Option(DEMO_RECIPE_PATH, "--recipe", help="Demo recipe (recipes/demo.yaml)."),
    overrides: list[str] = typer.Option([], "--set", help="Override a recipe key, e.g. --set scenes.pattern_share=0.3"),
) -> None:
    """Run the whole toolkit on rendered Fashion-MNIST product shots and print a summary.

    Example: curate demo --quick --out out/demo-quick
    """
    settings = load_demo_recipe(recipe, quick=quick, overrides=overrides)
    outcomes = run_demo(settings, out, on_step=_print_step)
    for table in summary_tables(outcomes):
        console.print(table)
    incomplete = [o.name for o in outcomes.values() if o.status not in ("done", "reused")]
    if incomplete:
        fail(f"the demo is incomplete: {', '.join(incomplete)} could not run (see above)")
    console.print(f"Open the result in the FiftyOne App:  [bold]curate review {out / 'datasets' / 'balanced'} --name {settings.review.name}[/]")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
