"""Entry point: builds the `curate` app from the command-group modules (explicit registry)."""

from __future__ import annotations

import typer

from curate import __version__
from curate.cli import (
    boxes_commands,
    curation_commands,
    dataset_commands,
    demo_commands,
    intel_commands,
    model_commands,
    review_commands,
    source_commands,
    taxonomy_commands,
)

app = typer.Typer(
    name="curate",
    help="Build, review and learn from fashion image datasets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.add_typer(taxonomy_commands.app, name="taxonomy")
app.add_typer(review_commands.app, name="review")
app.add_typer(boxes_commands.app, name="boxes")
dataset_commands.register(app)
source_commands.register(app)
curation_commands.register(app)
model_commands.register(app)
intel_commands.register(app)
demo_commands.register(app)


@app.command()
def version() -> None:
    """Print the curate version.

    Example: curate version
    """
    typer.echo(__version__)


def main() -> None:
    app()
