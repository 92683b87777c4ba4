"""The review loop: dataset tables <-> a persistent FiftyOne dataset, saved views, App, sync.

The Parquet tables stay the source of truth. `send_dataset` mirrors them into FiftyOne (boxes in
`ground_truth`, whole-image labels in `category` + `attributes`), remembering on every sample
the hash of each object row it was sent with. `sync_dataset` compares three things per object,
the row on disk, the row as sent and the label as FiftyOne holds it now, so a curator's edit is
applied, an untouched label is left alone, and a row that changed on both sides is reported as
a conflict with neither side written.

    connection.py   the FiftyOne import and database connection (the only FiftyOne import)
    labels.py       what is mirrored where, row hashes and tags (pure)
    send.py         tables -> FiftyOne, creating or updating the dataset
    views.py        the curator's saved views
    predictions.py  model boxes, an evaluation run and its FP/FN views
    object_eval.py  category and attribute predictions: evaluation runs over one sample per object
    sync_plan.py    the three-way diff of a sync (pure, testable without a database)
    sync.py         applying the plan to the tables and FiftyOne
    app.py          the FiftyOne App
    insights.py     similarity indexes and the "likely mislabelled" view

FiftyOne is imported only inside functions, so `import curate.review` stays light.
"""

from curate.review.app import launch_app
from curate.review.connection import import_fiftyone, load_review_dataset
from curate.review.labels import default_review_name, image_row_hashes, object_row_hashes, origin_tags
from curate.review.object_eval import add_attribute_predictions, add_category_predictions, objects_dataset_name, run_key
from curate.review.predictions import add_predictions
from curate.review.send import SendReport, send_dataset
from curate.review.sync import SyncReport, sync_dataset
from curate.review.sync_plan import FiftyOneState, SyncPlan, plan_sync
from curate.review.views import save_views, view_names

__all__ = [
    "FiftyOneState", "SendReport", "SyncPlan", "SyncReport", "add_attribute_predictions", "add_category_predictions",
    "add_predictions", "default_review_name", "image_row_hashes", "import_fiftyone", "launch_app", "load_review_dataset",
    "object_row_hashes", "objects_dataset_name", "origin_tags", "plan_sync", "run_key", "save_views", "send_dataset",
    "sync_dataset", "view_names",
]
