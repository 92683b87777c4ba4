"""`curate import`, `curate export` and `curate fetch`: formats in and out."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from curate.cli.common import console, err_console, handle_errors
from curate.dataset import check_not_input, read_dataset
from curate.errors import CurateError
from curate.exporters import EXPORTERS
from curate.parallel import make_executor
from curate.sources import SOURCES
from curate.sources.fashion_mnist import fetch_fashion_mnist
from curate.sources.importer import REPORT_PATH, import_to_dataset

_SHOWN = 20


@handle_errors
def import_source(
    source: str = typer.Argument(..., help=f"Input format: {', '.join(SOURCES)}."),
    path: Optional[Path] = typer.Argument(None, help="File or folder to read (fashion-mnist: optional)."),
    out: Path = typer.Option(..., "--out", help="Dataset folder to create: new or empty (an existing dataset only with --overwrite)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the dataset at --out (only when the whole import succeeds)."),
    allow_outside_root: bool = typer.Option(False, "--allow-outside-root", help="Import images the annotations name outside their own folder (refused by default)."),
    on_error: str = typer.Option("fail", "--on-error", help="fail: stop at the first bad item; skip: leave it out and report it."),
    mapping: Optional[Path] = typer.Option(None, "--mapping", help="Label mapping YAML (default: the source's own, or taxonomy terms)."),
    executor: str = typer.Option("local", "--executor", help="serial or local (process pool) for per-image work."),
    min_confidence: Optional[float] = typer.Option(None, "--min-confidence", help="sagemaker: drop boxes below this confidence (default 0.6)."),
    footwear_pairs: Optional[str] = typer.Option(None, "--footwear-pairs", help="sagemaker: drop-image | keep-both | keep-above when one shoe of a pair fails the threshold."),
    max_brand_share: Optional[float] = typer.Option(None, "--max-brand-share", help="catalogue: cap any brand's share of each category (0..1)."),
    columns: Optional[str] = typer.Option(None, "--columns", help="catalogue: the feed's column for each role, e.g. product_id=id,name=productDisplayName,category=articleType (or a YAML/JSON file of them)."),
    images: Optional[str] = typer.Option(None, "--images", help="Where the images are: a folder (coco, voc, sagemaker, catalogue) or, for a catalogue, a template of feed columns such as '/photos/{id}.jpg'."),
) -> None:
    """Import a dataset in another format and remap its labels onto the taxonomy.

    Prints and writes reports/import.json (images, objects, mapped, dropped by rule, unmapped labels, skipped items with reasons).

    Example: curate import deepfashion2 ~/data/deepfashion2 --out out/df2 --on-error skip

    Example: curate import catalogue styles.csv --columns product_id=id,name=productDisplayName,category=articleType --images 'images/{id}.jpg' --out out/feed
    """
    options = {
        name: value
        for name, value in (
            ("min_confidence", min_confidence), ("footwear_pairs", footwear_pairs), ("max_brand_share", max_brand_share),
            ("columns", columns), ("images", images),
        )
        if value is not None
    }
    report = import_to_dataset(
        source, path, out, on_error=on_error, mapping=mapping, executor=make_executor(executor),
        overwrite=overwrite, allow_outside_root=allow_outside_root, **options,
    )
    print_report(report, out)


def print_report(report: dict, out: Path) -> None:
    table = Table("", "count", title=f"import {report['source']} → {out}", title_justify="left")
    table.add_row("images", f"{report['images']:,}")
    table.add_row("objects", f"{report['objects']:,} (of {report['read']['objects']:,} read)")
    table.add_row("mapped", f"{report['mapped']:,}")
    for reason, count in report["dropped_by_rule"].items():
        table.add_row(f"dropped by rule: {reason}", f"{count:,}")
    for label, count in list(report["dropped_labels"].items())[:_SHOWN]:
        table.add_row(f"[dim]dropped label[/] {label}", f"{count:,}")
    for label, count in list(report["unmapped_labels"].items())[:_SHOWN]:
        table.add_row(f"[yellow]unmapped label[/] {label}", f"{count:,}")
    table.add_row("skipped items", f"{report['skipped_count']:,}")
    refused = report.get("refused_outside_root", {})
    if refused.get("count"):
        table.add_row("refused: outside the annotation root", f"{refused['count']:,}")
    console.print(table)
    for item in report.get("text_decoding", []):
        err_console.print(f"[yellow]note:[/] {escape(item['file'])}: {escape(item['note'])}", highlight=False, soft_wrap=True)
    for item in report["skipped"][:_SHOWN]:
        where = ": ".join(str(p) for p in (item["file"], item["where"]) if p)
        field = f"field '{item['field']}': " if item.get("field") else ""
        console.print(f"[red]skipped[/] {escape(where)}: {escape(field + item['reason'])}", highlight=False, soft_wrap=True)
    if report["skipped_count"] > _SHOWN:
        console.print(f"... and {report['skipped_count'] - _SHOWN} more in {REPORT_PATH}")
    console.print(f"report: {Path(out) / REPORT_PATH}  ({report['seconds']} s)", highlight=False)


@handle_errors
def export(
    dataset: Path = typer.Argument(..., help="Dataset directory."),
    format: str = typer.Option(..., "--format", help=f"One of: {', '.join(EXPORTERS)}."),
    out: Path = typer.Option(..., "--out", help="Output folder (csv: a .csv file or a folder)."),
    split: Optional[str] = typer.Option(None, "--split", help="Only this split (train, val, test, gold)."),
) -> None:
    """Write the dataset in a format a trainer reads.

    Example: curate export out/demo --format yolo --out out/demo-yolo --split train
    """
    check_not_input(out, [dataset])  # an export never writes into the dataset or around it
    if format not in EXPORTERS:
        raise CurateError(f"unknown export format '{format}' (expected one of {', '.join(EXPORTERS)})")
    written = EXPORTERS[format](read_dataset(dataset), out, split=split)
    console.print(f"wrote {written['images']:,} images and {written['objects']:,} objects as {format} to {out}", highlight=False)


@handle_errors
def fetch(
    name: str = typer.Argument(..., help="Dataset to download: fashion-mnist."),
    dest: Optional[Path] = typer.Option(None, "--dest", help="Folder (default: the user cache, where `curate import` looks)."),
) -> None:
    """Download a public dataset's official files and check their checksums.

    Example: curate fetch fashion-mnist
    """
    if name != "fashion-mnist":
        raise CurateError(f"cannot fetch '{name}': only fashion-mnist is public and freely downloadable")
    folder = fetch_fashion_mnist(dest)
    console.print(f"Fashion-MNIST checked and ready in {folder}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("import")(import_source)
    app.command("export")(export)
    app.command("fetch")(fetch)
