"""`curate demo`: the whole toolkit on rendered Fashion-MNIST product shots, end to end.

The run is a fixed list of steps (DEMO_STEPS). Each step names the toolkit functions it calls
(`needs`) and the earlier steps whose outputs it reads (`after`). A step is skipped and its
stored figures reused when its key (its recipe settings, the code, and the content hashes of
what it reads) matches the last run and its outputs are still there, so a second run with the
same recipe reuses everything and prints the same tables. A step whose toolkit function is not
installed is reported as missing, and the steps that depend on it as blocked: nothing is faked.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
from pydantic import Field, field_validator

from curate import __version__
from curate.curation.balance import BalanceRecipe
from curate.dataset import IMAGES_FILE, OBJECTS_FILE, derive_dataset, read_dataset, save_tables, staged_dataset, value_counts, write_text_atomic
from curate.errors import CurateError
from curate.sources.fashion_mnist import EMBEDDED_PER_CLASS, EMBEDDED_SEED, locate_fashion_mnist, write_subset
from curate.models.stages import STAGES, train_stage
from curate.parallel import Executor, make_executor
from curate.recipes import RecipeModel, apply_overrides, parse_recipe, read_yaml, recipe_to_yaml
from curate.resources import recipe_path
from curate.scenes import PATTERNS
from curate.curation.split import SplitRecipe
from curate.taxonomy import load_taxonomy

DEMO_RECIPE_PATH = recipe_path("demo.yaml")
STATE_FILE = "demo-state.json"
SUMMARY_FILE = "summary.json"


# ---------------------------------------------------------------------------------------------
# The recipe


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

    The stages' training sections are checked here too, when the model code is installed, so
    a wrong key fails before any work starts.
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


# ---------------------------------------------------------------------------------------------
# Steps


@dataclass
class StepOutcome:
    name: str
    title: str
    status: str  # done | reused | failed | missing | blocked
    seconds: float = 0.0
    figures: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    note: str = ""
    key: str = ""
    output_hash: str = ""


@dataclass
class DemoContext:
    recipe: DemoRecipe
    out: Path
    executor: Executor
    outcomes: dict[str, StepOutcome] = field(default_factory=dict)

    def path(self, *parts: str) -> Path:
        return self.out.joinpath(*parts)


@dataclass(frozen=True)
class Step:
    name: str
    title: str
    run: Callable[[DemoContext], tuple[dict, dict]] | None  # -> (figures, artifacts)
    needs: tuple[str, ...] = ()  # "module:function" the step calls
    after: tuple[str, ...] = ()  # steps whose outputs it reads
    uses: tuple[str, ...] = ()  # steps whose outputs it reads when they succeeded (not required)
    settings: Callable[[DemoRecipe], Any] = lambda r: None  # the recipe part that shapes it
    outputs: tuple[str, ...] = ()  # paths under the demo folder
    # For outputs that live outside the folder (the FiftyOne dataset): are they still there?
    still_there: Callable[[DemoContext], bool] = lambda ctx: True


def missing_needs(needs: tuple[str, ...]) -> list[str]:
    """The `module:function` entries that cannot be imported (pieces not installed yet)."""
    missing = []
    for need in needs:
        module_name, _, attr = need.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            missing.append(need)
            continue
        if attr and not hasattr(module, attr):
            missing.append(need)
    return missing


def _content_files(path: Path) -> list[Path]:
    """The files that define a step output's content.

    For a dataset folder that is its two tables: they are byte-identical for the same content
    and hold every image's sha256, whereas dataset.yaml carries a creation time.
    """
    if not path.is_dir():
        return [path]
    tables = [path / IMAGES_FILE, path / OBJECTS_FILE]
    if all(t.exists() for t in tables):
        return tables
    return sorted(p for p in path.rglob("*") if p.is_file())


def hash_paths(paths: list[Path]) -> str:
    """Content hash of files, and of the content files under folders, by relative name and bytes."""
    digest = hashlib.sha256()
    for path in paths:
        files = _content_files(path)
        for file in files:
            if file.name == STATE_FILE or any(part.startswith(".") for part in file.parts[-2:]):
                continue
            digest.update(str(file.relative_to(path.parent)).encode())
            digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def code_hash() -> str:
    """Hash of the installed curate sources: changed code re-runs every step."""
    root = Path(__file__).resolve().parent
    return hash_paths(sorted(root.rglob("*.py")))[:16]


# ---- data and import -------------------------------------------------------------------------


def step_data(ctx: DemoContext) -> tuple[dict, dict]:
    """Pick the stratified subset (from the full set when installed) and write it as IDX files."""
    settings = ctx.recipe.data
    location = locate_fashion_mnist(settings.fashion_mnist)
    if location.kind == "embedded" and (
        settings.train_per_class > EMBEDDED_PER_CLASS["train"] or settings.test_per_class > EMBEDDED_PER_CLASS["test"]
    ):
        raise CurateError(
            f"the embedded Fashion-MNIST subset holds {EMBEDDED_PER_CLASS} images per class; "
            "install dataset-fashion-mnist or run `curate fetch fashion-mnist` for more"
        )
    target = ctx.path("inputs", "fashion-mnist")
    per_class = {"train": settings.train_per_class, "test": settings.test_per_class}
    counts = write_subset(location.folder, target, per_class, EMBEDDED_SEED)
    figures = {"fashion_mnist": location.kind, "items_train": counts["train"], "items_test": counts["test"]}
    return figures, {"Fashion-MNIST subset (IDX)": str(target)}


def step_import(ctx: DemoContext) -> tuple[dict, dict]:
    from curate.sources.importer import import_to_dataset

    target = ctx.path("datasets", "items")
    report = import_to_dataset("fashion-mnist", ctx.path("inputs", "fashion-mnist"), target, executor=ctx.executor)
    figures = {
        "images_read": int(report["read"]["images"]),
        "garments_mapped": int(report["mapped"]),
        "dropped": {f"{label} ({rule})": n for (label, n), rule in zip(report["dropped_labels"].items(), report["dropped_by_rule"])},
        "unmapped": int(sum(report["unmapped_labels"].values())),
    }
    return figures, {"imported items": str(target), "import report": str(target / "reports" / "import.json")}


# ---- rendering -------------------------------------------------------------------------------


def step_render(ctx: DemoContext) -> tuple[dict, dict]:
    import cv2

    from curate.demo_scenes import _items_table, contact_sheet, plan_scenes, scenes_to_tables, write_scene

    items_ds = read_dataset(ctx.path("datasets", "items"))
    items = _items_table(items_ds)
    settings = ctx.recipe.scenes

    def read_pixels(relative: str) -> bytes:
        pixels = cv2.imread(str(items_ds.image_path(relative)), cv2.IMREAD_GRAYSCALE)
        if pixels is None or pixels.shape != (28, 28):
            raise CurateError.at(items_ds.image_path(relative), "expected a 28x28 Fashion-MNIST PNG")
        return pixels.tobytes()

    target = ctx.path("datasets", "scenes")
    with staged_dataset(target) as stage:
        specs = plan_scenes(
            items, read_pixels, settings.flat_lays, settings.outfits, ctx.recipe.seed,
            settings.flat_lay_px, settings.outfit_px, settings.pattern_share, tuple(settings.patterns), stage,
        )
        results = ctx.executor.map(write_scene, specs, "rendering scenes", chunksize=32)
        images, objects = scenes_to_tables(specs, results, items)
        save_tables(stage, images, objects, {"name": "scenes", "sources": [{"source": "fashion-mnist", "path": str(ctx.path("datasets", "items"))}]}, load_taxonomy())
    sheet = contact_sheet(target, images, objects, ctx.path("pictures", "scenes.png"))
    scenes = images["scene"].value_counts()
    figures = {
        "flat_lays": int(scenes.get("flat-lay", 0)),
        "outfits": int(scenes.get("outfit", 0)),
        "objects": int(len(objects)),
        "patterned_objects": int(objects["pattern"].notna().sum()),
    }
    return figures, {"rendered scenes": str(target), "scenes with exact boxes (PNG)": str(sheet)}


# ---- flat-lays, auto-boxing, imbalance ----------------------------------------------------------


SCENE_ONLY_COLUMNS = ("gt_x_min", "gt_y_min", "gt_x_max", "gt_y_max", "mask_path", "mask_value")


def derived_dataset(ctx: DemoContext, source: str, target: str, work: Callable[[Any, Path], tuple], name: str | None = None) -> tuple[Path, dict]:
    """datasets/<target> derived from datasets/<source> by `work(dataset, stage)`, with the media
    of the source hard-linked in (so relative paths stay valid) and the taxonomy checked."""
    return derive_dataset(ctx.path("datasets", source), target, work, ctx.path("datasets", target), name=name or target, taxonomy=load_taxonomy())


def exact_box_ious(objects) -> np.ndarray:
    """IoU of each auto-drawn box with the exact box the renderer recorded for that object."""
    from curate.dataset import BOX_COLUMNS
    from curate.demo_scenes import GT_COLUMNS
    from curate.geometry import iou_xyxy

    canny = objects[objects["box_origin"] == "canny"]
    proposed = canny[list(BOX_COLUMNS)].to_numpy(np.float64)
    exact = canny[list(GT_COLUMNS)].to_numpy(np.float64)
    return np.array([iou_xyxy(p, e)[0, 0] for p, e in zip(proposed, exact)])


def step_autobox(ctx: DemoContext) -> tuple[dict, dict]:
    from curate.curation import operations
    from curate.curation.autobox import iou_summary

    def work(ds, stage):
        images, flat = operations.mark_flat_lays(ds.images, ds.path, ctx.executor, only_missing=False)
        objects, report = operations.autobox_objects(images, ds.objects, ds.path, ctx.executor)
        report["flat_lay"] = flat
        report["iou_vs_exact"] = iou_summary(exact_box_ious(objects))
        return images, objects, report

    path, report = derived_dataset(ctx, "scenes", "boxed", work)
    qa = report["iou_vs_exact"]
    figures = {
        "flat_lays_detected": f"{report['flat_lay']['flat_lay']}/{report['flat_lay']['checked']}",
        "auto_boxed": int(report["boxed_objects"]),
        "no_proposal": len(report["no_proposal"]),
        "iou_median": round(qa["median"], 4),
        "iou_share_ge_0.9": round(qa["share_iou_ge_0.9"], 4),
        "iou_p05": round(qa["p05"], 4),
    }
    return figures, {"auto-boxed dataset": str(path), "auto-box IoU report": str(path / "reports" / "boxed.json")}


def imbalance_headline(reports: dict) -> dict[str, dict[str, float]]:
    """MeanIR and SCUMBLE of the views the summary shows."""
    headline = {}
    for view, label in (("object_type", "object types"), ("category", "categories"), ("attribute pattern", "patterns")):
        if view in reports:
            headline[label] = {"MeanIR": round(reports[view].mean_ir, 4), "SCUMBLE": round(reports[view].scumble, 4)}
    return headline


def step_report_before(ctx: DemoContext) -> tuple[dict, dict]:
    from curate.curation.imbalance import dataset_reports
    from curate.curation.imbalance_report import write_reports

    ds = read_dataset(ctx.path("datasets", "boxed"))
    reports = dataset_reports(ds.images, ds.objects)
    folder = ctx.path("reports", "imbalance-before")
    write_reports(reports, folder, "Rendered scenes before splitting and balancing")
    return imbalance_headline(reports), {"imbalance report (before)": str(folder / "imbalance.md"), "imbalance chart": str(folder / "imbalance-object_type.png")}


def step_split(ctx: DemoContext) -> tuple[dict, dict]:
    from curate.curation import operations

    def work(ds, stage):
        images = ds.images.copy()
        # Gold is every scene made from official test items, and nothing else.
        images["split"] = images["official_split"].map({"test": "gold"}).astype(object)
        images["split"] = images["split"].where(images["split"].notna(), None)
        images, report = operations.split_images(images, ds.objects, ctx.recipe.split)
        return images, ds.objects, report

    path, report = derived_dataset(ctx, "boxed", "split", work)
    images = read_dataset(path).images
    figures = {"images": value_counts(images, "split"), "max_share_gap_points": max(report["max_share_gap_points"].values(), default=0.0)}
    return figures, {"split dataset": str(path)}


def step_balance(ctx: DemoContext) -> tuple[dict, dict]:
    from curate.curation import operations

    def work(ds, stage):
        # Exact masks and boxes describe the rendered pixels; rotated copies would make them wrong.
        objects = ds.objects.drop(columns=[c for c in SCENE_ONLY_COLUMNS if c in ds.objects.columns])
        return operations.balance_training_split(ds.images, objects, ds.path, stage, ctx.executor, ctx.recipe.balance)

    # Named after the FiftyOne dataset it becomes, so `curate review` and the evaluation's FP/FN
    # views find it under the demo's name.
    path, report = derived_dataset(ctx, "split", "balanced", work, name=ctx.recipe.review.name)
    figures = {
        "augmented_images": int(report["augmented_images"]),
        "groups_before": report["counts_before"],
        "groups_after": report["counts_after"],
        "ir_after": round(report["ir_after"], 4) if report["ir_after"] else None,
    }
    return figures, {"balanced dataset": str(path)}


def step_report_after(ctx: DemoContext) -> tuple[dict, dict]:
    from curate.curation.imbalance import dataset_reports
    from curate.curation.imbalance_report import write_reports

    before_ds, after_ds = read_dataset(ctx.path("datasets", "split")), read_dataset(ctx.path("datasets", "balanced"))
    before = dataset_reports(before_ds.images, before_ds.objects, "train")
    after = dataset_reports(after_ds.images, after_ds.objects, "train")
    folder = ctx.path("reports", "imbalance-after")
    write_reports(after, folder, "Training split after balancing", before=before)
    b, a = imbalance_headline(before), imbalance_headline(after)
    figures = {view: {k: f"{b[view][k]} -> {a[view][k]}" for k in ("MeanIR", "SCUMBLE")} for view in a if view in b}
    return figures, {"imbalance report (after)": str(folder / "imbalance.md")}


# ---- models --------------------------------------------------------------------------------------


def train_model(ctx: DemoContext, stage: str) -> tuple[dict, dict]:
    output = ctx.path("models", stage)
    recipe = stage_recipe(ctx.recipe, stage, ctx.path("datasets", TRAINING_DATA[stage][0]), output)
    train_stage(stage, recipe, "recipes/demo.yaml")
    info = json.loads((output / "model.json").read_text())
    run = info.get("training", {})
    figures = {
        "train_examples": run.get("train_examples"),
        "val_examples": run.get("val_examples"),
        "epochs_run": run.get("epochs_run"),
        f"best {run.get('monitor', 'monitor')}": round(float(run.get("best", float("nan"))), 4),
    }
    return figures, {f"{stage} model": str(output)}


def step_train_detector(ctx: DemoContext) -> tuple[dict, dict]:
    return train_model(ctx, "detector")


def step_train_category(ctx: DemoContext) -> tuple[dict, dict]:
    return train_model(ctx, "category")


def step_train_attributes(ctx: DemoContext) -> tuple[dict, dict]:
    return train_model(ctx, "attributes")


def evaluate_stage(ctx: DemoContext, stage: str) -> tuple[dict, dict]:
    """One stage on gold; the detector's boxes also become a FiftyOne evaluation run."""
    from curate.models.evaluate import SUMMARY_KEYS, evaluate_model

    metrics, report = evaluate_model(stage, ctx.path("models", stage), ctx.path("datasets", "balanced"), "gold")
    figures = {k: round(metrics[k], 4) if isinstance(metrics[k], float) else metrics[k] for k in SUMMARY_KEYS[stage] if k in metrics}
    if "fiftyone" in metrics:  # the detector's run in FiftyOne, with its FP/FN views
        run = metrics["fiftyone"]
        figures["fiftyone run"] = f"{run['eval_key']}: precision {run['precision']:.4f}, recall {run['recall']:.4f}" if run["stored"] else run["reason"]
    return figures, {f"{stage} gold report": str(report / "metrics.md")}


