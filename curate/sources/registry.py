"""The explicit registry of input formats:

`SOURCES` is the registry `curate import SOURCE` and `curate build` look names up in.
Each entry says which mapping resolves its labels (None: the taxonomy's own terms, through the
title categoriser), which shared objects its reader takes from the importer, and which options
it accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from curate.sources.catalogue import read_catalogue
from curate.sources.coco import read_coco
from curate.sources.deepfashion import read_deepfashion
from curate.sources.deepfashion2 import read_deepfashion2
from curate.sources.fashion_mnist import read_fashion_mnist
from curate.sources.sagemaker import read_sagemaker
from curate.sources.voc import read_voc


@dataclass(frozen=True)
class SourceSpec:
    read: Callable
    mapping: str | None  # taxonomy/sources/<mapping>.yaml; None: labels are taxonomy terms
    needs: tuple[str, ...]  # from: policy, dataset_dir, executor, resolver, label_names
    options: tuple[str, ...] = ()
    path_optional: bool = False


SOURCES: dict[str, SourceSpec] = {
    "fashion-mnist": SourceSpec(read_fashion_mnist, "fashion-mnist", ("dataset_dir", "executor", "label_names"), path_optional=True),
    "deepfashion": SourceSpec(read_deepfashion, "deepfashion", ("policy", "resolver")),
    "deepfashion2": SourceSpec(read_deepfashion2, "deepfashion2", ("policy", "label_names")),
    "voc": SourceSpec(read_voc, None, ("policy",), ("images",)),
    "coco": SourceSpec(read_coco, None, ("policy",), ("images",)),
    "sagemaker": SourceSpec(read_sagemaker, None, ("policy", "resolver"), ("min_confidence", "footwear_pairs", "images")),
    "catalogue": SourceSpec(read_catalogue, None, ("policy", "resolver"), ("max_brand_share", "columns", "images")),
}
