"""`curate demo`: the whole toolkit on rendered Fashion-MNIST product shots, end to end.

DEMO_STEPS is the fixed list of steps the cached runner (curate.demo.runner) goes through:
the Fashion-MNIST subset, import, rendering, flat-lay detection and auto-boxing, imbalance
reports, split, balance, the FiftyOne review dataset, the three stages trained briefly and
evaluated on gold, and the merged predictor. `run_demo` runs them and writes the summary.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from curate.dataset import derive_dataset, read_dataset, save_tables, staged_dataset, value_counts, write_text_atomic
from curate.demo.recipe import TRAINING_DATA, DemoRecipe, stage_recipe
from curate.demo.runner import RunContext, Step, StepOutcome, run_steps
from curate.demo.summary import SUMMARY_FILE, summary_doc, summary_markdown
from curate.errors import CurateError
from curate.models.stages import train_stage
from curate.parallel import make_executor
from curate.recipes import recipe_to_yaml
from curate.sources.fashion_mnist import EMBEDDED_PER_CLASS, EMBEDDED_SEED, locate_fashion_mnist, write_subset
from curate.taxonomy import load_taxonomy


# ---- data and import -------------------------------------------------------------------------


def step_data(ctx: RunContext) -> tuple[dict, dict]:
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


def step_import(ctx: RunContext) -> tuple[dict, dict]:
    from curate.sources.importer import import_to_dataset

    target = ctx.path("datasets", "items")
    # the demo owns its output folder: a step that runs again replaces what it wrote before
    report = import_to_dataset("fashion-mnist", ctx.path("inputs", "fashion-mnist"), target, executor=ctx.executor, overwrite=True)
    figures = {
        "images_read": int(report["read"]["images"]),
        "garments_mapped": int(report["mapped"]),
        "dropped": {f"{label} ({rule})": n for (label, n), rule in zip(report["dropped_labels"].items(), report["dropped_by_rule"])},
        "unmapped": int(sum(report["unmapped_labels"].values())),
    }
    return figures, {"imported items": str(target), "import report": str(target / "reports" / "import.json")}


# ---- rendering -------------------------------------------------------------------------------


def step_render(ctx: RunContext) -> tuple[dict, dict]:
    import cv2

    from curate.demo.scene_dataset import contact_sheet, items_table, plan_scenes, scenes_to_tables, write_scene

    items_ds = read_dataset(ctx.path("datasets", "items"))
    items = items_table(items_ds)
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


def derived_dataset(ctx: RunContext, source: str, target: str, work: Callable[[Any, Path], tuple], name: str | None = None) -> tuple[Path, dict]:
    """datasets/<target> derived from datasets/<source> by `work(dataset, stage)`, with the media
    of the source hard-linked in (so relative paths stay valid) and the taxonomy checked."""
    return derive_dataset(ctx.path("datasets", source), target, work, ctx.path("datasets", target), name=name or target, taxonomy=load_taxonomy())


def exact_box_ious(objects) -> np.ndarray:
    """IoU of each auto-drawn box with the exact box the renderer recorded for that object."""
    from curate.dataset import BOX_COLUMNS
    from curate.demo.scene_dataset import GT_COLUMNS
    from curate.geometry import iou_xyxy

    canny = objects[objects["box_origin"] == "canny"]
    proposed = canny[list(BOX_COLUMNS)].to_numpy(np.float64)
    exact = canny[list(GT_COLUMNS)].to_numpy(np.float64)
    return np.array([iou_xyxy(p, e)[0, 0] for p, e in zip(proposed, exact)])


def step_autobox(ctx: RunContext) -> tuple[dict, dict]:
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


def step_report_before(ctx: RunContext) -> tuple[dict, dict]:
    from curate.curation.imbalance import dataset_reports
    from curate.curation.imbalance_report import write_reports

    ds = read_dataset(ctx.path("datasets", "boxed"))
    reports = dataset_reports(ds.images, ds.objects)
    folder = ctx.path("reports", "imbalance-before")
    write_reports(reports, folder, "Rendered scenes before splitting and balancing")
    return imbalance_headline(reports), {"imbalance report (before)": str(folder / "imbalance.md"), "imbalance chart": str(folder / "imbalance-object_type.png")}


def step_split(ctx: RunContext) -> tuple[dict, dict]:
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


def step_balance(ctx: RunContext) -> tuple[dict, dict]:
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
        "MeanIR (train)": balance_lines(report),
    }
    return figures, {"balanced dataset": str(path)}


def balance_lines(report: dict) -> dict[str, str]:
    """Each view's MeanIR before -> after, and whether the balancing guarded it."""
    views = {"object types": "object_type", "categories": "category", "patterns": "pattern"}
    lines = {}
    for label, pair in report["mean_ir"].items():
        if pair["before"] is None:
            continue
        view = views[label]
        why = " (target)" if view == report["by"] else " (guarded)" if view in report["guarded"] else " (nested in the target, not guarded)" if view in report["not_guarded_nested"] else ""
        lines[label] = f"{pair['before']} -> {pair['after']}{why}"
    return lines


