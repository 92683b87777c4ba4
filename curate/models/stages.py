"""The three stages by name: each one's training recipe, its trainer and what follows training.

One explicit registry for everything that picks a stage by name (`curate train`, the demo):

    detector    DetectorRecipe, train_detector
    category    CategoryRecipe, train_category; then evaluated on the test split, when there is one
    attributes  AttributesRecipe, train_attributes

The evaluators are in `curate.models.evaluate` (EVALUATORS), which imports the stages.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from curate.dataset import read_dataset
from curate.models.classifier import CategoryRecipe, train_category
from curate.models.detector import DetectorRecipe, train_detector
from curate.models.evaluate import evaluate_model
from curate.models.recipe import StageRecipe
from curate.models.tagger import AttributesRecipe, train_attributes


@dataclass(frozen=True)
class Stage:
    recipe: type[StageRecipe]
    train: Callable[[StageRecipe, str], Path]
    evaluate_on_test: bool = False  # evaluate on the recipe's test split right after training


STAGES: dict[str, Stage] = {
    "detector": Stage(DetectorRecipe, train_detector),
    "category": Stage(CategoryRecipe, train_category, evaluate_on_test=True),
    "attributes": Stage(AttributesRecipe, train_attributes),
}


def train_stage(stage: str, recipe: StageRecipe, recipe_file: str = "recipe") -> Path:
    """Train one stage from its validated recipe; returns the model directory."""
    spec = STAGES[stage]
    out = spec.train(recipe, recipe_file)
    if spec.evaluate_on_test and (read_dataset(recipe.dataset).images["split"] == recipe.splits.test).any():
        # a report beside the model; storing a FiftyOne run is `curate evaluate`'s job
        evaluate_model(stage, out, recipe.dataset, recipe.splits.test, fiftyone=False)
    return out
