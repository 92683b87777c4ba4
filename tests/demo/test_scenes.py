"""Rendered flat-lays and outfits: exact masks and boxes, patterns inside masks, seeded."""

import numpy as np
import pytest

from curate.demo import scenes
from curate.sources.fashion_mnist import EMBEDDED_DIR, read_split
from curate.taxonomy import load_taxonomy

IMAGES, LABELS = read_split(EMBEDDED_DIR, "test")


def first(label: int, n: int = 0) -> np.ndarray:
    return IMAGES[np.flatnonzero(LABELS == label)[n]]


def tight_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


def test_pattern_names_are_taxonomy_patterns():
    assert set(scenes.PATTERNS) <= set(load_taxonomy().patterns)
    assert {"striped", "checked", "polka dots", "animal print", "camouflage"} <= set(scenes.PATTERNS)


@pytest.mark.parametrize("name", sorted(scenes.PATTERNS))
def test_every_pattern_draws_at_least_two_tones(name):
    texture = scenes.PATTERNS[name](96, 96, np.random.default_rng(1))
    assert texture.shape == (96, 96, 3) and texture.dtype == np.float32
    assert 0 <= texture.min() and texture.max() <= 1
    tones = np.unique(np.round(texture.reshape(-1, 3), 2), axis=0)
    assert len(tones) >= 2
    # The second tone covers a real share of the garment, not a few stray pixels.
    distance = np.abs(texture - np.median(texture.reshape(-1, 3), axis=0)).sum(axis=2)
    assert 0.05 < (distance > 0.15).mean() < 0.95


@pytest.mark.parametrize("pattern", [None, "striped", "animal print", "camouflage"])
def test_garment_colour_and_pattern_stay_inside_the_mask(pattern):
    patch, mask = scenes.garment_patch(first(0), 4.0, pattern, np.random.default_rng(3))
    assert patch.shape[:2] == mask.shape == (112, 112)
    assert not patch[~mask].any()
    assert (patch[mask].sum(axis=1) > 0).all()


def test_flat_lay_box_is_the_tight_box_of_the_visible_item():
    scene = scenes.render_flat_lay(first(9), 9, seed=(0, 1), pattern_share=0.0)
    (obj,) = scene.objects
    assert obj.box_xyxy_px() == tight_box(obj.mask)
    # The item is exactly the pixels that differ from the light background.
    background = scene.image[~obj.mask]
    assert background.min() > 150
    x0, y0, x1, y1 = obj.box_xyxy_px()
    assert 50 < x1 - x0 <= 112 and 20 < y1 - y0 <= 112
    rel = obj.box_xyxy_rel()
    assert rel == (x0 / 224, y0 / 224, x1 / 224, y1 / 224)


def test_patterns_go_only_on_garments_and_follow_the_share():
    garments = [scenes.render_flat_lay(first(0, i), 0, seed=i, pattern_share=0.5).objects[0].pattern for i in range(60)]
    assert 15 < sum(p is not None for p in garments) < 45
    shoes = [scenes.render_flat_lay(first(7, i), 7, seed=i, pattern_share=1.0).objects[0].pattern for i in range(10)]
    assert shoes == [None] * 10


def test_rendering_is_seeded():
    a = scenes.render_flat_lay(first(2), 2, seed=(5, 0), pattern_share=1.0)
    b = scenes.render_flat_lay(first(2), 2, seed=(5, 0), pattern_share=1.0)
    c = scenes.render_flat_lay(first(2), 2, seed=(5, 1), pattern_share=1.0)
    assert np.array_equal(a.image, b.image) and a.objects[0].pattern == b.objects[0].pattern
    assert not np.array_equal(a.image, c.image)


@pytest.mark.parametrize(
    "labels",
    [(0, 1, 7), (4, 1, 9), (3, 5), (6, 1, 5)],
)
def test_outfit_masks_are_disjoint_and_boxes_tight(labels):
    items = [scenes.OutfitItem(first(label, 2), label) for label in labels]
    scene = scenes.render_outfit(items, seed=11, pattern_share=1.0)
    # The shoe comes as a pair: two footwear objects, mirrored.
    assert [o.label for o in scene.objects] == [*labels[:-1], labels[-1], labels[-1]]
    total = np.zeros(scene.image.shape[:2], int)
    for obj in scene.objects:
        assert obj.box_xyxy_px() == tight_box(obj.mask)
        total += obj.mask
    assert total.max() == 1
    label_map = scene.label_map()
    for k, obj in enumerate(scene.objects, start=1):
        assert np.array_equal(label_map == k, obj.mask)
    garments = [o for o in scene.objects if o.label not in scenes.SHOES]
    assert all(o.pattern is not None for o in garments)
    shoes = [o for o in scene.objects if o.label in scenes.SHOES]
    assert shoes[0].box_xyxy_px()[2] <= shoes[1].box_xyxy_px()[0]


@pytest.mark.parametrize("labels", [(0, 7), (1, 0, 7), (3, 1, 5), (0, 1, 8)])
def test_outfits_must_be_top_bottom_shoes_or_dress_shoes(labels):
    with pytest.raises(ValueError, match="top \\+ bottom \\+ shoes or dress \\+ shoes"):
        scenes.render_outfit([scenes.OutfitItem(first(label), label) for label in labels], seed=0)