def step_report_after(ctx: RunContext) -> tuple[dict, dict]:
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


def train_model(ctx: RunContext, stage: str) -> tuple[dict, dict]:
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


def step_train_detector(ctx: RunContext) -> tuple[dict, dict]:
    return train_model(ctx, "detector")


def step_train_category(ctx: RunContext) -> tuple[dict, dict]:
    return train_model(ctx, "category")


def step_train_attributes(ctx: RunContext) -> tuple[dict, dict]:
    return train_model(ctx, "attributes")


def evaluate_stage(ctx: RunContext, stage: str) -> tuple[dict, dict]:
    """One stage on gold, also stored as a FiftyOne evaluation run (boxes on the review dataset,
    categories and attributes on its per-object companion)."""
    from curate.models.evaluate import SUMMARY_KEYS, evaluate_model

    metrics, report = evaluate_model(stage, ctx.path("models", stage), ctx.path("datasets", "balanced"), "gold")
    figures = {k: round(metrics[k], 4) if isinstance(metrics[k], float) else metrics[k] for k in SUMMARY_KEYS[stage] if k in metrics}
    if "fiftyone" in metrics:  # the run in FiftyOne, with its FP/FN views
        run = metrics["fiftyone"]
        scores = ", ".join(f"{k} {run[k]:.4f}" for k in ("accuracy", "precision", "recall") if k in run)
        figures["fiftyone run"] = f"{run['eval_key']}: {scores}" if run["stored"] else run["reason"]
    return figures, {f"{stage} gold report": str(report / "metrics.md")}


def step_evaluate_detector(ctx: RunContext) -> tuple[dict, dict]:
    return evaluate_stage(ctx, "detector")


def step_evaluate_category(ctx: RunContext) -> tuple[dict, dict]:
    return evaluate_stage(ctx, "category")


def step_evaluate_attributes(ctx: RunContext) -> tuple[dict, dict]:
    return evaluate_stage(ctx, "attributes")


def step_predict(ctx: RunContext) -> tuple[dict, dict]:
    """The merged predictor on the first gold outfits: JSON and pictures with coloured boxes."""
    import os
    import shutil

    from curate.models.postprocess import ALL_RULES
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
    summary = predict_to_file(inputs, ctx.path("models"), out, ctx.path("predict", "visualised"), list(ALL_RULES))
    figures = {"images": summary["images"], "objects": summary["objects"], "removed_by_rules": summary["removed"], "resolved_by_rules": summary["resolved"]}
    return figures, {"predictions (JSON)": str(out), "predicted outfits (PNG)": str(ctx.path("predict", "visualised"))}


# ---- review ------------------------------------------------------------------------------------


