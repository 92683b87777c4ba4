"""The data the package carries, found through importlib.resources.

    curate/resources/
      taxonomy/        the taxonomy (fashion.yaml) and its source mappings (sources/*.yaml)
      recipes/         the build, demo and training recipes
      fashion_mnist/   the stratified Fashion-MNIST subset, in the official IDX layout

`taxonomy` and `recipes` are links to the repository's top-level `taxonomy/` and `recipes/`
folders (where curators edit them); a wheel carries their files as package data. Paths are
resolved, so an editable install points at the repository's own files.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path


def _folder(name: str) -> Path:
    return Path(str(files(__name__) / name)).resolve()


def taxonomy_dir() -> Path:
    """The folder holding fashion.yaml and sources/<source>.yaml."""
    return _folder("taxonomy")


def recipes_dir() -> Path:
    return _folder("recipes")


def recipe_path(name: str) -> Path:
    """A packaged recipe by file name, e.g. `recipe_path("demo.yaml")`."""
    return recipes_dir() / name


def fashion_mnist_dir() -> Path:
    """The embedded Fashion-MNIST subset (four IDX .gz files and the licence)."""
    return _folder("fashion_mnist")


def user_cache_dir(*parts: str) -> Path:
    """A folder under the user cache (`$XDG_CACHE_HOME/curate`, default ~/.cache/curate)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base, "curate", *parts)