def step_evaluate_detector(ctx: DemoContext) -> tuple[dict, dict]:
    return evaluate_stage(ctx, "detector")


def step_evaluate_category(ctx: DemoContext) -> tuple[dict, dict]:
    return evaluate_stage(ctx, "category")


def step_evaluate_attributes(ctx: DemoContext) -> tuple[dict, dict]:
    return evaluate_stage(ctx, "attributes")


def step_predict(ctx: DemoContext) -> tuple[dict, dict]:
    """The merged predictor on the first gold outfits: JSON and pictures with coloured boxes."""
    import os
    import shutil

    from curate.models.postprocess import RULES
    from curate.models.predictor import predict_to_file

    ds = read_dataset(ctx.path("datasets", "balanced"))
    gold = ds.images[(ds.images["split"] == "gold") & (ds.images["scene"] == "outfit")].sort_values("image_id")
    chosen = gold.head(ctx.recipe.predict.images)
    inputs = ctx.path("predict", "gold-images")
    shutil.rmtree(inputs, ignore_errors=True)
    inputs.mkdir(parents=True)
    for row in chosen.itertuples():
        os.link(ds.image_path(row.path), inputs / f"{row.image_id}.png")
    out = ctx.path("predict", "predictions.json")
    summary = predict_to_file(inputs, ctx.path("models"), out, ctx.path("predict", "visualised"), list(RULES))
    figures = {"images": summary["images"], "objects": summary["objects"], "removed_by_rules": summary["removed"]}
    return figures, {"predictions (JSON)": str(out), "predicted outfits (PNG)": str(ctx.path("predict", "visualised"))}


