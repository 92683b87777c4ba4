"""Build a detection training set from DeepFashion2 and export it for a YOLO trainer and COCO tools.

    python examples/deepfashion2_to_yolo.py [DEEPFASHION2_DIR] [OUT_DIR]

DEEPFASHION2_DIR holds train/ and validation/ with annos/*.json and image/*.jpg (the official
layout); it defaults to the tiny copy in tests/assets/deepfashion2. Labels are remapped onto the
taxonomy (taxonomy/sources/deepfashion2.yaml); occlusion, zoom and viewpoint are kept so the
evaluation can be sliced by them.
"""

import json
import sys
from pathlib import Path

from curate.curation import operations
from curate.curation.split import SplitRecipe
from curate.dataset import derive_dataset, read_dataset
from curate.exporters import EXPORTERS
from curate.parallel import make_executor
from curate.sources.importer import import_to_dataset

ROOT = Path(__file__).resolve().parent.parent
source = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests/assets/deepfashion2"
out = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "out/examples/deepfashion2"
executor = make_executor("local")

# 1. Import: one JSON per image -> images.parquet + objects.parquet, bad files reported, not fatal.
report = import_to_dataset("deepfashion2", source, out / "dataset", on_error="skip", executor=executor)
print(f"imported {report['images']} images, {report['objects']} objects; unmapped labels: {report['unmapped_labels'] or 'none'}")


# 2. Split by product (DeepFashion2's pair_id), stratified over every label; gold stays untouched.
def split(ds, stage):
    images, report = operations.split_images(ds.images, ds.objects, SplitRecipe(stratify="multilabel"))
    return images, ds.objects, report


_, split_report = derive_dataset(out / "dataset", "split", split)
print("objects per split:", json.dumps(split_report["objects"]))

# 3. Export: Ultralytics YOLO folders with data.yaml, and COCO instances JSON.
ds = read_dataset(out / "dataset")
for fmt in ("yolo", "coco"):
    written = EXPORTERS[fmt](ds, out / fmt)
    print(f"{fmt}: {written['images']} images, {written['objects']} objects -> {out / fmt}")
