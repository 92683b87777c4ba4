"""The recipe sections the three stages share: splits, augmentation, training, model source.

Each stage's own recipe (DetectorRecipe, CategoryRecipe, AttributesRecipe) is built from these
beside the code that trains it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from curate.recipes import RecipeModel


class SplitsSection(RecipeModel):
    """Which dataset splits train, validate and test a model.

    When the dataset has no `val` split (Fashion-MNIST ships only train/test), a seeded,
    stratified `val_fraction` of the training split validates instead.
    """

    train: str = "train"
    val: str = "val"
    test: str = "test"
    val_fraction: float = Field(0.1, gt=0, lt=1)


class AugmentationSection(RecipeModel):
    """Online augmentation, run as Keras preprocessing layers inside the model (training only)."""

    flip: bool = True
    rotation: float = Field(0.1, ge=0, le=0.5)
    zoom: float = Field(0.1, ge=0, lt=1)


class TrainingSection(RecipeModel):
    batch_size: int = Field(32, gt=0)
    epochs: int = Field(20, gt=0)
    learning_rate: float = Field(1e-4, gt=0)
    lr_schedule: Literal["constant", "cosine"] = "constant"
    # Steps of linear warm-up from a tenth of the rate (a fresh head on a pretrained backbone
    # otherwise sends large early gradients into the backbone).
    warmup_steps: int = Field(0, ge=0)
    weight_decay: float = Field(0.0, ge=0)  # decoupled (AdamW) when above 0
    early_stopping_patience: int = Field(3, ge=0)
    steps_per_epoch: int | None = Field(None, gt=0)
    mixed_precision: bool = False
    seed: int = 0


class ModelSource(RecipeModel):
    """Where the weights come from: `none`, `imagenet` (or a KerasHub preset), or a local file."""

    backbone: str
    weights: str = "none"
    image_size: int | None = Field(None, gt=7)


class CropModelSection(ModelSource):
    """The image model of the two crop stages (category classifier, attribute tagger)."""

    backbone: str = "efficientnet_b0"
    fine_tune_layers: int | None = Field(None, ge=0)
    dropout: float = Field(0.5, ge=0, lt=1)


class StageRecipe(RecipeModel):
    """What every stage's recipe names: its data, where the model goes, and how it trains."""

    dataset: str
    output: str
    taxonomy: str | None = None
    splits: SplitsSection = SplitsSection()
    training: TrainingSection = TrainingSection()


class CropTrainingSection(TrainingSection):
    """A crop stage's training, in up to two phases (the usual transfer-learning recipe):

    1. `frozen_epochs` of the head alone on features the frozen backbone computes once (no
       backbone pass per epoch, so many epochs cost seconds; flips are computed once too);
    2. `epochs` of fine-tuning the backbone's top `fine_tune_layers` layers with the head.
    """

    epochs: int = Field(20, ge=0)
    frozen_epochs: int = Field(0, ge=0)
    frozen_learning_rate: float = Field(1e-3, gt=0)

    @model_validator(mode="after")
    def _some_training(self) -> "CropTrainingSection":
        if self.epochs + self.frozen_epochs == 0:
            raise ValueError("epochs and frozen_epochs are both 0: nothing would train")
        return self


class CropStageRecipe(StageRecipe):
    training: CropTrainingSection = CropTrainingSection()
    augmentation: AugmentationSection = AugmentationSection()