# ---- review ------------------------------------------------------------------------------------


def step_review(ctx: DemoContext) -> tuple[dict, dict]:
    """Mirror the balanced dataset into FiftyOne with its saved views (only what changed)."""
    from curate.review import import_fiftyone, send_dataset

    path = ctx.path("datasets", "balanced")
    report = send_dataset(path, name=ctx.recipe.review.name)
    fo_dataset = import_fiftyone().load_dataset(report.name)
    figures = {"fiftyone_dataset": report.name, "samples": len(fo_dataset), "saved_views": ", ".join(sorted(fo_dataset.list_saved_views()))}
    return figures, {"FiftyOne dataset (curate review)": str(path)}


def review_dataset_exists(ctx: DemoContext) -> bool:
    from curate.review import import_fiftyone

    return import_fiftyone().dataset_exists(ctx.recipe.review.name)


DEMO_STEPS: tuple[Step, ...] = (
    Step("data", "Fashion-MNIST subset", step_data, settings=lambda r: r.data.model_dump(), outputs=("inputs/fashion-mnist",)),
    Step(
        "import", "import with the taxonomy mapping", step_import,
        needs=("curate.sources.importer:import_to_dataset",), after=("data",), outputs=("datasets/items",),
    ),
    Step(
        "render", "render flat-lays and outfits, draw patterns", step_render,
        after=("import",), settings=lambda r: (r.seed, r.scenes.model_dump()), outputs=("datasets/scenes",),
    ),
    Step(
        "autobox", "flat-lay detection + Canny auto-boxing, IoU vs exact boxes", step_autobox,
        needs=("curate.curation.operations:mark_flat_lays", "curate.curation.operations:autobox_objects", "curate.curation.autobox:iou_summary"),
        after=("render",), outputs=("datasets/boxed",),
    ),
    Step(
        "report_before", "imbalance report", step_report_before,
        needs=("curate.curation.imbalance_report:write_reports",), after=("autobox",), outputs=("reports/imbalance-before/imbalance.json",),
    ),
    Step(
        "split", "split (gold from the official test images only)", step_split,
        needs=("curate.curation.operations:split_images",), after=("autobox",), settings=lambda r: r.split.model_dump(), outputs=("datasets/split",),
    ),
    Step(
        "balance", "augmentation balancing", step_balance,
        needs=("curate.curation.operations:balance_training_split",), after=("split",), settings=lambda r: r.balance.model_dump(), outputs=("datasets/balanced",),
    ),
    Step(
        "report_after", "imbalance report after balancing (train split)", step_report_after,
        needs=("curate.curation.imbalance_report:write_reports",), after=("split", "balance"), outputs=("reports/imbalance-after/imbalance.json",),
    ),
    Step(
        "review", "FiftyOne dataset with saved views", step_review,
        needs=("curate.review:send_dataset",), after=("balance",),
        settings=lambda r: r.review.model_dump(),
        still_there=review_dataset_exists,
    ),
    *(
        Step(
            f"train_{stage}", f"train the {title} briefly", train,
            needs=("curate.models.stages:train_stage",), after=(TRAINING_DATA[stage][1],),
            # Only the weights: evaluation later writes its reports into the same folder.
            settings=lambda r, stage=stage: r.train.get(stage, {}), outputs=(f"models/{stage}/*.keras",),
        )
        for stage, title, train in (
            ("detector", "detector", step_train_detector),
            ("category", "category classifier", step_train_category),
            ("attributes", "attribute tagger", step_train_attributes),
        )
    ),
    *(
        Step(
            f"evaluate_{stage}", f"evaluate the {title} on gold", evaluate,
            needs=("curate.models.evaluate:evaluate_model",), after=(f"train_{stage}",), uses=("review",),
            outputs=(f"models/{stage}/evaluation/*-gold/metrics.json",),
        )
        for stage, title, evaluate in (
            ("detector", "detector", step_evaluate_detector),
            ("category", "category classifier", step_evaluate_category),
            ("attributes", "attribute tagger", step_evaluate_attributes),
        )
    ),
    Step(
        "predict", "predict JSON + coloured visualisations", step_predict,
        needs=("curate.models.predictor:predict_to_file",), after=("train_detector",), uses=("train_category", "train_attributes"),
        settings=lambda r: r.predict.model_dump(), outputs=("predict/predictions.json",),
    ),
)


