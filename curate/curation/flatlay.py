"""Flat-lay detection: is this a product shot on a plain background, with no person?

A flat-lay (or packshot) shows the product on a plain background, so the outer border of the
image is almost entirely background. A plain border is necessary but not sufficient: studio
on-model shots stand the whole person on the same white, inside the frame. So:

1. the border ring is fitted with a smooth background (a quadratic in x and y per channel,
   refitted without the pixels that do not fit: studio sweeps and vignettes are smooth, a
   person or product cut by the frame is not);
2. a border that does not match that background (a subject cut by the frame, a scene) is no
   flat-lay;
3. on a plain border, evidence of a person (a face, `curate.curation.person`) makes an on-model
   shot;
4. otherwise the image is a flat-lay.

Every answer carries its reason. The answer goes to `images.flat_lay` (and the reason to
`images.flat_lay_reason`); the background colour, model and noise level are reused by
auto-boxing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from curate.curation.background import measure_background
from curate.curation.person import find_person
from curate.errors import CurateError
from curate.imageio import load_image_reduced

# Fraction of border pixels that must match the background for a flat-lay.
FLAT_LAY_MIN_BORDER_MATCH = 0.95
# The border ring's statistics need a few hundred pixels a side: larger JPEGs are decoded reduced.
REDUCED_SIDE = 512


@dataclass(frozen=True)
class FlatLayAnswer:
    """Flat-lay or not, and why."""

    flat_lay: bool
    reason: str
    border_match: float
    person: dict[str, Any] | None = None  # the evidence of a person, when there is one


def classify_photo(rgb: np.ndarray) -> FlatLayAnswer:
    """Flat-lay or on-model, with the reason (see the module docstring for the order of tests)."""
    background = measure_background(rgb)
    match = background.border_match
    if match < FLAT_LAY_MIN_BORDER_MATCH:
        return FlatLayAnswer(False, f"border not plain: {match:.1%} of it matches the background (a subject cut by the frame, or a scene)", match)
    person = find_person(rgb)
    if person is not None:
        return FlatLayAnswer(False, f"person on a plain background: {person['reason']}", match, person)
    return FlatLayAnswer(True, f"plain background ({match:.1%} of the border) and no person found", match)


def is_flat_lay(rgb: np.ndarray, min_border_match: float = FLAT_LAY_MIN_BORDER_MATCH) -> tuple[bool, float]:
    """(flat-lay by the border alone?, border match score) for one RGB image; see classify_photo."""
    background = measure_background(rgb)
    return background.border_match >= min_border_match, background.border_match


def flat_lay_file(path: str) -> dict:
    """Per-image task for executors: the flat-lay answer, score and reason, or why the file is unreadable."""
    try:
        answer = classify_photo(load_image_reduced(path, REDUCED_SIDE)[0])
    except CurateError as exc:
        return {"error": str(exc)}
    return {"error": None, "flat_lay": answer.flat_lay, "score": answer.border_match, "reason": answer.reason}
