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

import errno
import json
import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.errors import CurateError, Problem, display

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
    # folders the annotations may reference images in (the format's own root, a given images
    # folder); the importer refuses other local paths unless --allow-outside-root. Empty: no check.
    roots: list[str] = field(default_factory=list)
    # text files that were not UTF-8 and how they were read: {file, encoding, note}
    decoding: list[dict[str, str]] = field(default_factory=list)


class ErrorPolicy:
    """`fail` raises the first problem; `skip` records it so the item is left out and reported."""

    def __init__(self, mode: str = "fail"):
        if mode not in ON_ERROR_CHOICES:
            raise CurateError(f"--on-error must be one of {', '.join(ON_ERROR_CHOICES)}, found '{mode}'")
        self.mode = mode
        self.skipped: list[Problem] = []

    def problem(self, file: str | Path, message: str, where: str | None = None, field_name: str | None = None) -> None:
        """Report bad input: raises under `fail`, otherwise the caller skips the item."""
        problem = Problem(display(file), where, field_name, message)
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
    """Hand a reader's BadItem to the policy: the item (`where`, e.g. "line 2") then the place
    inside it (exc.where, e.g. "annotation 1"), or only exc.where when it is in another file."""
    if exc.file is not None:
        policy.problem(exc.file, str(exc), where=exc.where or where, field_name=exc.field_name)
        return
    joined = ": ".join(w for w in (where, exc.where) if w) or None
    policy.problem(file, str(exc), where=joined, field_name=exc.field_name)


def require_file(path: Path, what: str) -> Path:
    """Missing annotation files are always fatal: there is nothing to skip to."""
    if not path.is_file():
        raise CurateError.at(path, f"{what} not found")
    return path


# ---------------------------------------------------------------------------------------------
# Files and text: read deliberately, whatever is at the path and whatever its encoding

FALLBACK_NAMES = {"cp1252": "Windows-1252", "latin-1": "Latin-1"}


def read_bytes(path: str | Path, what: str = "file") -> bytes:
    """The file's bytes; BadItem saying what is wrong when the path is not a readable file."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except IsADirectoryError:
        raise BadItem(f"expected a {what}, found a folder") from None
    except FileNotFoundError:
        if os.path.islink(path):
            raise BadItem(f"broken link to {display(os.readlink(path))}") from None
        raise BadItem(f"{what} not found") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BadItem("symbolic link loop (the link never leads to a file)") from None
        raise BadItem(f"cannot read the {what}: {exc.strerror}") from None


def decode_text(data: bytes, path: str | Path, decoding: list[dict[str, str]] | None) -> str:
    """UTF-8 (a byte-order mark is dropped); text that is not UTF-8 is read as Windows-1252
    (Latin-1 where that has no character for a byte) and noted in `decoding`."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        found = f"line {line} has byte 0x{data[exc.start]:02x}"
    try:
        text, encoding = data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        text, encoding = data.decode("latin-1"), "latin-1"
    if decoding is not None:
        decoding.append({"file": display(path), "encoding": encoding, "note": f"not UTF-8 ({found}); read as {FALLBACK_NAMES[encoding]}"})
    return text


def read_text(path: str | Path, decoding: list[dict[str, str]] | None = None, what: str = "file") -> str:
    return decode_text(read_bytes(path, what), path, decoding)


def read_json_file(path: str | Path, decoding: list[dict[str, str]] | None = None) -> Any:
    """Parsed JSON; malformed content raises BadItem with the line and column."""
    text = read_text(path, decoding, "JSON file")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadItem(f"malformed JSON: {exc.msg}", where=f"line {exc.lineno} column {exc.colno}") from None


def read_json_lines(path: Path, policy: ErrorPolicy, decoding: list[dict[str, str]] | None = None) -> list[tuple[int, dict]]:
    """(line number, object) for each non-blank line; malformed lines go to the policy."""
    try:
        text = read_text(path, decoding)
    except BadItem as exc:
        raise CurateError.at(path, str(exc)) from None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            policy.problem(path, f"malformed JSON: {exc.msg} (column {exc.colno})", where=f"line {number}")
            continue
        if not isinstance(value, dict):
            policy.problem(path, f"expected a JSON object, found {describe_json(value)}", where=f"line {number}")
            continue
        rows.append((number, value))
    return rows