# ---------------------------------------------------------------------------------------------
# Running


def _load_state(out: Path) -> dict[str, dict]:
    path = out / STATE_FILE
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}  # a damaged state only costs a full re-run


def ran(outcome: StepOutcome) -> bool:
    return outcome.status in ("done", "reused")


def step_key(step: Step, ctx: DemoContext, code: str) -> str:
    upstream = [ctx.outcomes[name].output_hash for name in step.after]
    upstream += [ctx.outcomes[name].output_hash if ran(ctx.outcomes[name]) else "absent" for name in step.uses]
    doc = {"step": step.name, "settings": step.settings(ctx.recipe), "upstream": upstream, "code": code, "version": __version__}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def run_step(step: Step, ctx: DemoContext, state: dict[str, dict], code: str) -> StepOutcome:
    blocked = [name for name in step.after if not ran(ctx.outcomes[name])]
    if blocked:
        return StepOutcome(step.name, step.title, "blocked", note=f"waits for: {', '.join(blocked)}")
    missing = missing_needs(step.needs) if step.needs else []
    if missing or step.run is None:
        return StepOutcome(step.name, step.title, "missing", note=f"not installed: {', '.join(missing or step.needs)}")
    key = step_key(step, ctx, code)
    outputs = [match for pattern in step.outputs for match in (sorted(ctx.out.glob(pattern)) if "*" in pattern else [ctx.path(pattern)])]
    previous = state.get(step.name)
    outputs_there = all(p.exists() for p in outputs) and (bool(outputs) or not step.outputs)
    if previous and previous.get("key") == key and outputs_there and step.still_there(ctx):
        if hash_paths(outputs) == previous.get("output_hash"):
            return StepOutcome(**{**previous, "status": "reused", "seconds": 0.0})
    start = time.perf_counter()
    try:
        figures, artifacts = step.run(ctx)
    except Exception as exc:  # one broken step is reported; the steps that do not need it go on
        log = ctx.path("logs", f"{step.name}.log")
        write_text_atomic(log, traceback.format_exc())
        message = (str(exc).strip().splitlines() or [""])[0]
        return StepOutcome(step.name, step.title, "failed", round(time.perf_counter() - start, 1),
                           note=f"{type(exc).__name__}: {message[:200]} (traceback: {log.relative_to(ctx.out)})")
    # Artifact paths are kept relative to the demo folder, so summaries do not depend on where it lives.
    artifacts = {label: str(Path(p).resolve().relative_to(ctx.out)) for label, p in artifacts.items()}
    outcome = StepOutcome(
        step.name, step.title, "done", round(time.perf_counter() - start, 1), figures, artifacts,
        key=key, output_hash=hash_paths(outputs),
    )
    return outcome


