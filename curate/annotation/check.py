"""Hand boxes checked against a dataset: keys to images, labels to the taxonomy, coordinates.

Every problem names the file, the line (or object), the field, what was expected and what was
found. A problem on a row of a known image marks that whole image bad (with --on-error skip it
is left as it was: half of an image's boxes would teach the detector that the other garments are
background); a row whose key matches no image is bad on its own.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from curate.annotation.read import STATUSES, BoxRow
from curate.dataset import BOX_COLUMNS
from curate.errors import Problem
from curate.geometry import clip_xyxy, xyxy_px_to_rel
from curate.sources.importer import BOX_TOLERANCE_PX
from curate.sources.labels import TaxonomyTermResolver
from curate.taxonomy import Target, Taxonomy

# relative coordinates may overshoot 0..1 by float noise, nothing more
REL_TOLERANCE = 1e-6
# statuses that say nothing about an image's garments: a key the dataset lacks is no error
HARMLESS_WHEN_ABSENT = ("skip", "excluded")


@dataclass
class HandBox:
    label: str  # as written: the source_label of an object it creates
    target: Target  # what the label means in the taxonomy
    box: tuple[float, float, float, float]  # relative xyxy
    origin: str  # "file line 4"


@dataclass
class Answer:
    """What the annotation says of one image: a status, or its boxes (all of them)."""

    image_id: str
    status: str | None = None  # None: `boxes` are the image's boxes; "none", "skip", "excluded"
    boxes: list[HandBox] = field(default_factory=list)
    first: str = ""  # where the image is first named


@dataclass
class CheckedBoxes:
    answers: dict[str, Answer] = field(default_factory=dict)  # by image_id, in the order first named
    problems: list[Problem] = field(default_factory=list)
    bad_images: set[str] = field(default_factory=set)
    not_in_dataset: list[dict] = field(default_factory=list)  # skip / excluded rows of absent images


class LabelResolver:
    """A box label -> taxonomy Target: an object type, a category, or a term the title categoriser knows."""

    def __init__(self, taxonomy: Taxonomy):
        self.tax = taxonomy
        self.terms = TaxonomyTermResolver(taxonomy)

    def resolve(self, label: str) -> Target | None:
        text = label.strip().lower()
        if text in self.tax.object_types:
            return Target(text)
        if text in self.tax.categories:
            return Target(self.tax.object_type_of(text), text)
        resolution = self.terms.resolve(label)
        return resolution.target if resolution.status == "mapped" else None

    def expected(self) -> str:
        return f"an object type ({', '.join(self.tax.object_types)}), a category of the taxonomy or a status ({', '.join(sorted(set(STATUSES)))})"


class KeyIndex:
    """Image keys -> image ids: source_id first, then image_id, file name and file stem.

    Augmented copies are left out: hand boxes belong on the originals."""

    def __init__(self, images: pd.DataFrame):
        originals = images[images["parent_image_id"].isna()] if "parent_image_id" in images.columns else images
        ids = originals["image_id"].astype(str).tolist()
        paths = [Path(str(p)) for p in originals["path"]]
        self.maps = [self._index(zip(originals["source_id"].astype(str), ids)), self._index(zip(ids, ids)),
                     self._index(zip((p.name for p in paths), ids)), self._index(zip((p.stem for p in paths), ids))]

    @staticmethod
    def _index(pairs) -> dict[str, list[str]]:
        index: dict[str, set[str]] = defaultdict(set)
        for key, image_id in pairs:
            index[key].add(image_id)
        return {k: sorted(v) for k, v in index.items()}

    def lookup(self, *keys: str) -> list[str]:
        for key in keys:
            for index in self.maps:
                if key in index:
                    return index[key]
        return []


def _box_problem(row: BoxRow, field_name: str, message: str) -> Problem:
    return Problem(row.file, row.where, field_name, message)


def relative_box(row: BoxRow, size: tuple[int, int] | None) -> tuple[tuple[float, float, float, float] | None, Problem | None]:
    """The row's box in relative xyxy, clipped to the frame, or the first problem with it."""
    if row.bad_coords:
        name, text = row.bad_coords[0]
        return None, _box_problem(row, name, f"expected a number, found '{text}'")
    coords = row.coords or (None,) * 4
    for name, value in zip(BOX_COLUMNS, coords):
        if value is None:
            return None, _box_problem(row, name, f"expected a number for a box labelled '{row.label}', found an empty cell")
        if not math.isfinite(value):
            return None, _box_problem(row, name, f"expected a finite number, found {value}")
    if row.units == "px":
        if size is None:
            return None, _box_problem(row, "units", "expected the image size in images.parquet for a pixel box, found none")
        if row.image_size is not None and tuple(row.image_size) != tuple(size):
            return None, _box_problem(row, "size", f"expected the dataset's image size {size[0]}x{size[1]}, found {row.image_size[0]}x{row.image_size[1]}")
        limits = (size[0], size[1], size[0], size[1])
        for name, value, limit in zip(BOX_COLUMNS, coords, limits):
            if not -BOX_TOLERANCE_PX <= value <= limit + BOX_TOLERANCE_PX:
                return None, _box_problem(row, name, f"expected pixels within 0..{limit} of the {size[0]}x{size[1]} image, found {value:g}")
        box = xyxy_px_to_rel(clip_xyxy(coords, size), size)
    else:
        for name, value in zip(BOX_COLUMNS, coords):
            if not -REL_TOLERANCE <= value <= 1 + REL_TOLERANCE:
                return None, _box_problem(row, name, f"expected a relative coordinate within 0..1 (use --units px for pixels), found {value:g}")
        box = clip_xyxy(coords)
    x0, y0, x1, y1 = (float(v) for v in box)
    if not x0 < x1:
        return None, _box_problem(row, "x_max", f"expected x_min < x_max, found x_min={coords[0]:g} x_max={coords[2]:g}")
    if not y0 < y1:
        return None, _box_problem(row, "y_max", f"expected y_min < y_max, found y_min={coords[1]:g} y_max={coords[3]:g}")
    return (x0, y0, x1, y1), None


