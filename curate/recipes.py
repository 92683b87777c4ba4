"""Declarative recipes: YAML validated by pydantic with unknown keys forbidden.

Each recipe kind is a `RecipeModel` subclass defined beside the code that runs it; this module
loads a file, applies `--set key.path=value` overrides and reports errors with file and key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from curate.errors import CurateError, Problem

M = TypeVar("M", bound="RecipeModel")


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; a syntax error names the file and line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CurateError.at(path, "file not found") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CurateError.at(path, f"malformed YAML: {reason}", where=where) from None


class RecipeModel(BaseModel):
    """Base for every recipe section: unknown keys are an error, never silently ignored."""

    model_config = ConfigDict(extra="forbid")


def apply_overrides(doc: dict[str, Any], overrides: list[str] | None, file: str = "--set") -> dict[str, Any]:
    """Apply `a.b.c=value` overrides (`inputs.0.path=...` indexes a list); values are parsed as
    YAML scalars/lists."""
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise CurateError.at(file, f"expected key=value, found '{item}'")
        node: Any = doc
        parts = key.split(".")
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise CurateError.at(file, f"cannot set '{key}': '{'.'.join(parts[:depth]) or '(top level)'}' is a list of {len(node)}, expected an index 0..{len(node) - 1}, found '{part}'")
                index: Any = int(part)
            elif isinstance(node, dict):
                index = part
                if not last and node.get(part) is None:
                    node[part] = {}
            else:
                raise CurateError.at(file, f"cannot set '{key}': '{'.'.join(parts[:depth])}' is not a mapping")
            if last:
                node[index] = yaml.safe_load(raw) if raw else None
            else:
                node = node[index]
    return doc


def parse_recipe(model: type[M], doc: Any, file: str) -> M:
    if not isinstance(doc, dict):
        raise CurateError.at(file, "a recipe must be a YAML mapping")
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            message = "unknown key (not allowed here)" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append(Problem(file, key, None, message))
        raise CurateError.from_problems(problems) from None


def load_recipe(model: type[M], path: str | Path, overrides: list[str] | None = None) -> M:
    """Read, override and validate a recipe before any work starts."""
    doc = read_yaml(Path(path))
    doc = apply_overrides(doc if isinstance(doc, dict) else {}, overrides) if overrides else doc
    return parse_recipe(model, doc, str(path))


def recipe_to_yaml(recipe: RecipeModel) -> str:
    return yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
