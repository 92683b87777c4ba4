"""The category stage on real product photos, from ImageNet EfficientNet-Lite0, in 5 folds.

The real-dev catalogue (`../shared/real-dev`, or $CURATE_REAL_DEV) goes in through the catalogue
path a retailer's feed takes (its own column names, images by id; categories from the titles,
the retailer's category where the title names no garment), with its hand-drawn boxes merged on
(`curate boxes import`), so an on-model product is cropped to its garment. Its garments and footwear with a
category are cut into 5 folds by product; each fold in turn is gold, and the category stage
(`curate train category` with `recipes/category.yaml`, the real job's recipe) trains on the rest (10 % of it validating) and is
scored on gold. Beside it, in the same run and on the same folds: a logistic regression on the
frozen Lite0's pooled features (the baseline a fine-tuned model has to beat) and the majority
class.

    python bench/real_category.py [--real-dev DIR] [--folds 5] [--out out/real_category]

Prints a line per fold and the means, and writes them as JSON (`--json`, default
OUT/figures.json). The photos are read where they lie; nothing is copied into the repository.
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
COLUMNS = "product_id=id,name=productDisplayName,category=articleType"
RECIPE = REPO / "recipes" / "category.yaml"  # the real job's recipe, measured as shipped


def import_catalogue(dev: Path, out: Path) -> Path:
    """The feed imported, then the hand-drawn boxes of the on-model photos merged onto it (the
    product's garment keeps its category; garments worn with it get their object type only)."""
    from curate.annotation.workflow import import_boxes
    from curate.sources import import_to_dataset

    target = out / "catalogue"
    import_to_dataset("catalogue", dev / "styles.csv", target, columns=COLUMNS, images=str(dev / "images" / "{id}.jpg"), overwrite=True)
    import_boxes(target, dev / "boxes.csv", on_error="skip")
    return target


def fold_dataset(source: Path, out: Path, fold: int, folds: int) -> Path:
    """The catalogue's categorised objects with fold `fold` of `folds` (by product) as gold."""
    from curate.curation.operations import split_images
    from curate.curation.split import SplitRecipe
    from curate.dataset import derive_dataset

    def work(ds, stage):
        objects = ds.objects[ds.objects["category"].notna()].reset_index(drop=True)
        images = ds.images[ds.images["image_id"].isin(objects["image_id"])].reset_index(drop=True)
        recipe = SplitRecipe(train=0.9, val=0.1, test=0.0, gold=1 / folds, fold=fold, seed=0, stratify="category")
        images, report = split_images(images, objects, recipe)
        return images, objects, report

    return derive_dataset(source, "split", work, out / f"fold-{fold}", name=f"real-category-fold-{fold}")[0]


def frozen_feature_baseline(dataset: Path, size: int) -> float:
    """Accuracy on gold of a logistic regression on the frozen Lite0's pooled features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from curate.dataset import read_dataset
    from curate.models.backbones import build_backbone
    from curate.models.data import object_crops, split_objects
    from curate.models.runtime import keras_module

    keras = keras_module()
    ds = read_dataset(dataset)
    backbone = build_backbone("efficientnet_lite0", "imagenet", size)
    pooled = keras.Sequential([backbone, keras.layers.GlobalAveragePooling2D()])

    def features(split: str):
        objects = split_objects(ds, split, "the baseline")
        crops = object_crops(ds, objects, size, random_pad=False).astype(np.float32)
        return pooled.predict((crops - 127.5) / 128.0, batch_size=32, verbose=0), objects["category"].to_numpy()

    x_train, y_train = features("train")
    x_val, y_val = features("val")
    x_gold, y_gold = features("gold")
    scaler = StandardScaler().fit(np.concatenate([x_train, x_val]))
    model = LogisticRegression(C=0.5, max_iter=5000, class_weight="balanced").fit(scaler.transform(np.concatenate([x_train, x_val])), np.concatenate([y_train, y_val]))
    return float((model.predict(scaler.transform(x_gold)) == y_gold).mean())


def category_stage(dataset: Path, out: Path) -> tuple[float, float, dict]:
    """Accuracy and macro F1 on gold of the category stage trained by the recipe."""
    from curate.models.evaluate import evaluate_model
    from curate.models.stages import STAGES, train_stage
    from curate.recipes import load_recipe

    overrides = [f"dataset={dataset}", f"output={out}", "splits={train: train, val: val, test: gold}"]
    model_dir = train_stage("category", load_recipe(STAGES["category"].recipe, RECIPE, overrides), str(RECIPE))
    metrics, _ = evaluate_model("category", model_dir, dataset, "gold", fiftyone=False)
    return float(metrics["accuracy"]), float(metrics["macro_f1"]), json.loads((model_dir / "model.json").read_text())["training"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real-dev", default=None, help="folder with styles.csv and images/ (default ../shared/real-dev or $CURATE_REAL_DEV)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--out", default=str(REPO / "out" / "real_category"))
    parser.add_argument("--json", default=None, help="where the figures go (default OUT/figures.json)")
    args = parser.parse_args()
    dev, out = real_dev_dir(args.real_dev), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from curate.dataset import read_dataset

    from curate.models.stages import STAGES
    from curate.recipes import load_recipe, recipe_to_yaml

    recipe = load_recipe(STAGES["category"].recipe, RECIPE)
    size = recipe.model.image_size
    started = time.perf_counter()
    catalogue = import_catalogue(dev, out)
    objects = read_dataset(catalogue).objects
    labelled = objects[objects["category"].notna()]
    counts = labelled["category"].value_counts()
    print(f"real-dev: {len(objects)} garments and footwear, {len(labelled)} with a category in {len(counts)} categories; "
          f"majority '{counts.index[0]}' {counts.iloc[0] / len(labelled):.3f}", flush=True)
    rows = []
    for fold in range(args.folds):
        t0 = time.perf_counter()
        dataset = fold_dataset(catalogue, out, fold, args.folds)
        gold = read_dataset(dataset)
        gold_objects = gold.objects.merge(gold.images[["image_id", "split"]], on="image_id")
        train_counts = gold_objects.loc[gold_objects["split"] != "gold", "category"].value_counts()
        majority = float((gold_objects.loc[gold_objects["split"] == "gold", "category"] == train_counts.index[0]).mean())
        baseline = frozen_feature_baseline(dataset, size)
        accuracy, macro_f1, training = category_stage(dataset, out / f"model-{fold}")
        rows.append({"fold": fold, "gold_objects": int((gold_objects["split"] == "gold").sum()), "majority": majority,
                     "frozen_features_logreg": baseline, "category_stage": accuracy, "category_stage_macro_f1": macro_f1,
                     "train_seconds": training["wall_s"], "seconds": round(time.perf_counter() - t0, 1)})
        print(f"fold {fold}: gold {rows[-1]['gold_objects']:4d}  majority {majority:.3f}  frozen features + logistic regression {baseline:.3f}  "
              f"category stage {accuracy:.3f} (macro F1 {macro_f1:.3f})  {rows[-1]['seconds']:.0f} s", flush=True)
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("majority", "frozen_features_logreg", "category_stage", "category_stage_macro_f1")}
    print(f"mean of {args.folds} folds: majority {mean['majority']:.3f}  frozen features + logistic regression {mean['frozen_features_logreg']:.3f}  "
          f"category stage {mean['category_stage']:.3f} (macro F1 {mean['category_stage_macro_f1']:.3f}); "
          f"ratio to the baseline {mean['category_stage'] / mean['frozen_features_logreg']:.3f}; {time.perf_counter() - started:.0f} s")
    figures = {"objects": int(len(objects)), "labelled": int(len(labelled)), "categories": counts.to_dict(), "recipe": recipe_to_yaml(recipe), "folds": rows, "mean": mean,
               "seconds": round(time.perf_counter() - started, 1)}
    Path(args.json or out / "figures.json").write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
