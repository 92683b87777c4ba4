"""Top-level commands about dataset contents: `curate info` and `curate categorise`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from curate.cli.common import console, handle_errors
from curate.dataset import read_dataset, summary
from curate.taxonomy import DEFAULT_TAXONOMY_PATH, TitleCategoriser, load_taxonomy


@handle_errors
def info(dataset: Path = typer.Argument(..., help="Dataset directory.")) -> None:
    """Print counts by object type, category, pattern, style, split and source.

    Example: curate info out/demo
    """
    ds = read_dataset(dataset)
    console.print(f"[bold]{ds.meta.get('name', ds.path.name)}[/]: {len(ds.images)} images, {len(ds.objects)} objects")
    for title, values in summary(ds).items():
        table = Table(title, "count", title_justify="left")
        for value, count in values.items():
            table.add_row(value, str(count))
        console.print(table)


@handle_errors
def categorise(
    titles: list[str] = typer.Argument(..., help="Product titles."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per title."),
    taxonomy: Path = typer.Option(DEFAULT_TAXONOMY_PATH, "--taxonomy", help="Taxonomy YAML file."),
) -> None:
    """Categorise product titles: category, style, pattern and the rule that decided.

    Example: curate categorise "Floral Shirt Dress" "Leather Tote Bag"
    """
    categoriser = TitleCategoriser(load_taxonomy(taxonomy))
    labels = [categoriser.categorise(t) for t in titles]
    if as_json:
        for label in labels:
            typer.echo(json.dumps(label.as_dict()))
        return
    table = Table("title", "category", "style", "pattern", "rule")
    for label in labels:
        category = f"[red]excluded ({label.excluded})[/]" if label.excluded else (label.category or "-")
        rule = label.rule + "".join(f"\n[dim]{n}[/]" for n in label.notes)
        table.add_row(label.title, category, label.style or "-", label.pattern or "-", rule)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("info")(info)
    app.command("categorise")(categorise)