# ---------------------------------------------------------------------------------------------
# Shapes and types of annotation values


def describe_json(value: Any, limit: int = 60) -> str:
    """'a string: "skirt"', 'a list: [1, 2]', 'an object', 'null': what a value is, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "an object"
    kind = "a list" if isinstance(value, list) else "a string" if isinstance(value, str) else "a number"
    text = json.dumps(value, ensure_ascii=False)
    return f"{kind}: {text if len(text) <= limit else text[: limit - 3] + '...'}"


def expect_object(value: Any, where: str | None = None, field_name: str | None = None) -> dict:
    if not isinstance(value, dict):
        raise BadItem(f"expected a JSON object, found {describe_json(value)}", where=where, field_name=field_name)
    return value


def expect_list(value: Any, where: str | None = None, field_name: str | None = None) -> list:
    if not isinstance(value, list):
        raise BadItem(f"expected a list, found {describe_json(value)}", where=where, field_name=field_name)
    return value


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def expect_number(value: Any, where: str | None = None, field_name: str | None = None) -> float:
    """A finite number (NaN and infinities are refused: they make no box)."""
    if not is_number(value):
        raise BadItem(f"expected a number, found {describe_json(value)}", where=where, field_name=field_name)
    if not math.isfinite(value):
        raise BadItem(f"expected a finite number, found {json.dumps(value)}", where=where, field_name=field_name)
    return float(value)


def expect_box(value: Any, layout: str, where: str | None = None, field_name: str | None = None) -> list[float]:
    """Four finite numbers, e.g. layout '[x1, y1, x2, y2]'."""
    found = json.dumps(value, ensure_ascii=False)
    if not isinstance(value, list) or len(value) != 4 or not all(is_number(v) for v in value):
        raise BadItem(f"expected 4 numbers {layout}, found {found}", where=where, field_name=field_name)
    if not all(math.isfinite(v) for v in value):
        raise BadItem(f"expected 4 finite numbers {layout}, found {found}", where=where, field_name=field_name)
    return [float(v) for v in value]


def expect_size(value: Any, where: str | None = None, field_name: str | None = None) -> int | None:
    """An image width or height: a positive whole number, or absent (null)."""
    if value is None:
        return None
    if not is_number(value) or not math.isfinite(value) or value <= 0 or value != int(value):
        raise BadItem(f"expected a positive integer, found {describe_json(value)}", where=where, field_name=field_name)
    return int(value)


_COLUMN_GAP = re.compile(r"\s{2,}")


def read_deepfashion_list(path: Path, decoding: list[dict[str, str]] | None = None) -> list[tuple[int, str, list[str]]]:
    """A DeepFashion list file as (line number, name, values) rows.

    The first line is a count, the second a header. Names may contain single spaces
    ("a-line midi dress") and end at the first run of two or more spaces; the values after
    them are separated by any whitespace. Rows are checked against the count.
    """
    require_file(path, "DeepFashion list file")
    try:
        lines = read_text(path, decoding).splitlines()
    except BadItem as exc:
        raise CurateError.at(path, str(exc)) from None
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
    """The first candidate that exists, else the first (so the missing-file error names it).

    A link counts as existing even when it leads nowhere, so its own error (a broken link, a
    loop) is reported at its path instead of "not found" at another candidate.
    """
    for candidate in candidates:
        if os.path.lexists(candidate):
            return candidate
    return candidates[0]


def inside_root(path: str, roots: list[str]) -> bool:
    """True when `path` (made absolute, `..` resolved by name) lies under one of the roots."""
    normal = os.path.normpath(os.path.abspath(path))
    for root in roots:
        base = os.path.normpath(os.path.abspath(root))
        if normal == base or normal.startswith(base.rstrip(os.sep) + os.sep):
            return True
    return False


def undecodable_byte(text: str) -> int | None:
    """The first byte of a file name that is not UTF-8 (Python keeps it as a surrogate), or None."""
    for char in text:
        if 0xDC80 <= ord(char) <= 0xDCFF:
            return ord(char) - 0xDC00
    return None
