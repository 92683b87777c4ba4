"""Train and evaluate one model stage from a recipe: the category classifier on Fashion-MNIST.

    python examples/train_stage.py [IDX_DIR] [OUT_DIR] [EPOCHS]

IDX_DIR holds the four Fashion-MNIST IDX files; by default the stratified subset shipped in the
package (curate/resources/fashion_mnist, 4,000 training and 1,000 test images). The recipe is
recipes/fashion-mnist-category.yaml with its dataset, output and epochs overridden the way
`curate train category RECIPE --set key=value` does; the model directory gets the weights, the
resolved recipe, the label map, the dataset and taxonomy hashes and a model card, and the
evaluation on the official test images writes metrics JSON, Markdown and a confusion matrix.
"""

import sys
from pathlib import Path

from curate.models.classifier import CategoryRecipe, train_category
from curate.models.evaluate import evaluate_model
from curate.recipes import load_recipe
from curate.sources.fashion_mnist import EMBEDDED_DIR
from curate.sources.importer import import_to_dataset

ROOT = Path(__file__).resolve().parent.parent
idx_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else EMBEDDED_DIR
out = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "out/examples/train-stage"
epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 3

report = import_to_dataset("fashion-mnist", idx_dir, out / "dataset")
print(f"imported {report['images']} images; dropped: {report['dropped_labels']}")

recipe_path = ROOT / "recipes/fashion-mnist-category.yaml"
recipe = load_recipe(CategoryRecipe, recipe_path, [f"dataset={out / 'dataset'}", f"output={out / 'model'}", f"training.epochs={epochs}"])
model_dir = train_category(recipe, str(recipe_path))
print(f"model: {model_dir} (card: {model_dir / 'MODEL_CARD.md'})")

metrics, report_dir = evaluate_model("category", model_dir, out / "dataset", "test", fiftyone=False)
print(f"test: accuracy {metrics['accuracy']:.4f}, top-3 {metrics['top3_accuracy']:.4f}, macro F1 {metrics['macro_f1']:.4f} on {metrics['examples']} objects")
print(f"report: {report_dir / 'metrics.md'}")