def step_review(ctx: RunContext) -> tuple[dict, dict]:
    """Mirror the balanced dataset into FiftyOne with its saved views (only what changed)."""
    from curate.review import import_fiftyone, send_dataset

    path = ctx.path("datasets", "balanced")
    report = send_dataset(path, name=ctx.recipe.review.name)
    fo_dataset = import_fiftyone().load_dataset(report.name)
    figures = {"fiftyone_dataset": report.name, "samples": len(fo_dataset), "saved_views": ", ".join(sorted(fo_dataset.list_saved_views()))}
    return figures, {"FiftyOne dataset (curate review)": str(path)}


def review_dataset_exists(ctx: RunContext) -> bool:
    from curate.review import import_fiftyone

    return import_fiftyone().dataset_exists(ctx.recipe.review.name)


DEMO_STEPS: tuple[Step, ...] = (
    Step("data", "Fashion-MNIST subset", step_data, settings=lambda r: r.data.model_dump(), outputs=("inputs/fashion-mnist",)),
    Step(
        "import", "import with the taxonomy mapping", step_import, after=("data",), outputs=("datasets/items",),
    ),
    Step(
        "render", "render flat-lays and outfits, draw patterns", step_render,
        after=("import",), settings=lambda r: (r.seed, r.scenes.model_dump()), outputs=("datasets/scenes",),
    ),
    Step(
        "autobox", "flat-lay detection + Canny auto-boxing, IoU vs exact boxes", step_autobox,
        after=("render",), outputs=("datasets/boxed",),
    ),
    Step(
        "report_before", "imbalance report", step_report_before, after=("autobox",), outputs=("reports/imbalance-before/imbalance.json",),
    ),
    Step(
        "split", "split (gold from the official test images only)", step_split, after=("autobox",), settings=lambda r: r.split.model_dump(), outputs=("datasets/split",),
    ),
    Step(
        "balance", "augmentation balancing", step_balance, after=("split",), settings=lambda r: r.balance.model_dump(), outputs=("datasets/balanced",),
    ),
    Step(
        "report_after", "imbalance report after balancing (train split)", step_report_after, after=("split", "balance"), outputs=("reports/imbalance-after/imbalance.json",),
    ),
    Step(
        "review", "FiftyOne dataset with saved views", step_review, after=("balance",),
        settings=lambda r: r.review.model_dump(),
        still_there=review_dataset_exists,
    ),
    *(
        Step(
            f"train_{stage}", f"train the {title} briefly", train, after=(TRAINING_DATA[stage][1],),
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
            f"evaluate_{stage}", f"evaluate the {title} on gold", evaluate, after=(f"train_{stage}",), uses=("review",),
            outputs=(f"models/{stage}/evaluation/*-gold/metrics.json",),
        )
        for stage, title, evaluate in (
            ("detector", "detector", step_evaluate_detector),
            ("category", "category classifier", step_evaluate_category),
            ("attributes", "attribute tagger", step_evaluate_attributes),
        )
    ),
    Step(
        "predict", "predict JSON + coloured visualisations", step_predict, after=("train_detector",), uses=("train_category", "train_attributes"),
        settings=lambda r: r.predict.model_dump(), outputs=("predict/predictions.json",),
    ),
)


def run_demo(recipe: DemoRecipe, out: Path, on_step: Callable[[StepOutcome], None] = lambda o: None, steps: tuple[Step, ...] | None = None) -> dict[str, StepOutcome]:
    """Run every step (DEMO_STEPS unless others are given) in order; returns the outcomes by step
    name and writes demo.yaml, summary.json and summary.md into `out`."""
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "demo.yaml", recipe_to_yaml(recipe))
    ctx = RunContext(recipe, out, make_executor(recipe.executor, workers=recipe.workers))
    outcomes = run_steps(DEMO_STEPS if steps is None else steps, ctx, on_step)
    write_text_atomic(out / SUMMARY_FILE, json.dumps(summary_doc(outcomes), indent=1, sort_keys=True))
    write_text_atomic(out / "summary.md", summary_markdown(outcomes))
    return outcomes
