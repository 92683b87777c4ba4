"""Top-level commands about dataset contents: `curate info` and `curate categorise`."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from curate.cli.common import console, err_console, handle_errors
from curate.dataset import read_dataset, summary
from curate.dataset.generations import recover_if_idle
from curate.dataset.layout import commit_info, current_snapshot, leftovers
from curate.dataset.lock import lock_status
from curate.errors import display
from curate.taxonomy import DEFAULT_TAXONOMY_PATH, TitleCategoriser, load_taxonomy


@handle_errors
def info(dataset: Path = typer.Argument(..., help="Dataset directory.")) -> None:
    """Print counts by object type, category, pattern, style, split and source.

    Also says which generation is current and who wrote it, whether a command is writing the
    dataset now, and what interrupted commands left (removed here when no command is writing).

    Example: curate info out/demo
    """
    for line in recover_if_idle(dataset):
        err_console.print(f"[yellow]note:[/] {escape(line)}", highlight=False, soft_wrap=True)
    busy = lock_status(dataset) if dataset.is_dir() else None
    if busy:
        err_console.print(f"[yellow]note:[/] {escape(display(dataset))} is {escape(busy)}", highlight=False, soft_wrap=True)
    for item in leftovers(dataset):
        err_console.print(f"[yellow]leftover:[/] {escape(item.describe())}", highlight=False, soft_wrap=True)
    ds = read_dataset(dataset)
    console.print(f"[bold]{escape(str(ds.meta.get('name', ds.path.name)))}[/]: {len(ds.images)} images, {len(ds.objects)} objects")
    snapshot = current_snapshot(dataset)
    written = commit_info(snapshot) if snapshot else {}
    if written:
        when = _dt.datetime.fromtimestamp(written["at"]).strftime("%Y-%m-%d %H:%M:%S")
        console.print(f"generation {snapshot.generation}, written by {escape(str(written.get('command')))} at {when}", highlight=False)
    elif snapshot is not None and snapshot.generation == 0:
        console.print("single-folder layout of an earlier curate version (the next command that writes it converts it)", highlight=False)
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
