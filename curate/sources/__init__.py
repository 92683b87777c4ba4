"""Input formats: one module per format with a `read_<format>(path, ...)` function.

`SOURCES` is the explicit registry `curate import SOURCE` and `curate build` look names up in.
Each entry says which mapping resolves its labels (None: the taxonomy's own terms), which
shared objects its reader takes from the importer, and which options it accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from curate.sources.fashion_mnist import read_fashion_mnist


@dataclass(frozen=True)
class SourceSpec:
    read: Callable
    mapping: str | None  # taxonomy/sources/<mapping>.yaml; None: labels are taxonomy terms
    needs: tuple[str, ...]  # from: policy, dataset_dir, executor, resolver, label_names
    options: tuple[str, ...] = ()
    path_optional: bool = False


SOURCES: dict[str, SourceSpec] = {
    "fashion-mnist": SourceSpec(read_fashion_mnist, "fashion-mnist", ("dataset_dir", "executor", "label_names"), path_optional=True),
}
