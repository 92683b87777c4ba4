"""The demo recipe (recipes/demo.yaml): data, scenes, split, balance, the stages' training
sections, predict and review settings, and the `quick` overrides of `curate demo --quick`.

Unknown keys are an error; the stages' own training sections are validated by their own recipe
models before any work starts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from curate.curation.balance import BalanceRecipe
from curate.curation.split import SplitRecipe
from curate.demo.scenes import PATTERNS
from curate.errors import CurateError
from curate.models.stages import STAGES
from curate.recipes import RecipeModel, apply_overrides, parse_recipe, read_yaml
from curate.resources import recipe_path
from curate.sources.fashion_mnist import EMBEDDED_PER_CLASS
from curate.taxonomy import load_taxonomy

DEMO_RECIPE_PATH = recipe_path("demo.yaml")


class DataSettings(RecipeModel):
    fashion_mnist: Literal["auto", "full", "embedded"] = "auto"
    train_per_class: int = Field(EMBEDDED_PER_CLASS["train"], ge=1)
    test_per_class: int = Field(EMBEDDED_PER_CLASS["test"], ge=1)


class SceneSettings(RecipeModel):
    flat_lays: dict[Literal["train", "test"], int] = {"train": 2000, "test": 400}
    outfits: dict[Literal["train", "test"], int] = {"train": 600, "test": 150}
    pattern_share: float = Field(0.5, ge=0, le=1)
    patterns: list[str] = list(PATTERNS)
    flat_lay_px: int = Field(224, ge=64)
    outfit_px: int = Field(256, ge=128)

    @field_validator("patterns")
    @classmethod
    def _known_patterns(cls, value: list[str]) -> list[str]:
        taxonomy_patterns = set(load_taxonomy().patterns)
        unknown = [p for p in value if p not in PATTERNS or p not in taxonomy_patterns]
        if unknown:
            raise ValueError(f"no renderer or no taxonomy pattern for {unknown}; known: {', '.join(PATTERNS)}")
        return value


class PredictSettings(RecipeModel):
    images: int = Field(6, ge=1)


class ReviewSettings(RecipeModel):
    name: str = "curate-demo"


# The dataset (and the step making it) each stage trains on. Balancing by object type serves the
# detector; the category classifier weighs its own classes and learns from upright garments, as
# gold shows them, rather than from the rotated copies. Patterns read the same at any angle, so
# the tagger gains from the copies.
TRAINING_DATA = {"detector": ("balanced", "balance"), "category": ("split", "split"), "attributes": ("balanced", "balance")}


class DemoRecipe(RecipeModel):
    name: str = "demo"
    seed: int = 0
    executor: Literal["serial", "local"] = "local"
    workers: int = Field(2, ge=1)
    data: DataSettings = DataSettings()
    scenes: SceneSettings = SceneSettings()
    split: SplitRecipe = SplitRecipe()
    balance: BalanceRecipe = BalanceRecipe()
    # Per stage: the stage's own training recipe minus dataset and output (the demo fills them).
    train: dict[Literal["detector", "category", "attributes"], dict[str, Any]] = {}
    predict: PredictSettings = PredictSettings()
    review: ReviewSettings = ReviewSettings()
    # Dotted overrides applied by --quick (validated like any other key once applied).
    quick: dict[str, Any] = {}


def stage_recipe(recipe: DemoRecipe, stage: str, dataset: Path, output: Path, file: str = "recipes/demo.yaml"):
    """The stage's training recipe (validated by its own model, unknown keys forbidden)."""
    model = STAGES[stage].recipe
    doc = {**recipe.train.get(stage, {}), "dataset": str(dataset), "output": str(output)}
    return parse_recipe(model, doc, f"{file}: train.{stage}")


def load_demo_recipe(path: Path | None = None, quick: bool = False, overrides: list[str] | None = None) -> DemoRecipe:
    """Read recipes/demo.yaml, apply its `quick` overrides when asked, then `--set` overrides.

    The stages' training sections are checked here too, so a wrong key fails before any work
    starts.
    """
    path = Path(path or DEMO_RECIPE_PATH)
    doc = read_yaml(path)
    if not isinstance(doc, dict):
        raise CurateError.at(path, "a recipe must be a YAML mapping")
    recipe = parse_recipe(DemoRecipe, doc, str(path))
    if quick:
        doc = apply_overrides(doc, [f"{k}={json.dumps(v)}" for k, v in recipe.quick.items()], f"{path}: quick")
    doc = apply_overrides(doc, overrides)
    recipe = parse_recipe(DemoRecipe, doc, str(path))
    for stage in STAGES:
        stage_recipe(recipe, stage, Path("-"), Path("-"), str(path))
    return recipe