def run_demo(recipe: DemoRecipe, out: Path, on_step: Callable[[StepOutcome], None] = lambda o: None) -> dict[str, StepOutcome]:
    """Run every step in order; returns the outcomes by step name and writes summary.json."""
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "demo.yaml", recipe_to_yaml(recipe))
    ctx = DemoContext(recipe, out, make_executor(recipe.executor, workers=recipe.workers))
    state = _load_state(out)
    code = code_hash()
    for step in DEMO_STEPS:
        outcome = run_step(step, ctx, state, code)
        ctx.outcomes[step.name] = outcome
        if outcome.status in ("done", "reused"):
            state[step.name] = {k: v for k, v in asdict(outcome).items() if k not in ("status", "seconds")}
            # Key order is kept: figures are shown in the order the step produced them.
            write_text_atomic(out / STATE_FILE, json.dumps(state, indent=1))
        on_step(outcome)
    write_text_atomic(out / SUMMARY_FILE, json.dumps(summary_doc(ctx.outcomes), indent=1, sort_keys=True))
    write_text_atomic(out / "summary.md", summary_markdown(ctx.outcomes))
    return ctx.outcomes


def figure_rows(figures: dict, prefix: str = "") -> list[tuple[str, str]]:
    """Flatten nested figures into (name, value) rows: {"a": {"b": 1}} -> ("a b", "1")."""
    rows = []
    for key, value in figures.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            rows += figure_rows(value, f"{name} ")
        elif isinstance(value, dict):
            rows.append((name, ", ".join(f"{k} {v}" for k, v in value.items())))
        else:
            rows.append((name, f"{value:.4f}" if isinstance(value, float) else str(value)))
    return rows


def summary_markdown(outcomes: dict[str, StepOutcome]) -> str:
    """The results table as Markdown (what the README quotes)."""
    lines = ["| step | figure | value |", "|---|---|---|"]
    for o in outcomes.values():
        if not ran(o):
            lines.append(f"| {o.name} | {o.status} | {o.note} |")
        for i, (name, value) in enumerate(figure_rows(o.figures)):
            lines.append(f"| {o.name if i == 0 else ''} | {name} | {value} |")
    return "\n".join(lines) + "\n"


def summary_doc(outcomes: dict[str, StepOutcome]) -> dict[str, Any]:
    """What the final tables show: every step's figures and artifacts, without timings."""
    return {
        "steps": {name: {"status": "ok" if o.status in ("done", "reused") else o.status, "note": o.note} for name, o in outcomes.items()},
        "figures": {name: o.figures for name, o in outcomes.items() if o.figures},
        "artifacts": {label: path for o in outcomes.values() for label, path in o.artifacts.items()},
    }
