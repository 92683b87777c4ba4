"""`curate demo`: run the whole toolkit on the embedded Fashion-MNIST data and summarise it."""

from __future__ import annotations

from pathlib import Path

import typer

from curate.cli.common import console, fail, handle_errors
from curate.demo.recipe import DEMO_RECIPE_PATH, load_demo_recipe
from curate.demo.runner import StepOutcome
from curate.demo.steps import run_demo
from curate.demo.summary import step_line, summary_tables


def _print_step(outcome: StepOutcome) -> None:
    console.print(step_line(outcome), highlight=False)


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
