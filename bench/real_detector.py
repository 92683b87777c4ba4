"""The detector on real product photos: its training set built by `recipes/detector-real.yaml`,
trained from ImageNet EfficientNet-Lite0, scored on a gold fifth in 5 folds.

Each fold: `curate build recipes/detector-real.yaml` with that product fold as gold (the feed
imported with its own column names, the hand-drawn boxes merged on, the packshots auto-boxed,
balanced by object type x image type), then `curate train detector` with `recipes/detector.yaml`
(size and steps below), then on the fold's gold:

- COCO AP50 and mAP per object type on the hand-boxed on-model photos (the figure that counts:
  real people) and on the whole gold fifth (packshots scored against their auto-boxes);
- the source document's post-processing (hands taken for footwear, bare legs for lower-body) on
  and off, on the detections kept at the trained thresholds, with what each rule removed;
- the render-only detector (`--render-model`, default the one `make demo` trains on rendered
  Fashion-MNIST scenes) on the same photos.

Fold 0 also gives the learning curve (the same training on a quarter and on half of the training
products) and, with FiftyOne, its evaluation run with the false-positive / false-negative views
(`curate evaluate detector`). Pictures of gold photos with the detections in the source
document's colours are written under OUT/pictures for a person to check.

    python bench/real_detector.py [--real-dev DIR] [--folds 5] [--size 192] [--steps 300]
                                  [--render-model out/demo/models/detector] [--out out/real_detector]

The photos are read where they lie (`../shared/real-dev` or $CURATE_REAL_DEV); everything written
goes under OUT, outside the repository's tracked files.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from real_catalogue import real_dev_dir  # noqa: E402  (one way to find ../shared/real-dev)
SHARES = (0.25, 0.5)  # of the training products, for the learning curve


def build_fold(dev: Path, out: Path, fold: int, folds: int) -> Path:
    """`curate build recipes/detector-real.yaml` with product fold `fold` of `folds` as gold."""
    from curate.curation.build import load_build_recipe, run_build
    from curate.parallel import make_executor

    target = out / f"fold-{fold}" / "dataset"
    recipe = load_build_recipe(REPO / "recipes" / "detector-real.yaml", [
        f"output={target}", f"split.fold={fold}", f"split.gold={1 / folds}",
        f"inputs.0.path={dev / 'styles.csv'}", f"inputs.0.options.images={dev / 'images'}/{{id}}.jpg", f"boxes.0.path={dev / 'boxes.csv'}",
    ])
    run_build(recipe, make_executor("local"), overwrite=True)
    return target


def training_subset(dataset: Path, target: Path, share: float) -> Path:
    """The dataset with only `share` of its training products (and their augmented copies)."""
    from curate.dataset import derive_dataset

    def work(ds, stage):
        images = ds.images
        originals = images[(images["split"] == "train") & images["parent_image_id"].isna()]
        products = np.array(sorted(originals["product_id"].fillna(originals["image_id"]).unique()))
        kept = set(np.random.default_rng(0).permutation(products)[: max(1, round(share * len(products)))])
        dropped = set(originals.loc[~originals["product_id"].fillna(originals["image_id"]).isin(kept), "image_id"])
        keep = ~images["image_id"].isin(dropped) & ~images["parent_image_id"].isin(dropped)
        images = images[keep].reset_index(drop=True)
        return images, ds.objects[ds.objects["image_id"].isin(images["image_id"])].reset_index(drop=True), {"share": share, "training_products": len(kept)}

    return derive_dataset(dataset, "subset", work, target, name=f"{dataset.parent.name}-{share:g}")[0]


def train(dataset: Path, out: Path, size: int, steps: int) -> tuple[Path, float]:
    from curate.models.stages import STAGES, train_stage
    from curate.recipes import load_recipe

    epochs = max(1, steps // 100)
    recipe = load_recipe(STAGES["detector"].recipe, REPO / "recipes" / "detector.yaml", [
        f"dataset={dataset}", f"output={out}", f"model.image_size={size}", f"training.epochs={epochs}",
        f"training.steps_per_epoch={steps // epochs}", "splits.test=val",
    ])
    started = time.perf_counter()
    model_dir = train_stage("detector", recipe, "recipes/detector.yaml")
    return model_dir, time.perf_counter() - started


def gold_photos(dataset: Path):
    """(dataset, gold images, their boxed objects) of the fold, originals only."""
    from curate.dataset import read_dataset

    ds = read_dataset(dataset)
    images = ds.images[(ds.images["split"] == "gold") & ds.images["parent_image_id"].isna()].sort_values("image_id").reset_index(drop=True)
    objects = ds.objects[ds.objects["image_id"].isin(images["image_id"]) & ds.objects["x_min"].notna()].reset_index(drop=True)
    return ds, images, objects


def detections_of(model_dir: Path, ds, images) -> tuple[list, dict]:
    from curate.imageio import load_image_rgb
    from curate.models.detector import DetectorPredictor

    predictor = DetectorPredictor(model_dir)
    found = []
    for start in range(0, len(images), 16):
        chunk = images["path"].iloc[start : start + 16]
        found += predictor.detect([load_image_rgb(ds.image_path(p)) for p in chunk], thresholded=False)
    return found, predictor.thresholds


def scores(images, objects, found) -> dict:
    """mAP and AP50, overall and per object type."""
    import pandas as pd

    from curate.models.metrics import coco_metrics
    from curate.taxonomy import OBJECT_TYPES

    detections = pd.concat([d.assign(image_id=i) for d, i in zip(found, images["image_id"])], ignore_index=True)
    metrics = coco_metrics(images, objects, detections, OBJECT_TYPES)
    return {"mAP": round(float(metrics["mAP"]), 4), "AP50": round(float(metrics["AP50"]), 4),
            "per_type_AP50": {k: round(float(v["AP50"]), 4) for k, v in metrics["per_class"].items() if v["ground_truth"]},
            "per_type_mAP": {k: round(float(v["AP"]), 4) for k, v in metrics["per_class"].items() if v["ground_truth"]},
            "ground_truth": {k: int(v["ground_truth"]) for k, v in metrics["per_class"].items()}}


def fold_figures(model_dir: Path, dataset: Path, render_model: Path | None) -> dict:
    from curate.models.detector import apply_thresholds
    from curate.models.postprocess import RULES, apply_rules

    ds, images, objects = gold_photos(dataset)
    on_model = (~images["flat_lay"].fillna(False).astype(bool)).to_numpy()
    found, thresholds = detections_of(model_dir, ds, images)

    def subset(mask):
        chosen = images[mask].reset_index(drop=True)
        return chosen, objects[objects["image_id"].isin(chosen["image_id"])], [f for f, m in zip(found, mask) if m]

    om_images, om_objects, om_found = subset(on_model)
    kept = [apply_thresholds(d, thresholds) for d in om_found]
    ruled = [apply_rules(d, list(RULES)) for d in kept]
    removed: dict[str, int] = {}
    for _, gone in ruled:
        for row in gone:
            removed[row["rule"]] = removed.get(row["rule"], 0) + 1
    figures = {
        "gold_photos": int(len(images)), "on_model_photos": int(on_model.sum()), "on_model_boxes": int(len(om_objects)),
        "on_model": scores(om_images, om_objects, om_found),
        "all_gold": scores(images, objects, found),
        "rules_off": scores(om_images, om_objects, kept),
        "rules_on": scores(om_images, om_objects, [d for d, _ in ruled]),
        "removed_by_rule": removed,
    }
    if render_model is not None:
        render_found, _ = detections_of(render_model, ds, om_images)
        figures["render_only_on_model"] = scores(om_images, om_objects, render_found)
    return figures


def draw_gold(model_dir: Path, dataset: Path, target: Path, count: int = 8) -> Path:
    """A contact sheet of gold on-model photos with the kept detections in the type colours."""
    import cv2

    from curate.imageio import load_image_rgb
    from curate.models.detector import DetectorPredictor
    from curate.models.postprocess import RULES, apply_rules
    from curate.models.predictor import draw_predictions

    ds, images, _ = gold_photos(dataset)
    chosen = images[~images["flat_lay"].fillna(False).astype(bool)].head(count)
    predictor = DetectorPredictor(model_dir)
    tiles = []
    for path in chosen["path"]:
        rgb = load_image_rgb(ds.image_path(path))
        kept, _ = apply_rules(predictor.detect([rgb])[0], list(RULES))
        objects = [{"object_type": r["object_type"], "score": float(r["score"]), "box": {c: float(r[c]) for c in ("x_min", "y_min", "x_max", "y_max")}} for _, r in kept.iterrows()]
        tiles.append(cv2.resize(draw_predictions(rgb, objects), (300, 400), interpolation=cv2.INTER_AREA))
    while len(tiles) % 4:
        tiles.append(np.full_like(tiles[0], 255))
    sheet = np.vstack([np.hstack(tiles[i : i + 4]) for i in range(0, len(tiles), 4)])
    target.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(target), sheet)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real-dev", default=None, help="folder with styles.csv, boxes.csv and images/ (default ../shared/real-dev or $CURATE_REAL_DEV)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--size", type=int, default=192, help="detector input size in pixels")
    parser.add_argument("--steps", type=int, default=300, help="training steps of 16 images per fold")
    parser.add_argument("--render-model", default=str(REPO / "out" / "demo" / "models" / "detector"), help="the render-only detector to compare with ('' to leave out)")
    parser.add_argument("--no-curve", action="store_true", help="leave out the learning curve")
    parser.add_argument("--no-fiftyone", action="store_true", help="leave out fold 0's FiftyOne evaluation run")
    parser.add_argument("--out", default=str(REPO / "out" / "real_detector"))
    args = parser.parse_args()
    dev, out = real_dev_dir(args.real_dev), Path(args.out)
    render_model = Path(args.render_model) if args.render_model else None
    if render_model is not None and not (render_model / "model.json").is_file():
        raise SystemExit(f"no render-only detector at {render_model}: run `make demo` first, or pass --render-model '' to leave it out")
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows, curve = [], []
    for fold in range(args.folds):
        t0 = time.perf_counter()
        dataset = build_fold(dev, out, fold, args.folds)
        model_dir, seconds = train(dataset, out / f"fold-{fold}" / "detector", args.size, args.steps)
        row = {"fold": fold, "train_seconds": round(seconds, 1), **fold_figures(model_dir, dataset, render_model)}
        rows.append(row)
        om, ro = row["on_model"], row.get("render_only_on_model", {})
        print(f"fold {fold}: {row['on_model_photos']} on-model gold photos, {row['on_model_boxes']} boxes; AP50 {om['AP50']:.3f} mAP {om['mAP']:.3f}; "
              f"per type AP50 {om['per_type_AP50']}; rules off/on AP50 {row['rules_off']['AP50']:.3f}/{row['rules_on']['AP50']:.3f} removed {row['removed_by_rule']}; "
              f"render-only AP50 {ro.get('AP50', float('nan')):.3f}; whole gold AP50 {row['all_gold']['AP50']:.3f}; {time.perf_counter() - t0:.0f} s", flush=True)
        if fold == 0:
            print(f"pictures: {draw_gold(model_dir, dataset, out / 'pictures' / 'fold-0-gold.png')}", flush=True)
            if not args.no_fiftyone:
                from curate.models.evaluate import evaluate_model

                evaluate_model("detector", model_dir, dataset, "gold", fiftyone=True)
                print(f"FiftyOne evaluation run of fold 0 stored with its views (curate evaluate detector --model {model_dir} --dataset {dataset})", flush=True)
            if not args.no_curve:
                for share in SHARES:
                    subset = training_subset(dataset, out / "fold-0" / f"subset-{share:g}", share)
                    sub_model, _ = train(subset, out / "fold-0" / f"detector-{share:g}", args.size, args.steps)
                    figures = fold_figures(sub_model, dataset, None)["on_model"]
                    curve.append({"share": share, **figures})
                    print(f"learning curve, fold 0, {share:.0%} of the training products: AP50 {figures['AP50']:.3f} per type {figures['per_type_AP50']}", flush=True)
                curve.append({"share": 1.0, **row["on_model"]})
    types = sorted({t for r in rows for t in r["on_model"]["per_type_AP50"]})
    mean = {
        "on_model_AP50": float(np.mean([r["on_model"]["AP50"] for r in rows])),
        "on_model_mAP": float(np.mean([r["on_model"]["mAP"] for r in rows])),
        "per_type_AP50": {t: float(np.mean([r["on_model"]["per_type_AP50"][t] for r in rows if t in r["on_model"]["per_type_AP50"]])) for t in types},
        "rules_off_AP50": float(np.mean([r["rules_off"]["AP50"] for r in rows])),
        "rules_on_AP50": float(np.mean([r["rules_on"]["AP50"] for r in rows])),
        "all_gold_AP50": float(np.mean([r["all_gold"]["AP50"] for r in rows])),
    }
    if render_model is not None:
        mean["render_only_AP50"] = float(np.mean([r["render_only_on_model"]["AP50"] for r in rows]))
        mean["render_only_per_type_AP50"] = {t: float(np.mean([r["render_only_on_model"]["per_type_AP50"].get(t, 0.0) for r in rows])) for t in types}
    print(f"mean of {args.folds} folds, on-model gold: AP50 {mean['on_model_AP50']:.3f} mAP {mean['on_model_mAP']:.3f}; per type AP50 "
          + ", ".join(f"{t} {v:.3f}" for t, v in mean["per_type_AP50"].items())
          + (f"; render-only AP50 {mean['render_only_AP50']:.3f}" if "render_only_AP50" in mean else "")
          + f"; rules off/on {mean['rules_off_AP50']:.3f}/{mean['rules_on_AP50']:.3f}; {time.perf_counter() - started:.0f} s")
    figures = {"size": args.size, "steps": args.steps, "folds": rows, "mean": mean, "learning_curve_fold_0": curve, "seconds": round(time.perf_counter() - started, 1)}
    (out / "figures.json").write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
