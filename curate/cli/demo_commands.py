"""`curate demo`: run the whole toolkit on the embedded Fashion-MNIST data and summarise it."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from curate.cli.common import console, fail, handle_errors
from curate.demo import DEMO_RECIPE_PATH, StepOutcome, figure_rows, load_demo_recipe, run_demo

_STATUS_STYLE = {"done": "green", "reused": "cyan", "failed": "red", "missing": "red", "blocked": "yellow"}


def _print_step(outcome: StepOutcome) -> None:
    style = _STATUS_STYLE[outcome.status]
    seconds = f" {outcome.seconds:.1f}s" if outcome.status == "done" else ""
    note = f" [dim]{outcome.note}[/]" if outcome.note else ""
    console.print(f"[{style}]{outcome.status:>7}[/]{seconds}  {outcome.title}{note}", highlight=False)


def summary_tables(outcomes: dict[str, StepOutcome], out: Path) -> list[Table]:
    """The step table (status, time) and the results and artifacts tables (same on every run)."""
    steps = Table("step", "status", "seconds", "note", title="curate demo: steps", title_justify="left")
    for o in outcomes.values():
        steps.add_row(o.title, f"[{_STATUS_STYLE[o.status]}]{o.status}[/]", f"{o.seconds:.1f}" if o.status == "done" else "-", o.note)
    results = Table("step", "figure", "value", title="curate demo: results", title_justify="left")
    for o in outcomes.values():
        for i, (name, value) in enumerate(figure_rows(o.figures)):
            results.add_row(o.name if i == 0 else "", name, value)
    artifacts = Table("artifact", "path", title="curate demo: artifacts", title_justify="left")
    for o in outcomes.values():
        for label, path in o.artifacts.items():
            artifacts.add_row(label, str(out / path))
    return [steps, results, artifacts]


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
    for table in summary_tables(outcomes, out):
        console.print(table)
    incomplete = [o.name for o in outcomes.values() if o.status not in ("done", "reused")]
    if incomplete:
        fail(f"the demo is incomplete: {', '.join(incomplete)} could not run (see above)")
    console.print(f"Open the result in the FiftyOne App:  [bold]curate review {out / 'datasets' / 'balanced'} --name {settings.review.name}[/]")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
