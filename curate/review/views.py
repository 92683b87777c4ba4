"""The curator's saved views in FiftyOne: what to review first."""

from __future__ import annotations

import pandas as pd

from curate.dataset import SPLITS
from curate.review.labels import AUTO_ORIGINS, CATEGORY, DEFAULT_SAGEMAKER_THRESHOLD, DUPLICATE_COLUMN, GROUND_TRUTH, LEAKAGE_COLUMN


def save_views(ds, images: pd.DataFrame, sagemaker_threshold: float = DEFAULT_SAGEMAKER_THRESHOLD) -> list[str]:
    """(Re)create the curator's saved views; augmented samples appear only in their own view."""
    from fiftyone import ViewField as F

    base = ds.match_tags("augmented", bool=False)
    gt = f"{GROUND_TRUTH}.detections"
    views = {
        "auto-boxed to review": base.filter_labels(
            GROUND_TRUTH, F("box_origin").is_in(list(AUTO_ORIGINS)) & (F("review_status") == "unreviewed")
        ).to_patches(GROUND_TRUTH).sort_by(f"{GROUND_TRUTH}.box_confidence"),
        "sagemaker low confidence": base.filter_labels(
            GROUND_TRUTH, (F("box_origin") == "sagemaker") & (F("box_confidence") < sagemaker_threshold)
        ).to_patches(GROUND_TRUTH).sort_by(f"{GROUND_TRUTH}.box_confidence"),
        "taxonomy violations": base.match(
            (F(gt).filter(F("taxonomy_issue").exists()).length() > 0) | F(f"{CATEGORY}.taxonomy_issue").exists()
        ).filter_labels(GROUND_TRUTH, F("taxonomy_issue").exists(), only_matches=False),
        "augmented": ds.match_tags("augmented"),
    }
    for split in SPLITS:
        views[f"split {split}"] = base.match(F("split") == split)
    if DUPLICATE_COLUMN in images.columns:
        views["near-duplicates"] = base.match(F(DUPLICATE_COLUMN).exists()).sort_by(DUPLICATE_COLUMN)
    if LEAKAGE_COLUMN in images.columns:
        views["leakage"] = base.match(F(LEAKAGE_COLUMN) == True)  # noqa: E712
    for view_name, view in views.items():
        ds.save_view(view_name, view, overwrite=True)
    ds.info["sagemaker_threshold"] = sagemaker_threshold
    ds.save()
    return list(views)


def view_names(images: pd.DataFrame) -> list[str]:
    """The saved views `save_views` creates for a dataset with these image columns."""
    names = ["auto-boxed to review", "sagemaker low confidence", "taxonomy violations", "augmented", *(f"split {s}" for s in SPLITS)]
    names += ["near-duplicates"] if DUPLICATE_COLUMN in images.columns else []
    names += ["leakage"] if LEAKAGE_COLUMN in images.columns else []
    return names
