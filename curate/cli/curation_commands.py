"""Curation commands: autobox, dedup, split, balance, report and build."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import typer
from rich.table import Table

from curate.cli.common import console, handle_errors
from curate.curation import imbalance, imbalance_report, operations
from curate.curation.balance import BalanceRecipe
from curate.curation.build import load_build_recipe, run_build
from curate.curation.dedup import DedupRecipe
from curate.curation.split import SplitRecipe
from curate.dataset import Dataset, dataset_lock, derive_dataset, read_dataset, write_text_atomic
from curate.parallel import make_executor
from curate.recipes import parse_recipe

EXECUTOR_HELP = "Where per-image work runs: local (process pool), serial, or dask (with --scheduler)."
DatasetArg = typer.Argument(..., help="Dataset directory.", exists=True, file_okay=False)


@contextmanager
def _executor(kind: str, scheduler: Optional[str], workers: Optional[int]) -> Iterator:
    """An executor for one command; a Dask client is closed afterwards (the cluster stays up)."""
    executor = make_executor(kind, scheduler=scheduler, workers=workers)
    try:
        yield executor
    finally:
        client = getattr(executor, "client", None)
        if client is not None:
            client.close()


def _print_unreadable(report: dict) -> None:
    for item in report.get("unreadable", []):
        console.print(f"[yellow]skipped[/] {item['image_id']}: {item['error']}", highlight=False)


@handle_errors
def autobox_command(
    dataset: Path = DatasetArg,
    split_pairs: bool = typer.Option(False, "--split-pairs/--one-box", help="A pair of shoes gives two boxes, or one box around both."),
    qa: bool = typer.Option(False, "--qa", help="Compare proposals with the existing manual boxes and report the IoU distribution (JSON + PNG); changes no table."),
    executor: str = typer.Option("local", "--executor", help=EXECUTOR_HELP),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Local worker processes (default: all cores)."),
) -> None:
    """Propose boxes for flat-lay images without boxes (Canny edges), each with a confidence.

    Example: curate autobox out/shop --split-pairs
    """
    if qa:
        with dataset_lock(dataset), _executor(executor, scheduler, workers) as run:  # it writes reports
            ds = read_dataset(dataset)
            _, report = operations.autobox_objects(ds.images, ds.objects, ds.path, run, split_pairs, qa_chart=ds.reports_dir / "autobox-qa.png")
            write_text_atomic(ds.reports_dir / "autobox-qa.json", json.dumps(report, indent=2) + "\n")
        summary = report["qa"]
        _print_unreadable(report)
        if not summary["boxes"]:
            console.print("no manual boxes to compare with")
            return
        console.print(
            f"IoU over {summary['boxes']} manual boxes: median {summary['median']:.3f}, mean {summary['mean']:.3f}, "
            f"p05 {summary['p05']:.3f}, IoU>=0.9 {summary['share_iou_ge_0.9']:.1%}, IoU>=0.5 {summary['share_iou_ge_0.5']:.1%}"
        )
        console.print("histogram (0-0.1 ... 0.9-1.0): " + " ".join(map(str, summary["histogram"])))
        console.print(f"written to {ds.reports_dir}/autobox-qa.json and autobox-qa.png")
        return

    def work(source: Dataset, stage: Path):
        with _executor(executor, scheduler, workers) as run:
            images, flat = operations.mark_flat_lays(source.images, source.path, run)
            objects, report = operations.autobox_objects(images, source.objects, source.path, run, split_pairs)
        return images, objects, report | {"flat_lay": flat}

    _, report = derive_dataset(dataset, "autobox", work)
    _print_unreadable(report["flat_lay"])
    _print_unreadable(report)
    console.print(f"boxed {report['boxed_objects']} objects ({report['pair_copies']} pair copies); no proposal: {len(report['no_proposal'])}; several unboxed objects: {len(report['ambiguous'])}")


@handle_errors
def dedup_command(
    dataset: Path = DatasetArg,
    hamming: int = typer.Option(8, "--hamming", help="Near-duplicate candidates: perceptual hashes differing by at most this many bits."),
    max_residual: float = typer.Option(7.0, "--max-residual", help="A candidate pair is the same picture when its aligned colour residual (0-255) is at most this."),
    max_group: int = typer.Option(20, "--max-group", help="At most this many images in one near-duplicate group; the pairs left out are reported."),
    policy: str = typer.Option("keep-one", "--policy", help="Exact duplicates: report | drop-leaks | keep-one"),
    near_policy: Optional[str] = typer.Option(None, "--near-policy", help="Near duplicates: report | drop-leaks | keep-one (default: drop-leaks, never stricter than --policy)."),
    multi_label: str = typer.Option("drop", "--multi-label", help="Objects with more than one pattern or style: keep | flag | drop."),
    executor: str = typer.Option("local", "--executor", help=EXECUTOR_HELP),
    scheduler: Optional[str] = typer.Option(None, "--scheduler"),
    workers: Optional[int] = typer.Option(None, "--workers"),
) -> None:
    """Find exact and near-duplicate images, report leakage across splits and apply the drop policies.

    Near duplicates are pHash candidates confirmed on their pixels, grouped around a representative
    (groups never chain). By default exact copies keep one, near ones drop only training copies of
    evaluation images.

    Example: curate dedup out/shop --policy keep-one --near-policy report
    """
    options = {"hamming": hamming, "max_residual": max_residual, "max_group": max_group, "policy": policy, "near_policy": near_policy, "multi_label_objects": multi_label}
    recipe = parse_recipe(DedupRecipe, options, "options")
    with _executor(executor, scheduler, workers) as run:
        _, report = derive_dataset(dataset, "dedup", lambda source, stage: operations.dedup_images(source.images, source.objects, source.path, run, recipe))
    _print_unreadable(report)
    table = Table("exact groups", "near groups", "across splits", "leaks", "dropped images", "candidate / confirmed pairs", "pairs cut", "multi pattern/style objects")
    table.add_row(
        str(report["exact_groups"]), str(report["near_groups"]), str(report["groups_across_splits"]), str(len(report["leakage"])), str(len(report["dropped_images"])),
        f"{report['candidate_pairs']} / {report['confirmed_pairs']}", str(report["cut_pairs"]), str(len(report["multi_label_objects"]["objects"])),
    )
    console.print(table)
    for leak in report["leakage"][:20]:
        console.print(f"[red]leak[/] {leak['split']} image {leak['image_id']} has {leak['kind']} duplicate(s) in train: {', '.join(leak['train_duplicates'])}", highlight=False)


@handle_errors
def split_command(
    dataset: Path = DatasetArg,
    seed: int = typer.Option(0, "--seed"),
    train: float = typer.Option(0.8, "--train"),
    val: float = typer.Option(0.1, "--val"),
    test: float = typer.Option(0.1, "--test"),
    stratify: str = typer.Option("category", "--stratify", help="none | category | multilabel (iterative stratification)"),
    gold: float = typer.Option(0.0, "--gold", help="Put one of k product folds in gold: 1/k of the products (0.2 = 5 folds); train/val/test split the rest."),
    fold: Optional[int] = typer.Option(None, "--fold", help="Which fold is gold, 0..k-1 (default 0): k runs rotate it."),
) -> None:
    """Assign train/val/test, stratified and grouped by product; gold already set is never touched.

    With --gold 1/k the products are cut into k stratified folds (the same for every --fold with the same seed; stored in the `fold` column) and fold --fold becomes gold, so k runs with --fold 0..k-1 make every product gold once.

    Example: curate split out/shop --seed 7 --stratify multilabel
    Example: curate split out/shop --gold 0.2 --fold 3
    """
    recipe = parse_recipe(SplitRecipe, {"seed": seed, "train": train, "val": val, "test": test, "stratify": stratify, "gold": gold, "fold": fold}, "options")

    def work(source: Dataset, stage: Path):
        images, report = operations.split_images(source.images, source.objects, recipe)
        return images, source.objects, report

    _, report = derive_dataset(dataset, "split", work)
    table = Table("split", "objects", "largest label-share gap (points)")
    for name, count in report["objects"].items():
        table.add_row(name, str(count), str(report["max_share_gap_points"].get(name, "-")))
    console.print(table)
    if "gold_fold" in report:
        chosen = report["gold_fold"]
        console.print(f"gold is fold {chosen['fold']} of {chosen['folds']}: {chosen['products']} products, {chosen['images']} images")


@handle_errors
def balance_command(
    dataset: Path = DatasetArg,
    by: str = typer.Option("object_type x image_type", "--by", help="category | object_type | 'object_type x image_type'"),
    target: str = typer.Option("majority", "--target", help="Objects per group to reach: 'majority' or a number."),
    policy: str = typer.Option("auto", "--policy", help="auto (flat-lay / on-model per image) | crop (classification crops)"),
    undersample: Optional[int] = typer.Option(None, "--undersample", help="Co-occurrence-aware undersampling limit per group."),
    masks: bool = typer.Option(True, "--masks/--no-masks", help="Recompute flat-lay boxes from the rotated foreground mask."),
    guard: Optional[str] = typer.Option(None, "--guard", help="Views whose MeanIR may not rise more than --max-rise, e.g. 'category,pattern' (default: the other views, except those nested in --by)."),
    max_rise: float = typer.Option(0.10, "--max-rise", help="How far a guarded view's MeanIR may rise (0.10: 10 %)."),
    seed: int = typer.Option(0, "--seed"),
    executor: str = typer.Option("local", "--executor", help=EXECUTOR_HELP),
    scheduler: Optional[str] = typer.Option(None, "--scheduler"),
    workers: Optional[int] = typer.Option(None, "--workers"),
) -> None:
    """Balance the training split: augmented copies of rarer groups, optional undersampling.

    Example: curate balance out/shop --by object_type --target 5000
    """
    guarded = None if guard is None else [v.strip() for v in guard.split(",") if v.strip()]
    recipe = parse_recipe(BalanceRecipe, {"by": by, "target": target if target == "majority" else _int(target, "--target"), "policy": policy, "undersample_limit": undersample, "masks": masks, "guard": guarded, "max_rise": max_rise, "seed": seed}, "options")
    with _executor(executor, scheduler, workers) as run:
        _, report = derive_dataset(dataset, "balance", lambda source, stage: operations.balance_training_split(source.images, source.objects, source.path, stage, run, recipe))
    _print_unreadable(report)
    table = Table("group", "before", "after")
    for group in sorted(set(report["counts_before"]) | set(report["counts_after"])):
        table.add_row(group, str(report["counts_before"].get(group, 0)), str(report["counts_after"].get(group, 0)))
    console.print(table)
    views = Table("view (train split)", "MeanIR before", "MeanIR after", "guard")
    for label, pair in report["mean_ir"].items():
        view = {"object types": "object_type", "categories": "category", "patterns": "pattern"}[label]
        note = "target" if view == recipe.by else f"<= {report['guarded'][view]:.4f}" if view in report["guarded"] else "nested in the target: not guarded" if view in report["not_guarded_nested"] else "-"
        views.add_row(label, _fmt(pair["before"]), _fmt(pair["after"]), note)
    console.print(views)
    console.print(f"{report['augmented_images']} augmented images; IR after: {report['ir_after']:.3f}; stopped: {report['stopped']}" if report["ir_after"] else "nothing to balance")


def _fmt(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.4f}"


def _int(text: str, option: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise typer.BadParameter(f"expected 'majority' or a whole number, found '{text}'", param_hint=option) from None


@handle_errors
def report_command(
    dataset: Path = DatasetArg,
    before: Optional[Path] = typer.Option(None, "--before", help="Another dataset to compare with (e.g. before balancing)."),
    split: Optional[str] = typer.Option(None, "--split", help="Only this split (e.g. train)."),
    charts: bool = typer.Option(True, "--charts/--no-charts", help="Write PNG charts."),
    photography: bool = typer.Option(False, "--photography", help="Photography QA per category instead: flat-lay vs on-model, multi-item, size, aspect, background."),
) -> None:
    """Imbalance report: IR per label, MeanIR, MaxIR, CVIR, SCUMBLE, cardinality, co-occurrence.

    Example: curate report out/shop --split train --before out/shop-unbalanced
    Example: curate report out/shop --photography
    """
    with dataset_lock(dataset):  # reports are written into the dataset
        _report(dataset, before, split, charts, photography)


def _report(dataset: Path, before: Optional[Path], split: Optional[str], charts: bool, photography: bool) -> None:
    ds = read_dataset(dataset)
    if photography:
        from curate.cli.intel_commands import show_photography_report

        show_photography_report(ds)
        return
    reports = imbalance.dataset_reports(ds.images, ds.objects, split)
    earlier = None
    if before is not None:
        other = read_dataset(before)
        earlier = imbalance.dataset_reports(other.images, other.objects, split)
    imbalance_report.write_reports(reports, ds.reports_dir, f"{ds.meta.get('name', ds.path.name)} imbalance", before=earlier, charts=charts)
    table = Table("view", "labels", "MeanIR", "MaxIR", "CVIR", "SCUMBLE", "card.", "dens.", "labelsets", title=f"imbalance ({split or 'all splits'})", title_justify="left")
    for view, report in reports.items():
        table.add_row(view, str(len(report.labels)), f"{report.mean_ir:.4f}", f"{report.max_ir:.4f}", f"{report.cvir:.4f}", f"{report.scumble:.4f}", f"{report.cardinality:.3f}", f"{report.density:.3f}", str(report.distinct_labelsets))
    console.print(table)
    if earlier is not None:
        compared = Table("view", "MeanIR before", "MeanIR after", "SCUMBLE before", "SCUMBLE after", title="before / after", title_justify="left")
        for view, fields in imbalance_report.compare(earlier, reports).items():
            compared.add_row(view, f"{fields['mean_ir']['before']:.4f}", f"{fields['mean_ir']['after']:.4f}", f"{fields['scumble']['before']:.4f}", f"{fields['scumble']['after']:.4f}")
        console.print(compared)
    console.print(f"written to {ds.reports_dir}/imbalance.json, imbalance.md and PNG charts" if charts else f"written to {ds.reports_dir}/imbalance.json and imbalance.md")


@handle_errors
def build_command(
    recipe_path: Path = typer.Argument(..., help="Build recipe (YAML).", exists=True, dir_okay=False),
    overrides: Optional[list[str]] = typer.Option(None, "--set", help="Override a recipe key, e.g. --set split.seed=3"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the recipe's output when it is an existing dataset."),
    executor: str = typer.Option("local", "--executor", help=EXECUTOR_HELP),
    scheduler: Optional[str] = typer.Option(None, "--scheduler"),
    workers: Optional[int] = typer.Option(None, "--workers"),
) -> None:
    """Build a dataset from a recipe: import, remap, filter, flat-lay, autobox, dedup, split, balance, report.

    Example: curate build recipes/demo.yaml --set balance.target=2000 --executor dask --scheduler tcp://127.0.0.1:8786
    """
    recipe = load_build_recipe(recipe_path, overrides)
    with _executor(executor, scheduler, workers) as run:
        report = run_build(recipe, run, overwrite=overwrite)
    unreadable = {(item["image_id"], item["error"]) for part in report.values() if isinstance(part, dict) for item in part.get("unreadable", [])}
    _print_unreadable({"unreadable": [{"image_id": i, "error": e} for i, e in sorted(unreadable)]})
    ds = read_dataset(recipe.output)
    console.print(f"built {recipe.output}: {len(ds.images)} images, {len(ds.objects)} objects; reports in {ds.reports_dir}")


def register(app: typer.Typer) -> None:
    app.command("autobox")(autobox_command)
    app.command("dedup")(dedup_command)
    app.command("split")(split_command)
    app.command("balance")(balance_command)
    app.command("report")(report_command)
    app.command("build")(build_command)
