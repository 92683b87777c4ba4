"""Turn a retailer's product feed into a categorised, auto-boxed dataset with an imbalance report.

    python examples/catalogue_feed.py [FEED.csv|.parquet|.jsonl] [OUT_DIR]

The feed has product_id, name, optional description, brand, optional retailer category and an
image path or URL (tests/assets/catalogue/products.csv by default). Category, style and pattern
come from the product title; bags, swimwear and accessories are dropped and counted by rule;
no brand may hold more than 60 % of a category. Packshots (product on a plain background) are
recognised and get Canny auto-boxes, each with a confidence, ready for review.
"""

import sys
from pathlib import Path

from curate.curation import operations
from curate.curation.imbalance import dataset_reports
from curate.curation.imbalance_report import write_reports
from curate.dataset import derive_dataset, read_dataset
from curate.parallel import make_executor
from curate.sources.importer import import_to_dataset

ROOT = Path(__file__).resolve().parent.parent
feed = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests/assets/catalogue/products.csv"
out = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "out/examples/catalogue"
executor = make_executor("local")

report = import_to_dataset("catalogue", feed, out, on_error="skip", executor=executor, max_brand_share=0.6)
print(f"{report['images']} products kept; dropped by rule: {report['dropped_by_rule'] or 'none'}; skipped: {report['skipped_count']}")


def autobox(ds, stage):
    """Recognise the packshots, then propose a box (with a confidence) for each one."""
    images, flat = operations.mark_flat_lays(ds.images, ds.path, executor)
    objects, boxing = operations.autobox_objects(images, ds.objects, ds.path, executor)
    return images, objects, boxing | {"flat_lay": flat}


_, boxing = derive_dataset(out, "autobox", autobox)
print(f"{boxing['flat_lay']['flat_lay']} of {boxing['flat_lay']['checked']} images are packshots; {boxing['boxed_objects']} objects auto-boxed")

ds = read_dataset(out)
reports = dataset_reports(ds.images, ds.objects)
write_reports(reports, ds.reports_dir, "Catalogue imbalance")
for view in ("category", "attribute pattern"):
    if view in reports:
        print(f"{view}: MeanIR {reports[view].mean_ir:.3f}, SCUMBLE {reports[view].scumble:.3f}")
print(f"reports: {ds.reports_dir}")
