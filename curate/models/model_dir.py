"""Model directories: everything needed to use and audit one trained stage.

  MODEL_DIR/
    model.keras           the trained Keras model (or model-<object type>.keras per object type)
    recipe.yaml           the resolved training recipe
    model.json            stage, version, label maps, thresholds, dataset and taxonomy hashes
    MODEL_CARD.md         a readable summary of the above plus the latest metrics
    evaluation/<name>/    metrics.json, metrics.md and PNG charts from `curate evaluate`
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate import __version__
from curate.dataset import IMAGES_FILE, OBJECTS_FILE, Dataset, read_dataset, staged_folder, write_text_atomic
from curate.errors import CurateError
from curate.hashing import file_sha256
from curate.models.backbones import custom_objects
from curate.models.runtime import backend_name, keras_module
from curate.recipes import RecipeModel, recipe_to_yaml
from curate.taxonomy import Taxonomy, load_taxonomy

MODEL_FILE = "model.keras"
META_FILE = "model.json"
RECIPE_FILE = "recipe.yaml"
CARD_FILE = "MODEL_CARD.md"


def dataset_identity(dataset: Dataset) -> dict[str, str]:
    """The dataset's path and a hash of both tables, so a model names exactly what it saw."""
    digest = hashlib.sha256()
    for name in (IMAGES_FILE, OBJECTS_FILE):
        digest.update(file_sha256(dataset.path / name).encode())
    return {"name": str(dataset.meta.get("name", dataset.path.name)), "path": str(dataset.path.resolve()), "sha256": digest.hexdigest()}


def load_training_inputs(dataset_path: str | Path, taxonomy_path: str | None) -> tuple[Dataset, Taxonomy]:
    return read_dataset(dataset_path), load_taxonomy(taxonomy_path)


# ---------------------------------------------------------------------------------------------
# Model directories


@dataclass
class ModelInfo:
    """The contents of model.json."""

    stage: str
    version: str
    labels: dict[str, list[str]]
    image_size: int
    backbone: str
    dataset: dict[str, str]
    taxonomy: dict[str, str]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "version": self.version,
            "labels": self.labels,
            "image_size": self.image_size,
            "backbone": self.backbone,
            "dataset": self.dataset,
            "taxonomy": self.taxonomy,
            **self.extra,
        }


def model_version(stage: str, dataset_sha: str, recipe_yaml: str) -> str:
    """A short id for one training run: stage, data, recipe and the time it finished."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    digest = hashlib.sha1(f"{stage}\x1f{dataset_sha}\x1f{recipe_yaml}".encode()).hexdigest()[:8]
    return f"{stage}-{stamp}-{digest}"


def write_model_dir(out: Path, models: dict[str, Any], info: ModelInfo, recipe: RecipeModel) -> None:
    """Save the Keras model(s), the resolved recipe, model.json and the model card."""
    out.mkdir(parents=True, exist_ok=True)
    for key, model in models.items():
        model.save(out / model_file_name(key))
    write_text_atomic(out / RECIPE_FILE, recipe_to_yaml(recipe))
    info.extra.setdefault("keras_backend", backend_name())
    info.extra.setdefault("tool_version", __version__)
    info.extra.setdefault("created_at", _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat())
    write_text_atomic(out / META_FILE, json.dumps(info.to_json(), indent=2, sort_keys=False) + "\n")
    write_model_card(out)


def save_model_dir(output: str | Path, models: dict[str, Any], info: ModelInfo, recipe: RecipeModel) -> Path:
    """Write the model directory beside `output` and swap it in whole (a failure keeps the old one)."""
    with staged_folder(output) as stage:
        write_model_dir(stage, models, info, recipe)
    return Path(output).resolve()


def model_file_name(key: str) -> str:
    """`all` is the single model over every category; other keys are object types."""
    return MODEL_FILE if key == "all" else f"model-{key}.keras"


def read_model_info(model_dir: str | Path, stage: str | None = None) -> dict[str, Any]:
    model_dir = Path(model_dir)
    path = model_dir / META_FILE
    if not path.is_file():
        raise CurateError.at(model_dir, f"not a model directory: expected {META_FILE}")
    info = json.loads(path.read_text())
    if stage is not None and info.get("stage") != stage:
        raise CurateError.at(path, f"expected a {stage} model, found '{info.get('stage')}'", field="stage")
    return info


def load_keras_models(model_dir: str | Path, info: dict[str, Any]) -> dict[str, Any]:
    """Every Keras model in the directory, keyed like `info['labels']`."""
    keras = keras_module()
    model_dir = Path(model_dir)
    custom = custom_objects()
    return {key: keras.saving.load_model(model_dir / model_file_name(key), custom_objects=custom, compile=False) for key in info["labels"]}


def update_model_json(model_dir: Path, **values: Any) -> None:
    info = read_model_info(model_dir)
    info.update(values)
    write_text_atomic(model_dir / META_FILE, json.dumps(info, indent=2) + "\n")
    write_model_card(model_dir)


def write_model_card(model_dir: Path) -> None:
    """MODEL_CARD.md: what was trained on what, with which recipe, and how well it does."""
    info = read_model_info(model_dir)
    lines = [
        f"# {info['stage']} model `{info['version']}`",
        "",
        f"- backbone: {info['backbone']} at {info['image_size']} px, Keras backend {info.get('keras_backend')}",
        f"- dataset: {info['dataset'].get('name')} (`{info['dataset'].get('path')}`, sha256 {info['dataset'].get('sha256', '')[:16]})",
        f"- taxonomy: {info['taxonomy'].get('name')} {info['taxonomy'].get('version')} (sha256 {info['taxonomy'].get('sha256', '')[:16]})",
        f"- created: {info.get('created_at')}, curate {info.get('tool_version')}",
    ]
    if "training" in info:
        t = info["training"]
        lines.append(f"- training: {t.get('epochs_run')} epochs, {t.get('wall_s', 0):.0f} s, best validation {t.get('monitor')} {t.get('best', float('nan')):.4f}")
    lines += ["", "## Labels", ""]
    for key, labels in info["labels"].items():
        lines.append(f"- {key}: {', '.join(labels)}")
    if info.get("thresholds"):
        lines += ["", "## Score thresholds (chosen on the validation split, max F1 at IoU 0.5)", "", "| class | threshold | F1 |", "|---|---|---|"]
        for name, entry in info["thresholds"].items():
            lines.append(f"| {name} | {entry['threshold']:.3f} | {entry['f1']:.3f} |")
    for name, summary in sorted(info.get("evaluations", {}).items()):
        lines += ["", f"## Evaluation on {name}", ""]
        lines += [f"- {k}: {v:.4f}" if isinstance(v, float) else f"- {k}: {v}" for k, v in summary.items()]
    lines += ["", "The resolved training recipe is in `recipe.yaml`.", ""]
    write_text_atomic(model_dir / CARD_FILE, "\n".join(lines))
