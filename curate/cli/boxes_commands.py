"""`curate boxes import|export|load`: hand-drawn boxes in and out of a dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from curate.cli.common import console, err_console, handle_errors

app = typer.Typer(help="Hand-drawn boxes: import a box table or labelImg files, and the labelImg / CVAT round trip.", no_args_is_help=True)

DatasetArg = typer.Argument(..., help="Dataset directory.", exists=True, file_okay=False)
WhereOption = typer.Option(None, "--where", help="Filter over images.parquet plus `boxes` and `objects` (counts per image), e.g. \"flat_lay == False and boxes == 0\".")
OnModelOption = typer.Option(False, "--on-model", help="Only images known not to be flat-lays (flat_lay == False).")
WithoutBoxesOption = typer.Option(False, "--without-boxes", help="Only images without any box.")
SplitOption = typer.Option(None, "--split", help="Only this split.")
ViewOption = typer.Option(None, "--view", help="Only the images of this saved view of the dataset's FiftyOne mirror (`curate review`).")
NameOption = typer.Option(None, "--name", help="FiftyOne dataset name (default: the dataset's name).")
LimitOption = typer.Option(None, "--limit", min=1, help="At most this many images (the first by image_id).")
BackendOption = typer.Option(None, "--backend", help="cvat or labelstudio (default: FiftyOne's default annotation backend).")


def _selection(dataset: Path, where, on_model, without_boxes, split, view, name, limit) -> tuple[list[str], str]:
    from curate.annotation import describe_selection, select_images
    from curate.dataset import read_dataset

    ids = None
    if view is not None:
        from curate.review.annotate import saved_view_image_ids

        ids = saved_view_image_ids(dataset, view, name=name)
    ds = read_dataset(dataset)
    chosen = select_images(ds.images, ds.objects, where=where, on_model=on_model, without_boxes=without_boxes, split=split, image_ids=ids, limit=limit)
    described = describe_selection(where=where, on_model=on_model, without_boxes=without_boxes, split=split, limit=limit)
    described = ", ".join(p for p in (f"view '{view}'" if view else "", described) if p)
    return chosen["image_id"].tolist(), described


@app.command("import")
@handle_errors
def import_(
    dataset: Path = DatasetArg,
    source: Path = typer.Argument(..., help="A box table (.csv / .parquet), a folder of labelImg VOC .xml files, or a folder `curate boxes export` wrote.", exists=True),
    units: str = typer.Option("rel", "--units", help="Box table coordinates: rel (0..1) or px (pixels). VOC files are pixels."),
    key: Optional[str] = typer.Option(None, "--key-column", help="The table's image key column (default: the first of image, source_id, id, file, filename, image_id)."),
    on_error: str = typer.Option("fail", "--on-error", help="fail: change nothing and list every bad row; skip: leave images with a bad row as they are and report them."),
) -> None:
    """Attach hand-drawn boxes to the images of a dataset.

    A table row is one box: image key (source_id or file name), label (an object type or a category) and x_min, y_min, x_max, y_max; or a status with empty coordinates: none (no garment entirely in frame), skip (leave the image as it is), excluded (outside the taxonomy: its objects are removed). A box of the product's object type takes the product's category, pattern and style. Every change is logged in changes.parquet.

    Example: curate boxes import out/shop boxes.csv --on-error skip
    Example: curate boxes import out/shop ~/labelimg/Annotations
    """
    from curate.annotation import import_boxes

    report = import_boxes(dataset, source, units=units, key=key, on_error=on_error)
    table = Table("", "count", title=f"boxes {source} → {dataset}", title_justify="left")
    for status, count in report["images"].items():
        table.add_row(f"images: {status}", str(count))
    table.add_row("hand boxes", str(report["hand_boxes"]))
    for kind, count in report["objects"].items():
        table.add_row(f"objects {kind}", str(count))
    table.add_row("products given their box (+ copies)", f"{report['products_boxed']} (+{report['product_copies']})")
    table.add_row("whole-image labels kept without a box", str(report["kept_whole"]))
    if "folder" in report:
        table.add_row("files unchanged since the export", str(report["folder"]["unchanged_files"]))
    table.add_row("not in the dataset (skip / excluded)", str(len(report["not_in_dataset"])))
    console.print(table)
    for problem in report["skipped"]:
        err_console.print(f"[yellow]skipped[/] {problem['file']}: {problem['where']}: field '{problem['field']}': {problem['reason']}", highlight=False, soft_wrap=True)
    console.print(f"{report['changes']} change(s) written to {dataset}/changes.parquet" if report["changes"] else "nothing changed")
    if report["conflicts"]:
        for problem in report["conflicts"]:
            err_console.print(f"[red]conflict:[/] {problem['file']}: {problem['reason']}", highlight=False, soft_wrap=True)
        raise typer.Exit(2)


@app.command("export")
@handle_errors
def export(
    dataset: Path = DatasetArg,
    out: Optional[Path] = typer.Option(None, "--out", help="New folder to write in labelImg's layout."),
    run: Optional[str] = typer.Option(None, "--run", help="Instead of a folder: an annotation run of this name on a CVAT / Label Studio server (FiftyOne's annotation API)."),
    backend: Optional[str] = BackendOption,
    where: Optional[str] = WhereOption,
    on_model: bool = OnModelOption,
    without_boxes: bool = WithoutBoxesOption,
    split: Optional[str] = SplitOption,
    view: Optional[str] = ViewOption,
    name: Optional[str] = NameOption,
    limit: Optional[int] = LimitOption,
) -> None:
    """Send the images that need boxes out to be annotated, prefilled with the boxes they have.

    With --out: a labelImg folder (one XML per image; a verified image without boxes means none); bring it back with `curate boxes import DATASET FOLDER`. With --run: the same images go to the CVAT or Label Studio server of FiftyOne's annotation config (e.g. FIFTYONE_CVAT_URL, FIFTYONE_CVAT_USERNAME, FIFTYONE_CVAT_PASSWORD); bring them back with `curate boxes load DATASET --run NAME`.

    Example: curate boxes export out/shop --out out/to-box --on-model --without-boxes
    Example: curate boxes export out/shop --out out/to-box --where "split == 'gold' and boxes == 0"
    Example: curate boxes export out/shop --run on-model-1 --backend cvat --on-model --without-boxes
    """
    from curate.errors import CurateError

    if (out is None) == (run is None):
        raise CurateError("give --out DIR (a labelImg folder) or --run NAME (an annotation run on a CVAT / Label Studio server), not both")
    if backend is not None and run is None:
        raise CurateError("--backend goes with --run NAME (a labelImg folder needs no server)")
    if run is not None:
        from curate.review.annotate import backend_settings, request_annotations

        backend_settings(backend)  # a missing server is the first thing to say
        ids, _ = _selection(dataset, where, on_model, without_boxes, split, view, name, limit)
        sent = request_annotations(dataset, ids, run, backend=backend, name=name)
        console.print(f"{sent['samples']} sample(s) of FiftyOne dataset {sent['name']} sent to {sent['backend']} as run '{run}'")
        console.print(f"when done: curate boxes load {dataset} --run {run}", highlight=False)
        return
    from curate.annotation import export_labelimg
    from curate.dataset import read_dataset
    from curate.taxonomy import load_taxonomy

    ids, described = _selection(dataset, where, on_model, without_boxes, split, view, name, limit)
    report = export_labelimg(read_dataset(dataset), ids, out, load_taxonomy(), described)
    console.print(f"{report['images']} image(s) with {report['boxes']} box(es) written to {out}")
    console.print(f"annotate with: {report['open_with']}", highlight=False, soft_wrap=True)
    console.print(f"then: curate boxes import {dataset} {out}", highlight=False, soft_wrap=True)


@app.command("load")
@handle_errors
def load(
    dataset: Path = DatasetArg,
    anno_key: str = typer.Option(..., "--run", help="The annotation run `curate boxes export --run` started."),
    backend: Optional[str] = BackendOption,
    name: Optional[str] = NameOption,
) -> None:
    """Bring a CVAT / Label Studio run (`curate boxes export --run`) back: into FiftyOne, then into the tables and the change log.

    Example: curate boxes load out/shop --run on-model-1
    """
    from curate.review.annotate import load_annotations

    report = load_annotations(dataset, anno_key, backend=backend, name=name)
    console.print(f"{report.changes} change(s) written to {dataset}/changes.parquet" if report.changes else "nothing to sync")
    for problem in report.conflicts:
        err_console.print(f"[red]conflict:[/] {problem}", highlight=False, soft_wrap=True)
    if report.conflicts:
        raise typer.Exit(2)
