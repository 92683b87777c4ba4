"""Input formats and the import engine.

One module per format with a `read_<format>(path, ...)` function (catalogue, coco, deepfashion,
deepfashion2, fashion_mnist, sagemaker, voc), the explicit registry `SOURCES` (registry.py), and
the import engine (importer.py) that checks images, converts boxes and maps labels for every
format alike.
"""

from curate.sources.importer import import_to_dataset, read_source
from curate.sources.registry import SOURCES, SourceSpec

__all__ = ["SOURCES", "SourceSpec", "import_to_dataset", "read_source"]
