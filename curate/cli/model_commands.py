"""`curate train`, `curate evaluate` and `curate predict`: the three model stages."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from curate.cli.common import console, handle_errors
from curate.recipes import load_recipe

train_app = typer.Typer(help="Train one stage of the detection -> category -> attributes pipeline.", no_args_is_help=True)

SET_HELP = "Override a recipe value, e.g. --set training.epochs=5 (repeatable)."


def _trained(out: Path) -> None:
    console.print(f"model written to [bold]{out}[/] (model card: {out / 'MODEL_CARD.md'})", highlight=False)


def _train(stage: str, recipe: Path, overrides: list[str]) -> None:
    from curate.models.stages import STAGES, train_stage

    _trained(train_stage(stage, load_recipe(STAGES[stage].recipe, recipe, overrides), str(recipe)))


@train_app.command("detector")
@handle_errors
def train_detector_command(recipe: Path = typer.Argument(..., help="Detector training recipe (YAML)."), set_: list[str] = typer.Option([], "--set", help=SET_HELP)) -> None:
    """Train the object detector (upper-body, lower-body, full-body, footwear).

    Example: curate train detector recipes/detector.yaml --set training.epochs=2
    """
    _train("detector", recipe, set_)


@train_app.command("category")
@handle_errors
def train_category_command(recipe: Path = typer.Argument(..., help="Category training recipe (YAML)."), set_: list[str] = typer.Option([], "--set", help=SET_HELP)) -> None:
    """Train the category classifier on object crops (then evaluate it on the test split, if any).

    Example: curate train category recipes/fashion-mnist-category.yaml
    """
    _train("category", recipe, set_)


@train_app.command("attributes")
@handle_errors
def train_attributes_command(recipe: Path = typer.Argument(..., help="Attribute training recipe (YAML)."), set_: list[str] = typer.Option([], "--set", help=SET_HELP)) -> None:
    """Train the multi-label attribute tagger (pattern, style and the other attribute keys).

    Example: curate train attributes recipes/attributes.yaml --set model.backbone=efficientnet_b3
    """
    _train("attributes", recipe, set_)


@handle_errors
def evaluate_command(
    stage: str = typer.Argument(..., help="detector, category or attributes."),
    model: Path = typer.Option(..., "--model", help="The trained model directory."),
    dataset: Path = typer.Option(..., "--dataset", help="The dataset to evaluate on."),
    split: str = typer.Option("gold", "--split", help="The split to evaluate on."),
    fiftyone: bool = typer.Option(True, "--fiftyone/--no-fiftyone", help="Also store the predictions as a FiftyOne evaluation run with its error views (when the dataset is in FiftyOne)."),
) -> None:
    """Evaluate a trained stage on a labelled split; writes JSON, Markdown and PNG beside the model.

    Example: curate evaluate category --model models/category --dataset data/fashion-mnist --split test
    """
    from curate.models.evaluate import SUMMARY_KEYS, evaluate_model

    metrics, out = evaluate_model(stage, model, dataset, split, fiftyone)
    for key in SUMMARY_KEYS[stage]:
        if key in metrics:
            value = metrics[key]
            console.print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}", highlight=False)
    if "fiftyone" in metrics:
        run = metrics["fiftyone"]
        where = f" in FiftyOne dataset '{run['dataset']}'" if run.get("dataset") else ""
        console.print(f"FiftyOne evaluation run '{run['eval_key']}' stored{where}" if run["stored"] else f"FiftyOne evaluation run not stored: {run['reason']}", highlight=False)
    console.print(f"report written to [bold]{out}[/]", highlight=False)


@handle_errors
def predict_command(
    source: Path = typer.Argument(..., help="An image or a directory of images."),
    models: Path = typer.Option(..., "--models", help="Directory with detector/ and optionally category/ and attributes/ model directories."),
    out: Path = typer.Option(..., "--out", help="The JSON file to write."),
    visualize: Optional[Path] = typer.Option(None, "--visualize", help="Directory for images with the predictions drawn."),
    rules: str = typer.Option("all", "--rules", help="Post-processing rules to apply: all, none, or a comma list of hand_as_footwear,bare_legs."),
) -> None:
    """Detect, post-process, crop, classify and tag garments; one JSON record per image.

    Example: curate predict photos/ --models models/ --out predictions.json --visualize predictions/
    """
    from curate.models.postprocess import parse_rules
    from curate.models.predictor import predict_to_file

    summary = predict_to_file(source, models, out, visualize, parse_rules(rules))
    console.print(
        f"{summary['images']} image(s), {summary['objects']} object(s), {summary['failed']} failed to decode; "
        f"rules removed: {', '.join(f'{k} {v}' for k, v in summary['removed'].items()) or 'none'}; written to [bold]{out}[/]",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(train_app, name="train")
    app.command("evaluate")(evaluate_command)
    app.command("predict")(predict_command)
