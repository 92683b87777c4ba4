"""`curate train`, `curate evaluate`, `curate predict` and `curate serve`: the three model stages."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from curate.cli.common import console, handle_errors
from curate.models.serving.config import DEFAULTS
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


@handle_errors
def serve_command(
    models: Path = typer.Option(..., "--models", help="Directory with detector/ and optionally category/ and attributes/ model directories."),
    host: str = typer.Option(DEFAULTS.host, "--host", help="Address to listen on (0.0.0.0 inside a container)."),
    port: int = typer.Option(DEFAULTS.port, "--port", help="Port to listen on (SageMaker uses 8080)."),
    workers: int = typer.Option(DEFAULTS.workers, "--workers", help="Server processes, each with its own copy of the models."),
    visualize: bool = typer.Option(False, "--visualize", help="Answer Accept: image/png with the colour-coded picture."),
    rules: str = typer.Option("all", "--rules", help="Post-processing rules to apply: all, none, or a comma list of hand_as_footwear,bare_legs."),
    max_batch: int = typer.Option(DEFAULTS.max_batch, "--max-batch", help="Images per model call."),
    max_wait_ms: float = typer.Option(DEFAULTS.max_wait_ms, "--max-wait-ms", help="How long a request waits for others to batch with."),
    max_queue: int = typer.Option(DEFAULTS.max_queue, "--max-queue", help="Requests waiting for the models; beyond it 503 with Retry-After."),
    timeout: float = typer.Option(DEFAULTS.timeout_s, "--timeout", help="Seconds per request before it gets 504."),
    max_bytes: int = typer.Option(DEFAULTS.max_bytes, "--max-bytes", help="Largest request body in bytes (413 above)."),
    max_pixels: int = typer.Option(DEFAULTS.max_pixels, "--max-pixels", help="Largest image, width x height (413 above)."),
    log_level: str = typer.Option(DEFAULTS.log_level, "--log-level", help="uvicorn log level: critical, error, warning, info (with access log) or debug."),
) -> None:
    """Serve the merged predictor over HTTP: GET /ping, POST /invocations, /health, /version, /docs.

    Example: curate serve --models models/ --port 8080 --workers 2
    """
    from curate.models.postprocess import parse_rules
    from curate.models.serving.config import ServeConfig
    from curate.models.serving.server import serve

    config = ServeConfig(
        models_dir=str(models), host=host, port=port, workers=workers, visualize=visualize, rules=tuple(parse_rules(rules)), max_batch=max_batch,
        max_wait_ms=max_wait_ms, max_queue=max_queue, timeout_s=timeout, max_bytes=max_bytes, max_pixels=max_pixels, log_level=log_level,
    )
    raise typer.Exit(serve(config))


def register(app: typer.Typer) -> None:
    app.add_typer(train_app, name="train")
    app.command("evaluate")(evaluate_command)
    app.command("predict")(predict_command)
    app.command("serve")(serve_command)
