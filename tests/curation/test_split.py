import numpy as np
import pytest
from typer.testing import CliRunner

from curate.cli.main import app
from curate.curation.split import SplitRecipe, assign_splits, object_labels
from curate.dataset import images_frame, objects_frame, read_dataset, save_tables
from curate.errors import CurateError

CATEGORIES = ["t-shirts", "shirts", "sweaters", "jeans", "trousers", "skirts", "dresses", "trainers", "boots", "heels"]
OBJECT_TYPE = {"t-shirts": "upper-body", "shirts": "upper-body", "sweaters": "upper-body", "jeans": "lower-body", "trousers": "lower-body", "skirts": "lower-body", "dresses": "full-body", "trainers": "footwear", "boots": "footwear", "heels": "footwear"}
PATTERNS = ["striped", "floral", "checked", "graphic", None]
SLEEVES = ["sleeve style:long sleeve", "sleeve style:short sleeve", "sleeve style:sleeveless"]


def multilabel_tables(n_objects: int = 10_000, seed: int = 0, gold_products: int = 0):
    """Products with 1-3 images, images with 1-2 objects carrying category, pattern and attributes."""
    rng = np.random.default_rng(seed)
    images, objects = [], []
    weights = np.array([30, 20, 15, 12, 8, 5, 4, 3, 2, 1], dtype=float)
    n_product = 0
    while len(objects) < n_objects:
        product = f"prod{n_product}"
        split = "gold" if n_product < gold_products else None
        n_product += 1
        for i in range(int(rng.integers(1, 4))):
            image_id = f"{product}-img{i}"
            images.append({"image_id": image_id, "path": f"/data/{image_id}.jpg", "source": "shop", "source_id": image_id, "product_id": product, "split": split})
            for j in range(int(rng.integers(1, 3))):
                category = CATEGORIES[rng.choice(len(CATEGORIES), p=weights / weights.sum())]
                pattern = PATTERNS[rng.choice(len(PATTERNS), p=[0.1, 0.08, 0.06, 0.05, 0.71])]
                attributes = [SLEEVES[int(rng.integers(3))]] if OBJECT_TYPE[category] == "upper-body" else []
                objects.append({"object_id": f"{image_id}-o{j}", "image_id": image_id, "object_type": OBJECT_TYPE[category], "category": category, "pattern": pattern, "attributes": attributes, "source_label": category})
    return images_frame(images), objects_frame(objects)


@pytest.fixture(scope="module")
def tables():
    return multilabel_tables()


@pytest.fixture(scope="module")
def split_images(tables):
    images, objects = tables
    return assign_splits(images, objects, SplitRecipe(stratify="multilabel", seed=3))


def test_no_product_in_two_splits(split_images):
    assert split_images.groupby("product_id")["split"].nunique().max() == 1
    assert set(split_images["split"]) == {"train", "val", "test"}


def test_label_proportions_within_two_points_for_each_split(tables, split_images):
    images, objects = tables
    pairs = object_labels(objects, "multilabel")
    split_of = split_images.set_index("image_id")["split"]
    pairs["split"] = pairs["image_id"].map(split_of)
    objects_split = objects["image_id"].map(split_of)
    assert len(objects) >= 10_000
    whole = pairs["label"].value_counts() / len(objects)
    for split, fraction in (("train", 0.8), ("val", 0.1), ("test", 0.1)):
        n = int((objects_split == split).sum())
        assert abs(n / len(objects) - fraction) < 0.02
        share = pairs.loc[pairs["split"] == split, "label"].value_counts().reindex(whole.index).fillna(0) / n
        assert (share - whole).abs().max() * 100 <= 2.0, (split, (share - whole).abs().idxmax())


def test_same_seed_same_split_and_another_seed_differs(tables, split_images):
    images, objects = tables
    again = assign_splits(images, objects, SplitRecipe(stratify="multilabel", seed=3))
    assert again["split"].tolist() == split_images["split"].tolist()
    other = assign_splits(images, objects, SplitRecipe(stratify="multilabel", seed=4))
    assert other["split"].tolist() != split_images["split"].tolist()


def test_gold_split_is_untouched_and_category_stratification_is_grouped():
    images, objects = multilabel_tables(2000, seed=1, gold_products=40)
    gold_before = set(images.loc[images["split"] == "gold", "image_id"])
    out = assign_splits(images, objects, SplitRecipe(stratify="category"))
    assert set(out.loc[out["split"] == "gold", "image_id"]) == gold_before
    assert out.groupby("product_id")["split"].nunique().max() == 1
    plain = assign_splits(images, objects, SplitRecipe(stratify="none", seed=9))
    assert set(plain.loc[plain["split"] == "gold", "image_id"]) == gold_before
    assert plain.groupby("product_id")["split"].nunique().max() == 1


def test_product_both_in_gold_and_outside_is_an_error():
    images, objects = multilabel_tables(50, seed=2)
    product = images.groupby("product_id").size().idxmax()
    assert (images["product_id"] == product).sum() > 1
    images.loc[(images["product_id"] == product).idxmax(), "split"] = "gold"  # one image of several
    with pytest.raises(CurateError, match=product):
        assign_splits(images, objects, SplitRecipe())


def test_split_command_writes_splits_and_rejects_bad_fractions(tmp_path):
    images, objects = multilabel_tables(600, seed=5)
    save_tables(tmp_path / "ds", images, objects)
    result = CliRunner().invoke(app, ["split", str(tmp_path / "ds"), "--seed", "1", "--stratify", "multilabel"])
    assert result.exit_code == 0, result.output
    assert read_dataset(tmp_path / "ds").images["split"].notna().all()
    bad = CliRunner().invoke(app, ["split", str(tmp_path / "ds"), "--train", "0.9"])
    assert bad.exit_code == 1 and "must be 1" in bad.output
