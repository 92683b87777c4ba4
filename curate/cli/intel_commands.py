"""Catalogue intelligence commands: embed, search, mislabelled, box-issues (and the photography
report behind `curate report --photography`)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from curate.cli.common import console, handle_errors
from curate.dataset import dataset_lock


def _print_frame(frame, title: str, as_json: bool) -> None:
    if as_json:
        typer.echo(frame.to_json(orient="records"))
        return
    table = Table(*frame.columns, title=title, title_justify="left")
    for row in frame.itertuples(index=False):
        table.add_row(*[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row])
    console.print(table)


@handle_errors
def embed(
    dataset: Path = typer.Argument(..., help="Dataset directory."),
    model: Path = typer.Option(..., "--model", help="Trained category model directory (model.keras + model.yaml)."),
    batch_size: int = typer.Option(256, "--batch-size"),
) -> None:
    """Embed every object crop and image with the model's penultimate layer (only new or changed ones).

    Example: curate embed out/demo --model out/models/category
    """
    from curate.intel.workflows import embed_dataset

    with dataset_lock(dataset):  # the embeddings are written into the dataset
        counts = embed_dataset(dataset, model, batch_size)
    console.print(f"embeddings: {counts['computed']} computed, {counts['reused']} reused, {counts['dropped']} dropped")


@handle_errors
def search(
    dataset: Path = typer.Argument(..., help="Dataset directory."),
    image: Path = typer.Option(..., "--image", help="Query image."),
    k: int = typer.Option(10, "--k", min=1),
    category: str = typer.Option(None, "--category", help="Only return objects of this category."),
    model: Path = typer.Option(None, "--model", help="Model whose embeddings to use (default: the latest embedded)."),
    method: str = typer.Option("auto", "--method", help="auto, exact or hnsw (auto: exact below 1,000,000 rows)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Find the catalogue objects most similar to a query image (cosine similarity of embeddings).

    Example: curate search out/demo --image query.jpg --k 10 --category dresses
    """
    from curate.intel.workflows import search_catalogue

    _print_frame(search_catalogue(dataset, image, k, category, model, method), f"most similar to {image}", as_json)


@handle_errors
def mislabelled(
    dataset: Path = typer.Argument(..., help="Dataset directory."),
    model: Path = typer.Option(..., "--model", help="Trained category model directory."),
    split: str = typer.Option("train", "--split", help="Split to score, or 'all'."),
    folds: int = typer.Option(5, "--folds", min=2),
    top: int = typer.Option(20, "--top", help="How many of the most likely mislabelled to print."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Rank category labels by how likely they are wrong (k-fold + confident learning); writes
    label_issue_score, label_issue and suggested_category into objects.parquet.

    Example: curate mislabelled out/demo --model out/models/category --folds 5
    """
    from curate.intel.workflows import rank_mislabelled

    with dataset_lock(dataset):
        ranked = rank_mislabelled(dataset, model, split, folds)
    console.print(f"{int(ranked['label_issue'].sum())} of {len(ranked)} labels flagged by confident learning")
    _print_frame(ranked.head(top), "most likely mislabelled", as_json)


@handle_errors
def box_issues(
    dataset: Path = typer.Argument(..., help="Dataset directory."),
    predictions: Path = typer.Option(None, "--predictions", help="Detector predictions (Parquet: image_id, object_type, x_min..y_max, score)."),
    detector: Path = typer.Option(None, "--detector", help="Trained detector directory to run over the images instead."),
    iou: float = typer.Option(0.5, "--iou"),
    min_score: float = typer.Option(0.5, "--min-score"),
    top: int = typer.Option(20, "--top"),
) -> None:
    """Likely-spurious and likely-missing boxes from a detector's disagreement with ground truth.

    Example: curate box-issues out/demo --detector out/models/detector
    """
    from curate.errors import CurateError
    from curate.intel.workflows import detector_predictions, flag_box_issues, read_predictions

    if (predictions is None) == (detector is None):
        raise CurateError("give exactly one of --predictions FILE or --detector DIR")
    predicted = read_predictions(predictions) if predictions is not None else detector_predictions(dataset, detector)
    with dataset_lock(dataset):
        spurious, missing = flag_box_issues(dataset, predicted, iou, min_score)
    _print_frame(spurious.head(top), "likely spurious boxes", False)
    _print_frame(missing.head(top), "likely missing boxes", False)


@handle_errors
def insights(
    dataset: Path = typer.Argument(..., help="Dataset directory (already sent with `curate review`)."),
    name: str = typer.Option(None, "--name", help="FiftyOne dataset name (default: the dataset's name)."),
    model: Path = typer.Option(None, "--model", help="Model whose embeddings to index (default: the latest embedded)."),
) -> None:
    """Add similarity indexes (images and boxes) and the "likely mislabelled" saved view to the
    FiftyOne review dataset, so a curator can sort by similarity and by label issue score.

    Example: curate insights out/demo --model out/models/category
    """
    from curate.models.classifier import load_category_model
    from curate.review.insights import push_insights

    added = push_insights(dataset, name, load_category_model(model).sha256 if model else None)
    console.print(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in added.items()))


def show_photography_report(ds) -> None:
    """`curate report DATASET --photography`: write the photography QA report and summarise it."""
    from curate.intel.photography import photography_report

    if ds.images.empty or not ds.objects["category"].notna().any():
        console.print(f"nothing to report: {'the dataset has no images' if ds.images.empty else 'no object has a category'}")
        return
    report = photography_report(ds)
    console.print(f"photography report written to {ds.reports_dir}/photography.md, photography.json and PNG charts")
    console.print("differ most from the catalogue norm: " + ", ".join(report["most_different"][:5]))


def register(app: typer.Typer) -> None:
    app.command("embed")(embed)
    app.command("search")(search)
    app.command("mislabelled")(mislabelled)
    app.command("box-issues")(box_issues)
    app.command("insights")(insights)
