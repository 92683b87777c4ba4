"""`curate review DATASET` (send to FiftyOne and open the App) and `curate review sync DATASET`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table
from typer.core import TyperGroup

from curate.cli.common import console, err_console, handle_errors


class _DatasetFirstGroup(TyperGroup):
    """`curate review DATASET` means `curate review open DATASET`; `sync` stays a subcommand."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["open", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_DatasetFirstGroup,
    help="Review a dataset in the FiftyOne App and sync curator edits back into its tables.",
    no_args_is_help=True,
)

NameOption = typer.Option(None, "--name", help="FiftyOne dataset name (default: the dataset's name).")


@app.command("open")
@handle_errors
def open_(
    dataset: Path = typer.Argument(..., help="Dataset directory."),
    name: Optional[str] = NameOption,
    view: Optional[str] = typer.Option(None, "--view", help="Saved view to open, e.g. 'auto-boxed to review'."),
    port: int = typer.Option(5151, "--port", help="Port of the App server on 127.0.0.1."),
    remote: bool = typer.Option(False, "--remote", help="Print the App URL instead of opening a browser."),
    no_launch: bool = typer.Option(False, "--no-launch", help="Only send (or update) the FiftyOne dataset."),
    sagemaker_threshold: float = typer.Option(0.8, "--sagemaker-threshold", help="Confidence below which SageMaker boxes are listed for review."),
) -> None:
    """Send the dataset to a persistent FiftyOne dataset (only what changed) and open the App.

    Example: curate review out/demo --view "auto-boxed to review" --remote
    """
    from curate import review

    report = review.send_dataset(dataset, name=name, sagemaker_threshold=sagemaker_threshold)
    console.print(
        f"FiftyOne dataset [bold]{report.name}[/]: {report.mode} "
        f"({report.added} added, {report.updated} updated, {report.deleted} deleted)"
    )
    if report.unmirrored_whole_image:
        err_console.print(f"[yellow]note:[/] {report.unmirrored_whole_image} extra whole-image label(s) not shown: FiftyOne holds one per image")
    if report.skipped_unsynced:
        err_console.print(
            f"[yellow]warning:[/] {len(report.skipped_unsynced)} sample(s) hold edits not yet synced and were not updated "
            f"(e.g. {report.skipped_unsynced[0]}): run `curate review sync {dataset}` first"
        )
    if no_launch:
        return
    if remote:
        console.print(f"App: http://127.0.0.1:{port}/ (forward the port to reach it from another machine); Ctrl-C to stop")
    review.launch_app(report.name, view=view, port=port, remote=remote)


@app.command("sync")
@handle_errors
def sync(
    dataset: Path = typer.Argument(..., help="Dataset directory."),
    name: Optional[str] = NameOption,
) -> None:
    """Apply curator edits from FiftyOne to objects.parquet and log them in changes.parquet.

    Example: curate review sync out/demo
    """
    from curate import review

    report = review.sync_dataset(dataset, name=name)
    if report.applied:
        table = Table("applied", "objects")
        for kind, count in report.applied.items():
            table.add_row(kind, str(count))
        console.print(table)
    console.print(f"{report.changes} change(s) written to {dataset}/changes.parquet" if report.changes else "nothing to sync")
    if report.stale:
        err_console.print(f"[yellow]note:[/] {report.stale} object(s) changed on disk since sent: re-run `curate review {dataset}` to refresh FiftyOne")
    if report.conflicts:
        for problem in report.conflicts:
            err_console.print(f"[red]conflict:[/] {problem}", highlight=False, soft_wrap=True)
        raise typer.Exit(2)
