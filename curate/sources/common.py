"""What every reader returns, the error policy they share, and small format helpers.

A reader turns one input format into plain rows, one per image: source_id, path (absolute, or
relative to the new dataset for media it wrote), size when the format states it, split, title,
`origin` (file, where) for error messages, and `objects`: each with the raw `source_label`, a
pixel box `box_xyxy_px` (x1, y1, x2, y2; absent for a whole-image label) and any extra columns
the format carries.
Checking images on disk, converting boxes to relative coordinates and mapping labels onto the
taxonomy happen once, in `curate.sources.importer`, for every format alike.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.errors import CurateError, Problem

ON_ERROR_CHOICES = ("fail", "skip")


@dataclass
class SourceRead:
    """Rows read from one source, before images are checked and labels mapped."""

    images: list[dict[str, Any]] = field(default_factory=list)  # each with its "objects"
    # items the reader removed on purpose (a rule, not bad input), counted by reason
    dropped: Counter = field(default_factory=Counter)
    # files read, for provenance in dataset.yaml
    files: list[str] = field(default_factory=list)
    # True when the reader wrote the images itself and knows their sizes (no header check needed)
    sizes_known: bool = False


class ErrorPolicy:
    """`fail` raises the first problem; `skip` records it so the item is left out and reported."""

    def __init__(self, mode: str = "fail"):
        if mode not in ON_ERROR_CHOICES:
            raise CurateError(f"--on-error must be one of {', '.join(ON_ERROR_CHOICES)}, found '{mode}'")
        self.mode = mode
        self.skipped: list[Problem] = []

    def problem(self, file: str | Path, message: str, where: str | None = None, field_name: str | None = None) -> None:
        """Report bad input: raises under `fail`, otherwise the caller skips the item."""
        problem = Problem(str(file), where, field_name, message)
        if self.mode == "fail":
            raise CurateError(str(problem), [problem])
        self.skipped.append(problem)


class BadItem(Exception):
    """Raised while reading one item (image, line, row); the reader hands it to the policy."""

    def __init__(self, message: str, where: str | None = None, field_name: str | None = None, file: str | Path | None = None):
        super().__init__(message)
        self.where = where
        self.field_name = field_name
        self.file = file  # when the problem is in another file than the one being read


def report_bad_item(policy: ErrorPolicy, file: str | Path, exc: BadItem, where: str | None = None) -> None:
    policy.problem(exc.file or file, str(exc), where=exc.where or where, field_name=exc.field_name)


def require_file(path: Path, what: str) -> Path:
    """Missing annotation files are always fatal: there is nothing to skip to."""
    if not path.is_file():
        raise CurateError.at(path, f"{what} not found")
    return path


def read_json_file(path: str | Path) -> Any:
    """Parsed JSON; malformed or non-UTF-8 content raises BadItem with the line and column."""
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read())
    except json.JSONDecodeError as exc:
        raise BadItem(f"malformed JSON: {exc.msg}", where=f"line {exc.lineno} column {exc.colno}") from None
    except UnicodeDecodeError as exc:
        raise BadItem(f"not UTF-8 text: {exc.reason}") from None


def read_json_lines(path: Path, policy: ErrorPolicy) -> list[tuple[int, dict]]:
    """(line number, object) for each non-blank line; malformed lines go to the policy."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                policy.problem(path, f"malformed JSON: {exc.msg} (column {exc.colno})", where=f"line {number}")
                continue
            if not isinstance(value, dict):
                policy.problem(path, f"expected a JSON object, found {type(value).__name__}", where=f"line {number}")
                continue
            rows.append((number, value))
    return rows


_COLUMN_GAP = re.compile(r"\s{2,}")


def read_deepfashion_list(path: Path) -> list[tuple[int, str, list[str]]]:
    """A DeepFashion list file as (line number, name, values) rows.

    The first line is a count, the second a header. Names may contain single spaces
    ("a-line midi dress") and end at the first run of two or more spaces; the values after
    them are separated by any whitespace. Rows are checked against the count.
    """
    require_file(path, "DeepFashion list file")
    lines = path.read_text(encoding="utf-8").splitlines()
    if len(lines) < 2 or not lines[0].strip().isdigit():
        raise CurateError.at(path, "expected a count on the first line and a header on the second", where="line 1")
    rows = []
    for number, line in enumerate(lines[2:], start=3):
        if not line.strip():
            continue
        parts = _COLUMN_GAP.split(line.strip(), maxsplit=1)
        rows.append((number, parts[0], parts[1].split() if len(parts) > 1 else []))
    if len(rows) != int(lines[0]):
        raise CurateError.at(path, f"the first line says {lines[0].strip()} rows but {len(rows)} follow", where="line 1")
    return rows


def image_candidates(name: str, annotation_dir: Path, images: str | Path | None = None, extra: list[Path] | None = None) -> list[Path]:
    """Where an annotation's image may lie, in order: the folder the user named (by the given
    relative path, then by file name alone), beside the annotation file, the format's own places
    (`extra`), and the layouts datasets ship in: an `images/` or `data/` folder (FiftyOne's
    export) beside the annotation file or one level up."""
    relative = Path(name)
    out: list[Path] = []
    if images is not None:
        out += [Path(images) / relative, Path(images) / relative.name]
    out.append(annotation_dir / relative)
    out += extra or []
    for root in (annotation_dir, annotation_dir.parent):
        out += [root / "images" / relative, root / "data" / relative]
    return list(dict.fromkeys(out))


def find_existing(candidates: list[Path]) -> Path:
    """The first candidate that exists, else the first (so the missing-file error names it)."""
    for candidate in candidates:
        if candidate.exists():
            return candidate
    return candidates[0]
