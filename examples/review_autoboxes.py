"""Review auto-drawn boxes in FiftyOne and sync the curator's decisions back into the tables.

    python examples/review_autoboxes.py [FEED.csv] [OUT_DIR] [--app]

Imports a product feed (tests/assets/catalogue/products.csv by default), auto-boxes its
packshots and sends the dataset to FiftyOne with the saved views. Without --app it then plays
the curator through FiftyOne's Python API, storing edits exactly as the App does (accept the
weakest box, tighten the next one, reject the last), and syncs them back; with --app it opens
the App on the "auto-boxed to review" view so you can do that yourself, then run
`curate review sync OUT_DIR`.
"""

import sys
from pathlib import Path

from curate import review
from curate.curation import operations
from curate.dataset import derive_dataset, read_dataset
from curate.parallel import make_executor
from curate.sources.importer import import_to_dataset

ROOT = Path(__file__).resolve().parent.parent
args = [a for a in sys.argv[1:] if a != "--app"]
feed = Path(args[0]) if args else ROOT / "tests/assets/catalogue/products.csv"
out = Path(args[1]) if len(args) > 1 else ROOT / "out/examples/review"
executor = make_executor("serial")

import_to_dataset("catalogue", feed, out, on_error="skip", executor=executor)


def autobox(ds, stage):
    images, _ = operations.mark_flat_lays(ds.images, ds.path, executor)
    objects, report = operations.autobox_objects(images, ds.objects, ds.path, executor)
    return images, objects, report


_, boxing = derive_dataset(out, "autobox", autobox)
print(f"auto-boxed {boxing['boxed_objects']} objects")

sent = review.send_dataset(out)
print(f"FiftyOne dataset '{sent.name}': {sent.mode}, {sent.added} samples added")
if "--app" in sys.argv:
    review.launch_app(sent.name, view="auto-boxed to review")
    sys.exit(0)

import fiftyone as fo  # noqa: E402  (only the scripted curator needs it)

fo_ds = fo.load_dataset(sent.name)
patches = fo_ds.load_saved_view("auto-boxed to review")  # one patch per box, weakest first
print(f"{len(patches)} boxes to review, weakest first: {[round(c, 3) for c in patches.values('ground_truth.box_confidence')]}")
for n, patch in enumerate(patches):
    label_id = patch.ground_truth.id
    if n == 0:
        fo_ds.select_labels(ids=[label_id]).tag_labels("accept")  # the App's label tag menu
    elif n == 1:
        sample = fo_ds[patch.sample_id]
        det = next(d for d in sample.ground_truth.detections if d.id == label_id)
        x, y, w, h = det.bounding_box
        det.bounding_box = [x + 0.01, y + 0.01, w - 0.02, h - 0.02]  # dragging the box edges inwards
        sample.save()
    else:
        fo_ds.select_labels(ids=[label_id]).tag_labels("reject")

synced = review.sync_dataset(out)
print(f"synced: {synced.applied}; {synced.changes} change(s) logged in {out / 'changes.parquet'}")
changes = read_dataset(out).changes()
print(changes[["object_id", "field", "before", "after"]].to_string(index=False))
