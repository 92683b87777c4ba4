"""`curate build RECIPE.yaml`: import -> remap -> hand boxes -> filter -> flat-lay -> autobox -> dedup -> split -> balance -> report.

The recipe is validated whole (unknown keys rejected, with their names) before any work starts.
The new dataset is built in a staging directory and swapped in only when every operation succeeded,
so a failed or interrupted build leaves the previous dataset exactly as it was. Seeds and sorted
rows make a re-run produce byte-identical tables.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import Field, model_validator

from curate.annotation import boxes_from_file
from curate.curation import imbalance, imbalance_report, operations
from curate.curation.balance import BalanceRecipe
from curate.curation.dedup import DedupRecipe
from curate.curation.split import SplitRecipe
from curate.dataset import carry_files, check_not_input, check_target, read_dataset, rebase_paths, save_tables, staged_dataset, write_text_atomic
from curate.errors import CurateError
from curate.parallel import Executor
from curate.recipes import RecipeModel, load_recipe
from curate.sources.importer import checked_options, read_source
from curate.taxonomy import DEFAULT_TAXONOMY_PATH, load_taxonomy


class InputRecipe(RecipeModel):
    """One input: a public source read by its importer, or an existing curate dataset."""

    source: str | None = Field(None, description="importer name, e.g. deepfashion2, fashion-mnist, coco")
    dataset: str | None = Field(None, description="an existing curate dataset directory")
    path: str | None = None
    mapping: str | None = None
    on_error: Literal["fail", "skip"] = "skip"
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_kind(self) -> "InputRecipe":
        if (self.source is None) == (self.dataset is None):
            raise ValueError("give either 'source' (with 'path') or 'dataset'")
        if self.source is not None and self.path is None:
            raise ValueError(f"source '{self.source}' needs a 'path'")
        if self.source is not None:
            try:  # each option against the type the source's reader declares
                self.options = checked_options(self.source, self.options)
            except CurateError as exc:
                raise ValueError(str(exc)) from None
        return self


class BoxesRecipe(RecipeModel):
    """Hand-drawn boxes for the imported images: a box table or a folder of labelImg VOC files.

    Boxes labelled with an object type only carry no category: keep them with
    `filter.drop_unlabelled: false`."""

    path: str
    units: Literal["rel", "px"] = "rel"
    key_column: str | None = Field(None, description="the table's image key column (default: image, source_id, id, file, filename or image_id)")
    on_error: Literal["fail", "skip"] = "fail"


class FilterRecipe(RecipeModel):
    object_types: list[str] | None = Field(None, description="keep only these object types")
    categories: list[str] | None = Field(None, description="keep only these categories")
    exclude_categories: list[str] = Field(default_factory=list)
    drop_unlabelled: bool = Field(True, description="drop objects without a category")
    drop_images_without_objects: bool = True


class Switch(RecipeModel):
    """A recipe section that can be turned off (`enabled: false`)."""

    enabled: bool = True


class AutoboxRecipe(Switch):
    split_pairs: bool = False


class DedupSection(DedupRecipe, Switch):
    pass


class BalanceSection(BalanceRecipe, Switch):
    pass


class ReportRecipe(Switch):
    charts: bool = True


class BuildRecipe(RecipeModel):
    """A whole dataset build."""

    name: str
    output: str
    taxonomy: str = str(DEFAULT_TAXONOMY_PATH)
    inputs: list[InputRecipe] = Field(min_length=1)
    remap: dict[str, str] = Field(default_factory=dict, description="category -> category, e.g. merge tanks into t-shirts")
    boxes: list[BoxesRecipe] = Field(default_factory=list, description="hand boxes merged in after the import and remap (see `curate boxes import`)")
    filter: FilterRecipe = Field(default_factory=FilterRecipe)
    flat_lay: Switch = Field(default_factory=Switch)
    autobox: AutoboxRecipe = Field(default_factory=AutoboxRecipe)
    dedup: DedupSection = Field(default_factory=DedupSection)
    split: SplitRecipe = Field(default_factory=SplitRecipe)
    balance: BalanceSection = Field(default_factory=BalanceSection)
    report: ReportRecipe = Field(default_factory=ReportRecipe)


def load_build_recipe(path: str | Path, overrides: list[str] | None = None) -> BuildRecipe:
    return load_recipe(BuildRecipe, path, overrides)


# ---------------------------------------------------------------------------------------------


def import_inputs(recipe: BuildRecipe, stage: Path, executor: Executor, taxonomy) -> tuple[pd.DataFrame, pd.DataFrame, list[dict]]:
    """Read every input into one pair of tables whose paths resolve against the stage."""
    images, objects, reports = [], [], []
    for item in recipe.inputs:
        if item.dataset is not None:
            ds = read_dataset(item.dataset)
            carry_files(ds.path, stage)
            images.append(rebase_paths(ds.images, ds.path, stage))
            objects.append(ds.objects)
            reports.append({"dataset": item.dataset, "images": len(ds.images)})
            continue
        # Source media (e.g. Fashion-MNIST PNGs) are written into the stage; rows hold their paths.
        found, found_objects, report = read_source(item.source, item.path, stage, on_error=item.on_error, mapping=item.mapping, executor=executor, taxonomy=taxonomy, **item.options)
        images.append(found)
        objects.append(found_objects)
        reports.append(report["provenance"] | {key: value for key, value in report.items() if key not in ("provenance", "source", "path")})
    return pd.concat(images, ignore_index=True), pd.concat(objects, ignore_index=True), reports


def remap_categories(objects: pd.DataFrame, remap: dict[str, str], taxonomy) -> pd.DataFrame:
    unknown = sorted({c for pair in remap.items() for c in pair if c not in taxonomy.categories})
    if unknown:
        raise CurateError.at("recipe", f"unknown categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}", field="remap")
    objects = objects.copy()
    objects["category"] = objects["category"].replace(remap)
    objects["object_type"] = objects["category"].map(lambda c: taxonomy.object_type_of(c) if isinstance(c, str) else None).where(objects["category"].notna(), objects["object_type"])
    return objects


def filter_tables(images: pd.DataFrame, objects: pd.DataFrame, recipe: FilterRecipe) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    keep = pd.Series(True, index=objects.index)
    if recipe.drop_unlabelled:
        keep &= objects["category"].notna()
    if recipe.object_types is not None:
        keep &= objects["object_type"].isin(recipe.object_types)
    if recipe.categories is not None:
        keep &= objects["category"].isin(recipe.categories)
    keep &= ~objects["category"].isin(recipe.exclude_categories)
    objects = objects[keep].reset_index(drop=True)
    before = len(images)
    if recipe.drop_images_without_objects:
        images = images[images["image_id"].isin(objects["image_id"])].reset_index(drop=True)
    return images, objects, {"dropped_objects": int((~keep).sum()), "dropped_images": before - len(images)}


def drop_unreadable(images: pd.DataFrame, objects: pd.DataFrame, unreadable: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame, list[dict]]:
    """Leave images that cannot be decoded out of the built dataset (they are listed in the report)."""
    bad = {item["image_id"] for item in unreadable}
    return images[~images["image_id"].isin(bad)].reset_index(drop=True), objects[~objects["image_id"].isin(bad)].reset_index(drop=True), unreadable


def run_build(recipe: BuildRecipe, executor: Executor, overwrite: bool = False) -> dict[str, Any]:
    """Run every enabled operation into a new generation of `recipe.output`; it becomes the
    dataset there on success. An existing dataset there is replaced only with `overwrite`; an
    output that is an input, or inside or around one, is refused."""
    inputs = [item.path or item.dataset for item in recipe.inputs if item.path or item.dataset]
    check_not_input(recipe.output, inputs, option="output")
    check_target(recipe.output, overwrite=overwrite, option="output")
    taxonomy = load_taxonomy(Path(recipe.taxonomy))
    report: dict[str, Any] = {}
    with staged_dataset(recipe.output, overwrite=overwrite) as stage:
        images, objects, report["import"] = import_inputs(recipe, stage, executor, taxonomy)
        objects = remap_categories(objects, recipe.remap, taxonomy)
        for item in recipe.boxes:
            objects, _, boxed = boxes_from_file(images, objects, item.path, units=item.units, key=item.key_column, on_error=item.on_error, taxonomy=taxonomy)
            report.setdefault("boxes", []).append(boxed)
        images, objects, report["filter"] = filter_tables(images, objects, recipe.filter)
        if recipe.flat_lay.enabled:
            images, report["flat_lay"] = operations.mark_flat_lays(images, stage, executor)
            images, objects, report["skipped_unreadable"] = drop_unreadable(images, objects, report["flat_lay"]["unreadable"])
        if recipe.autobox.enabled:
            objects, report["autobox"] = operations.autobox_objects(images, objects, stage, executor, recipe.autobox.split_pairs)
        if recipe.dedup.enabled:
            images, objects, report["dedup"] = operations.dedup_images(images, objects, stage, executor, DedupRecipe(**recipe.dedup.model_dump(exclude={"enabled"})))
        images, report["split"] = operations.split_images(images, objects, recipe.split)
        before = imbalance.dataset_reports(images, objects, split="train")
        if recipe.balance.enabled:
            images, objects, report["balance"] = operations.balance_training_split(images, objects, stage, stage, executor, BalanceRecipe(**recipe.balance.model_dump(exclude={"enabled"})))
        if recipe.report.enabled:
            after = imbalance.dataset_reports(images, objects, split="train")
            imbalance_report.write_reports(after, stage / "reports", f"{recipe.name}: training split", before=before, charts=recipe.report.charts)
        write_text_atomic(stage / "reports" / "build.json", json.dumps(report, indent=2, default=str) + "\n")
        meta = {"name": recipe.name, "recipe": recipe.model_dump(mode="json"), "sources": report["import"]}
        save_tables(stage, images, objects, meta, taxonomy)
    return report
