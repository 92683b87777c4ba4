"""Post-processing rules for detections: the heuristics of section 4.1.2 of the source document,
each switchable and counted by the merged predictor.

- `hand_as_footwear`: a footwear box in the middle band of the picture, or overlapping an
  upper-body box, is most likely a hand: removed;
- `bare_legs`: of two overlapping lower-body boxes, the larger is most likely bare legs around
  shorts or a skirt: only the smaller is kept.

Then one answer per object, through the taxonomy's hierarchy (a category belongs to exactly one
object type), when the category classifier disagrees with the detector's object type:

- `type_from_category`: a category scored at least TYPE_FROM_CATEGORY_SCORE corrects the type
  (a "full-body" box the classifier is sure holds boots becomes footwear);
- `category_within_type`: otherwise the category is the most likely one of the detected type.

Pure functions on relative xyxy boxes (a detections frame with object_type, score and the box)
and on the classifier's probabilities.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd

from curate.dataset import BOX_COLUMNS
from curate.errors import CurateError
from curate.geometry import area_xyxy, intersection_over_first, xyxy_to_cxcywh

MIDDLE_BAND = (1 / 3, 2 / 3)  # vertical band of the picture where feet rarely are
FOOTWEAR_UPPER_OVERLAP = 0.1  # share of the footwear box covered by an upper-body box
LOWER_BODY_OVERLAP = 0.5  # intersection over the smaller box for two lower-body boxes


def boxes_xyxy(frame: pd.DataFrame) -> np.ndarray:
    # column by column: selecting the four at once costs an index lookup worth a millisecond
    return np.stack([frame[c].to_numpy(dtype=np.float64) for c in BOX_COLUMNS], axis=1).reshape(-1, 4)


# The rules work on plain arrays (each detection's object type, its relative xyxy box): the
# merged predictor runs them on every picture, where pandas' per-call cost would dominate.


def hand_as_footwear(types: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Mask of footwear detections that are likely hands."""
    footwear = types == "footwear"
    if not footwear.any():
        return footwear
    centre_y = xyxy_to_cxcywh(boxes)[:, 1]
    in_middle = (centre_y >= MIDDLE_BAND[0]) & (centre_y <= MIDDLE_BAND[1])
    upper = boxes[types == "upper-body"]
    near_upper = (intersection_over_first(boxes, upper) >= FOOTWEAR_UPPER_OVERLAP).any(axis=1) if len(upper) else np.zeros(len(boxes), dtype=bool)
    return footwear & (in_middle | near_upper)


def bare_legs(types: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Mask of lower-body detections that overlap a smaller lower-body detection."""
    lower = np.flatnonzero(types == "lower-body")
    drop = np.zeros(len(types), dtype=bool)
    if len(lower) < 2:
        return drop
    boxes = boxes[lower]
    area = area_xyxy(boxes)
    covered = intersection_over_first(boxes, boxes)  # [i, j]: share of i inside j
    for i in range(len(lower)):
        for j in range(len(lower)):
            smaller_inside_larger = area[j] < area[i] and covered[j, i] >= LOWER_BODY_OVERLAP
            if i != j and smaller_inside_larger:
                drop[lower[i]] = True
    return drop


RULES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {"hand_as_footwear": hand_as_footwear, "bare_legs": bare_legs}
CATEGORY_RULES = ("type_from_category", "category_within_type")
ALL_RULES = (*RULES, *CATEGORY_RULES)
TYPE_FROM_CATEGORY_SCORE = 0.9


def parse_rules(text: str) -> list[str]:
    known = list(ALL_RULES)
    if text.strip() == "all":
        return known
    if text.strip() == "none":
        return []
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise CurateError(f"--rules: unknown rule(s) {', '.join(unknown)}; expected all, none or a comma list of {', '.join(known)}")
    return names


def consistent_category(object_type: str, names: list[str], probs: np.ndarray, category_types: dict[str, str], enabled: list[str]) -> tuple[str, int | None, str | None]:
    """(object type, index into `names` of the category, the rule that decided or None) for one
    object whose classifier scored `probs` over `names`; `category_types` maps each category to
    its object type. Without a rule, the classifier's best category stands."""
    if not len(probs):
        return object_type, None, None
    best = int(np.argmax(probs))
    best_type = category_types.get(names[best])
    if best_type is None or best_type == object_type:
        return object_type, best, None
    if "type_from_category" in enabled and probs[best] >= TYPE_FROM_CATEGORY_SCORE:
        return best_type, best, "type_from_category"
    if "category_within_type" in enabled:
        within = [i for i, name in enumerate(names) if category_types.get(name) == object_type]
        if within:
            return object_type, max(within, key=lambda i: probs[i]), "category_within_type"
        return object_type, None, "category_within_type"
    return object_type, best, None


def apply_rules(detections: pd.DataFrame, enabled: list[str]) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Apply the enabled detection rules in order; return the kept detections and the removed ones."""
    removed: list[dict[str, Any]] = []
    types, boxes = detections["object_type"].to_numpy(), boxes_xyxy(detections)
    for name in (n for n in enabled if n in RULES):
        if not len(types):
            break
        mask = RULES[name](types, boxes)
        if mask.any():
            removed += [{"rule": name, **row} for row in detections[mask].to_dict("records")]
            detections = detections[~mask].reset_index(drop=True)
            types, boxes = types[~mask], boxes[~mask]
    return detections, removed
