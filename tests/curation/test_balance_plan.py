"""Balancing that balances: copies are chosen by their effect on every label view."""

import numpy as np
import pytest

from curate.curation.balance import BalanceRecipe, upsampling_plan
from curate.curation.balance_plan import label_matrix, mean_ir_rows, nested_in
from curate.dataset import images_frame, objects_frame

UPPER = ("t-shirts", "sweaters", "shirts", "coats & jackets")
SHOES = ("sandals", "trainers", "boots")
PATTERNS = ("striped", "checked", "floral")


def catalogue(seed=0):
    """Flat-lays of every category in equal numbers (so four upper-body categories make
    upper-body four times as common as trousers), plus outfits carrying a top, trousers and a
    pair of shoes: copying an outfit feeds the majority too."""
    rng = np.random.default_rng(seed)
    images, objects = [], []

    def add(kind, items):
        image_id = f"{kind}{len(images)}"
        images.append({"image_id": image_id, "path": "x.png", "source": "s", "source_id": image_id, "split": "train", "flat_lay": True})
        for k, (object_type, category) in enumerate(items):
            pattern = PATTERNS[rng.integers(3)] if object_type != "footwear" and rng.random() < 0.5 else None
            objects.append({"object_id": f"{image_id}-{k}", "image_id": image_id, "object_type": object_type, "category": category, "pattern": pattern, "source_label": category})

    for _ in range(12):
        for category in UPPER:
            add("flat", [("upper-body", category)])
        for category in SHOES:
            add("flat", [("footwear", category)])
        add("flat", [("full-body", "dresses")])
    for _ in range(4):
        add("flat", [("lower-body", "trousers")])
    for n in range(20):
        shoe = SHOES[n % 3]
        add("outfit", [("upper-body", UPPER[n % 4]), ("lower-body", "trousers"), ("footwear", shoe), ("footwear", shoe)])
    return images_frame(images), objects_frame(objects)


def after_copies(images, objects, plan, views):
    ids, matrix, columns = label_matrix(images, objects, views)
    counts = matrix.sum(axis=0).astype(np.int64)
    before = counts.copy()
    position = {image_id: i for i, image_id in enumerate(ids)}
    for parent, _ in plan.copies:
        counts += matrix[position[parent]]
    view_of = np.array([v for v, _ in columns])
    return {v: (mean_ir_rows(before[view_of == v][None])[0], mean_ir_rows(counts[view_of == v][None])[0]) for v in views}


def test_balancing_object_types_reaches_meanir_1_15_without_raising_patterns():
    images, objects = catalogue()
    plan = upsampling_plan(images, objects, BalanceRecipe(by="object_type"))
    views = after_copies(images, objects, plan, ["object_type", "category", "pattern"])
    assert views["object_type"][0] > 2.0 and views["object_type"][1] <= 1.15
    assert views["pattern"][1] <= 1.10 * views["pattern"][0]
    assert plan.nested == ["category"] and set(plan.guarded) == {"pattern"}
    copied = {parent for parent, _ in plan.copies}
    assert sum(p.startswith("outfit") for p in copied) < len(copied) / 2  # flat-lays of the rare types first


def test_a_guarded_view_never_rises_more_than_max_rise_and_the_stop_is_reported():
    images, objects = catalogue()
    plan = upsampling_plan(images, objects, BalanceRecipe(by="object_type", guard=["category", "pattern"], max_rise=0.10))
    views = after_copies(images, objects, plan, ["object_type", "category", "pattern"])
    assert views["category"][1] <= 1.10 * views["category"][0] + 1e-9
    assert views["object_type"][1] < views["object_type"][0]
    assert "by more than 10%" in plan.stopped


def test_copies_feed_the_majority_only_when_nothing_else_is_left():
    """Copying round-robin over every image that carries a rare group (as balancing did before)
    raises the majority with each outfit; the plan copies outfits only once the trousers
    flat-lays are used up (10 copies each), so upper-body grows by a few instances only."""
    images, objects = catalogue()
    plan = upsampling_plan(images, objects, BalanceRecipe(by="object_type"))
    ids, matrix, columns = label_matrix(images, objects, ["object_type"])
    upper = [i for i, (_, label) in enumerate(columns) if label == "upper-body"][0]
    position = {image_id: i for i, image_id in enumerate(ids)}
    grown = sum(matrix[position[parent], upper] for parent, _ in plan.copies)
    assert 0 < grown <= 0.10 * matrix[:, upper].sum()


@pytest.mark.parametrize("view, target, nested", [("category", "object_type", True), ("pattern", "object_type", False), ("object_type", "category", False)])
def test_nested_views(view, target, nested):
    images, objects = catalogue()
    assert nested_in(images, objects, view, target) is nested
