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


# ---------------------------------------------------------------------------------------------
# A gold fold by product for k-fold work


@pytest.fixture(scope="module")
def fold_runs(tables):
    """The five runs of a 5-fold split (gold 0.2, fold 0..4) of the 10k-object tables."""
    images, objects = tables
    return [assign_splits(images, objects, SplitRecipe(stratify="multilabel", seed=3, gold=0.2, fold=k)) for k in range(5)]


def test_folds_partition_the_products_and_each_run_puts_one_in_gold(tables, fold_runs):
    images, _ = tables
    folds = fold_runs[0]["fold"]
    assert folds.notna().all() and set(folds) == {0, 1, 2, 3, 4}
    gold_products = []
    for k, run in enumerate(fold_runs):
        assert run["fold"].tolist() == folds.tolist()  # the same folds whichever is gold
        assert run.groupby("product_id")["fold"].nunique().max() == 1 and run.groupby("product_id")["split"].nunique().max() == 1
        gold = run[run["split"] == "gold"]
        assert set(gold["fold"]) == {k} and (run["fold"] == k).sum() == len(gold)
        assert set(run.loc[run["split"] != "gold", "split"]) == {"train", "val", "test"}
        gold_products.append(set(gold["product_id"]))
    every = set(images["product_id"])
    assert set().union(*gold_products) == every and sum(map(len, gold_products)) == len(every)  # each product gold exactly once
    assert all(abs(len(g) / len(every) - 0.2) < 0.02 for g in gold_products)


def test_each_fold_keeps_the_label_shares_and_the_rest_splits_as_before(tables, fold_runs):
    images, objects = tables
    pairs = object_labels(objects, "multilabel")
    whole = pairs["label"].value_counts() / len(objects)
    run = fold_runs[2]
    fold_of = run.set_index("image_id")["fold"]
    split_of = run.set_index("image_id")["split"]
    for k in range(5):
        members = objects["image_id"].map(fold_of) == k
        share = pairs.loc[pairs["image_id"].map(fold_of) == k, "label"].value_counts().reindex(whole.index).fillna(0) / members.sum()
        assert (share - whole).abs().max() * 100 <= 2.5, (k, (share - whole).abs().idxmax())
    rest = objects["image_id"].map(split_of)
    rest = rest[rest != "gold"]
    assert abs((rest == "train").mean() - 0.8) < 0.02 and abs((rest == "val").mean() - 0.1) < 0.02


def test_fold_split_is_seeded_and_rotates_in_place_around_gold_already_set():
    images, objects = multilabel_tables(1500, seed=4, gold_products=30)
    fixed = set(images.loc[images["split"] == "gold", "image_id"])
    recipe = SplitRecipe(gold=0.25, fold=0, seed=5)
    first = assign_splits(images, objects, recipe)
    assert assign_splits(images, objects, recipe)["fold"].tolist() == first["fold"].tolist()
    assert assign_splits(images, objects, SplitRecipe(gold=0.25, seed=6))["fold"].tolist() != first["fold"].tolist()
    assert first.loc[first["image_id"].isin(fixed), "fold"].isna().all()  # gold set before takes no fold and stays
    second = assign_splits(first, objects, SplitRecipe(gold=0.25, fold=1, seed=5))
    assert second["fold"].tolist() == first["fold"].tolist()
    assert set(second.loc[second["split"] == "gold", "image_id"]) == fixed | set(second.loc[second["fold"] == 1, "image_id"])
    assert not (second.loc[second["fold"] == 0, "split"] == "gold").any()  # fold 0 went back to train/val/test
    plain = assign_splits(second, objects, SplitRecipe(seed=5))  # without a gold share nothing gold moves
    assert set(plain.loc[plain["split"] == "gold", "image_id"]) == set(second.loc[second["split"] == "gold", "image_id"])


@pytest.mark.parametrize("values,message", [
    ({"gold": 0.3}, "gold must be 1/k for a whole number of folds k >= 2 (0.5, 0.25, 0.2, 0.1, ...), found 0.3"),
    ({"gold": 0.2, "fold": 5}, "fold must be within 0..4 for gold 0.2 (5 folds), found 5"),
    ({"fold": 1}, "fold 1 needs a gold share"),
])
def test_gold_share_and_fold_are_checked(values, message):
    with pytest.raises(ValueError, match=message.replace("(", "\\(").replace(")", "\\)").replace(".", "\\.")):
        SplitRecipe(**values)


def test_split_command_with_a_gold_fold_stores_the_folds(tmp_path):
    images, objects = multilabel_tables(600, seed=5)
    save_tables(tmp_path / "ds", images, objects)
    result = CliRunner().invoke(app, ["split", str(tmp_path / "ds"), "--gold", "0.2", "--fold", "2"])
    assert result.exit_code == 0, result.output
    assert "gold is fold 2 of 5" in result.output
    stored = read_dataset(tmp_path / "ds").images
    assert set(stored.loc[stored["split"] == "gold", "fold"]) == {2} and stored["fold"].notna().all()
    bad = CliRunner().invoke(app, ["split", str(tmp_path / "ds"), "--gold", "0.3"])
    assert bad.exit_code == 1 and "gold must be 1/k" in bad.output