def check_rows(rows: list[BoxRow], images: pd.DataFrame, taxonomy: Taxonomy) -> CheckedBoxes:
    """Match every row to its image and check it; group the rows into one Answer per image."""
    keys = KeyIndex(images)
    labels = LabelResolver(taxonomy)
    sizes = {
        image_id: (int(w), int(h)) if pd.notna(w) and pd.notna(h) else None
        for image_id, w, h in zip(images["image_id"], images["width"], images["height"])
    }
    result = CheckedBoxes()
    for row in rows:
        status = row.status
        target = None if status else labels.resolve(row.label)
        found = keys.lookup(row.key, *row.other_keys) if row.key else []
        if len(found) != 1:
            if not found and status in HARMLESS_WHEN_ABSENT:
                result.not_in_dataset.append({"key": row.key, "status": status, "file": row.file, "where": row.where})
            elif not found:
                what = "an empty cell" if not row.key else f"'{row.key}'"
                result.problems.append(_box_problem(row, row.key_field, f"expected the source_id or file name of an image in the dataset, found {what} (left out by the import? see reports/import.json)"))
            else:
                result.problems.append(_box_problem(row, row.key_field, f"expected one image for '{row.key}', found {len(found)} (image_id {', '.join(found[:5])})"))
            continue
        image_id = found[0]
        answer = result.answers.setdefault(image_id, Answer(image_id, first=f"{row.file} {row.where}"))
        problem = None
        if status is None and target is None:
            problem = _box_problem(row, "label", f"expected {labels.expected()}, found '{row.label}'")
        elif status is not None and (row.coords is not None or row.bad_coords):
            problem = _box_problem(row, "label", f"expected empty coordinates for status '{row.label}', found a box")
        elif status is not None and (answer.boxes or (answer.status not in (None, status))):
            problem = _box_problem(row, "label", f"expected one answer per image, found '{row.label}' for an image already given {answer.status or 'boxes'} at {answer.first}")
        elif status is None and answer.status is not None:
            problem = _box_problem(row, "label", f"expected one answer per image, found a box for an image given '{answer.status}' at {answer.first}")
        if problem is None and status is None:
            box, problem = relative_box(row, sizes.get(image_id))
            if problem is None:
                answer.boxes.append(HandBox(row.label, target, box, f"{row.file} {row.where}"))
        elif problem is None:
            answer.status = status
        if problem is not None:
            result.problems.append(problem)
            result.bad_images.add(image_id)
    return result
