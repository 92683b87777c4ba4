"""The real retailer feed of ../shared/real-dev: imported with its own column names and images
named by id, garments and footwear mapped onto the taxonomy, and the categoriser scored against
the retailer's articleType (bench/real_dev/article_types.csv)."""

import importlib.util
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from curate.cli.main import app
from curate.dataset import read_dataset
from curate.taxonomy import load_taxonomy

COLUMNS = "product_id=id,name=productDisplayName,category=articleType"


def test_real_feed_imports_with_its_own_columns(real_dev, real_dev_labels, tmp_path):
    out = tmp_path / "real"
    result = CliRunner().invoke(app, ["import", "catalogue", str(real_dev / "styles.csv"), "--columns", COLUMNS, "--images", str(real_dev / "images" / "{id}.jpg"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    ds = read_dataset(out)
    feed = pd.read_csv(real_dev / "styles.csv")
    kinds = pd.read_csv(real_dev_labels / "article_types.csv", keep_default_na=False).set_index("article_type")
    kept = feed["articleType"].map(lambda a: not kinds.loc[a, "excluded"] and "not scored" not in kinds.loc[a, "note"])
    # every garment and shoe kept with its photo; bags, watches, innerwear, personal care ... excluded
    assert len(ds.images) >= 0.97 * kept.sum() and len(ds.images) <= kept.sum() + 5
    assert (ds.images["width"] > 0).all() and (ds.images["height"] > 0).all()
    objects = ds.objects
    assert set(objects["object_type"]) == {"upper-body", "lower-body", "full-body", "footwear"}
    assert (objects["object_type"] == "footwear").sum() >= 0.95 * (feed["masterCategory"] == "Footwear").sum()
    assert objects["label_source"].isin(["title", "retailer category"]).all() and objects["label_rule"].notna().all()
    # the retailer's category decides only where the title names no garment or only its type
    assert 0 < (objects["label_source"] == "retailer category").sum() < 0.1 * len(objects)
    report = ds.path / "reports" / "import.json"
    assert report.is_file()


def _bench():
    """bench/real_catalogue.py, whose scoring of titles against the articleType table this checks."""
    path = Path(__file__).resolve().parents[2] / "bench" / "real_catalogue.py"
    spec = importlib.util.spec_from_file_location("real_catalogue_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def scored(real_dev, real_dev_labels):
    rows = _bench().score_titles(real_dev, real_dev_labels)
    return rows[rows["mode"] == "import"]


def test_categoriser_agrees_with_the_retailers_article_types(scored):
    with_category = scored[scored["exp_category"] != ""]
    with_type = scored[scored["exp_object_type"] != ""]
    assert (with_category["category"] == with_category["exp_category"]).mean() >= 0.92
    assert (with_type["object_type"] == with_type["exp_object_type"]).mean() >= 0.95
    assert (scored["excluded"] == scored["exp_excluded"]).mean() >= 0.99
    assert len(scored) >= 790


def test_article_type_table_maps_onto_the_taxonomy(real_dev, real_dev_labels):
    tax = load_taxonomy()
    table = pd.read_csv(real_dev_labels / "article_types.csv", keep_default_na=False)
    assert set(pd.read_csv(real_dev / "styles.csv")["articleType"]) <= set(table["article_type"])
    for row in table.itertuples():
        if row.category:
            assert tax.object_type_of(row.category) == row.object_type, row
        if row.excluded:
            assert row.excluded in tax.exclusions and not row.object_type, row
