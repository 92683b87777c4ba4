import json
import shutil

import pytest
import yaml
from typer.testing import CliRunner

from curate.cli.main import app
from curate.curation import operations
from curate.curation.build import load_build_recipe, run_build
from curate.dataset import images_frame, objects_frame, read_dataset, save_tables
from curate.errors import CurateError
from curate.parallel import make_executor


@pytest.fixture(scope="module")
def source(tmp_path_factory, fmnist_items, synthetic_dataset):
    """Unboxed flat-lays: 20 upper-body, 4 footwear, one exact duplicate and one corrupt file."""
    root = tmp_path_factory.mktemp("build-source")
    ds_path, _ = synthetic_dataset(root, fmnist_items("upper-body", 20, offset=200) + fmnist_items("footwear", 4, offset=200), boxed=False, flat_lay=None)
    ds = read_dataset(ds_path)
    shutil.copy(ds.images["path"].iloc[0], root / "src" / "copy.png")
    with open(root / "src" / "broken.png", "wb") as handle:
        handle.write(b"not an image at all")
    extra = [
        {"image_id": "dup", "path": str(root / "src" / "copy.png"), "source": "synthetic", "source_id": "copy", "product_id": "p-copy"},
        {"image_id": "broken", "path": str(root / "src" / "broken.png"), "source": "synthetic", "source_id": "broken", "product_id": "p-broken"},
    ]
    first = ds.objects.iloc[0].to_dict()
    copies = [first | {"object_id": f"{image_id}-o", "image_id": image_id} for image_id in ("dup", "broken")]
    save_tables(ds_path, images_frame(list(ds.images.to_dict("records")) + extra), objects_frame(list(ds.objects.to_dict("records")) + copies))
    return ds_path


def write_recipe(path, source, output, **extra):
    recipe = {
        "name": "shop",
        "output": str(output),
        "inputs": [{"dataset": str(source)}],
        "dedup": {"hamming": 4},
        "split": {"train": 0.8, "val": 0.1, "test": 0.1, "seed": 1, "stratify": "category"},
        "balance": {"by": "object_type"},
    } | extra
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_build_runs_every_step_and_is_byte_identical_when_rerun(tmp_path, source):
    recipe = write_recipe(tmp_path / "recipe.yaml", source, tmp_path / "out")
    result = CliRunner().invoke(app, ["build", str(recipe), "--executor", "serial"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    first = [(out / name).read_bytes() for name in ("images.parquet", "objects.parquet")]
    ds = read_dataset(out)
    report = json.loads((out / "reports" / "build.json").read_text())
    assert [step for step in report] == ["import", "filter", "flat_lay", "skipped_unreadable", "autobox", "dedup", "split", "balance"]
    assert report["flat_lay"]["unreadable"][0]["image_id"] == "broken"
    assert report["dedup"]["exact_groups"] == 1 and len(report["dedup"]["dropped_images"]) == 1
    assert [item["image_id"] for item in report["skipped_unreadable"]] == ["broken"]
    originals = ds.images[ds.images["parent_image_id"].isna()]
    assert len(originals) == 24  # the corrupt file left out, one of the duplicate pair dropped
    assert originals["flat_lay"].astype(bool).all()
    assert ds.objects["x_min"].notna().all()
    assert ds.objects.loc[ds.objects["image_id"].isin(originals["image_id"]), "box_origin"].eq("canny").all()
    assert ds.images.groupby("product_id")["split"].nunique().max() == 1
    assert ds.images.loc[ds.images["parent_image_id"].notna(), "split"].eq("train").all()
    assert ds.meta["recipe"]["balance"]["target"] == "majority"  # defaults resolved into dataset.yaml
    assert ds.meta["recipe"]["dedup"]["hamming"] == 4
    assert (out / "reports" / "imbalance.json").exists() and (out / "reports" / "imbalance.md").exists()
    assert "comparison" in json.loads((out / "reports" / "imbalance.json").read_text())
    assert list((out / "reports").glob("imbalance-*.png"))

    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, Client(cluster):
        again = CliRunner().invoke(app, ["build", str(recipe), "--overwrite", "--executor", "dask", "--scheduler", cluster.scheduler_address])
    assert again.exit_code == 0, again.output
    assert [(out / name).read_bytes() for name in ("images.parquet", "objects.parquet")] == first


def test_unknown_recipe_key_fails_before_any_work_naming_the_key(tmp_path, source):
    recipe = write_recipe(tmp_path / "recipe.yaml", source, tmp_path / "out", balanse={"by": "category"})
    result = CliRunner().invoke(app, ["build", str(recipe)])
    assert result.exit_code == 1
    assert "balanse" in result.output and "unknown key" in result.output
    assert not (tmp_path / "out").exists()
    nested = write_recipe(tmp_path / "nested.yaml", source, tmp_path / "out", split={"sed": 3})
    result = CliRunner().invoke(app, ["build", str(nested)])
    assert result.exit_code == 1 and "split.sed" in result.output
    fine = write_recipe(tmp_path / "ok.yaml", source, tmp_path / "out")
    overridden = CliRunner().invoke(app, ["build", str(fine), "--set", "autobox.pairs=true"])
    assert overridden.exit_code == 1 and "autobox.pairs" in overridden.output
    assert not (tmp_path / "out").exists()


def test_set_overrides_reach_the_resolved_recipe(tmp_path, source):
    recipe = load_build_recipe(write_recipe(tmp_path / "recipe.yaml", source, tmp_path / "out"), ["split.seed=7", "balance.enabled=false", "report.charts=false"])
    assert recipe.split.seed == 7 and not recipe.balance.enabled and not recipe.report.charts


def test_interrupted_build_leaves_previous_dataset_intact(tmp_path, source, monkeypatch):
    recipe_path = write_recipe(tmp_path / "recipe.yaml", source, tmp_path / "out", balance={"enabled": False}, report={"charts": False})
    recipe = load_build_recipe(recipe_path)
    run_build(recipe, make_executor("serial"))
    before = {p.relative_to(tmp_path / "out"): p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(operations, "split_images", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_build(load_build_recipe(recipe_path, ["split.seed=99"]), make_executor("serial"), overwrite=True)
    after = {p.relative_to(tmp_path / "out"): p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir() if "staging" in p.name] == []


def test_remap_to_unknown_category_is_an_error_naming_it(tmp_path, source):
    recipe = load_build_recipe(write_recipe(tmp_path / "recipe.yaml", source, tmp_path / "out", remap={"t-shirts": "teeshirts"}))
    with pytest.raises(CurateError, match="teeshirts"):
        run_build(recipe, make_executor("serial"))
    assert not (tmp_path / "out").exists()


def test_build_from_real_source_formats_catalogue_and_voc(tmp_path, assets):
    recipe = {
        "name": "shop",
        "output": str(tmp_path / "out"),
        "inputs": [{"source": "catalogue", "path": str(assets / "catalogue" / "products.csv")}, {"source": "voc", "path": str(assets / "voc")}],
        "dedup": {"policy": "report"},  # the fixture photos are one placeholder picture: all near duplicates
        "balance": {"by": "object_type"},
        "report": {"charts": False},
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    result = CliRunner().invoke(app, ["build", str(tmp_path / "recipe.yaml"), "--executor", "serial"])
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output and "p008.jpg" in result.output  # the catalogue's remote image cannot be read here
    ds = read_dataset(tmp_path / "out")
    assert [s["source"] for s in ds.meta["sources"]] == ["catalogue", "voc"]
    assert all(len(s["content_sha256"]) == 64 for s in ds.meta["sources"])
    originals = ds.images[ds.images["parent_image_id"].isna()]
    assert originals["source"].value_counts().to_dict() == {"catalogue": 5, "voc": 2}  # the unreadable one is left out
    report = json.loads((tmp_path / "out" / "reports" / "build.json").read_text())
    assert [item["image_id"] for item in report["skipped_unreadable"]] == [report["flat_lay"]["unreadable"][0]["image_id"]]
    objects = ds.objects.merge(ds.images[["image_id", "source", "parent_image_id"]], on="image_id")
    catalogue = objects[(objects["source"] == "catalogue") & objects["parent_image_id"].isna()]
    assert catalogue["box_origin"].value_counts().to_dict() == {"canny": 5}  # whole-image labels boxed by Canny
    voc = objects[(objects["source"] == "voc") & objects["parent_image_id"].isna()]
    assert voc["x_min"].notna().all() and "canny" not in set(voc["box_origin"])
    assert report["dedup"]["near_groups"] + report["dedup"]["exact_groups"] >= 1
    before = report["balance"]["counts_before"]
    assert report["balance"]["ir_after"] <= max(before.values()) / min(before.values())


def test_example_recipe_in_the_repository_is_valid(repo_root):
    recipe = load_build_recipe(repo_root / "recipes" / "build-example.yaml")
    assert [item.source for item in recipe.inputs] == ["catalogue", "voc"]
    assert recipe.balance.by == "object_type x image_type" and recipe.dedup.policy == "report"


def test_build_with_hand_boxes_and_a_gold_fold(tmp_path, assets):
    recipe = {
        "name": "shop",
        "output": str(tmp_path / "out"),
        "inputs": [{"source": "catalogue", "path": str(assets / "boxes" / "products.csv")}],
        "boxes": [{"path": str(assets / "boxes" / "boxes.csv")}],
        "filter": {"drop_unlabelled": False},  # keep the worn garments boxed with their object type only
        "dedup": {"enabled": False},
        "split": {"gold": 0.25, "fold": 1},
        "balance": {"enabled": False},
        "report": {"charts": False},
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    result = CliRunner().invoke(app, ["build", str(tmp_path / "recipe.yaml"), "--executor", "serial"])
    assert result.exit_code == 0, result.output
    ds = read_dataset(tmp_path / "out")
    objects = ds.objects.merge(ds.images[["image_id", "source_id"]], on="image_id")
    manual = objects[objects["box_origin"] == "manual"]
    assert manual.groupby("source_id").size().to_dict() == {"D400": 1, "J200": 3, "S300": 2, "T100": 4}
    assert manual.loc[manual["source_id"] == "D400", "x_min"].isna().all()  # not entirely in frame: never auto-boxed
    assert set(objects.loc[objects["box_origin"] == "canny", "source_id"]) <= {"K500", "A800"}
    assert not objects.loc[objects["source_id"] == "V600"].shape[0]  # excluded: no objects left; filter drops the image
    assert "V600" not in set(ds.images["source_id"])
    report = json.loads((tmp_path / "out" / "reports" / "build.json").read_text())
    assert report["boxes"][0]["images"] == {"boxes": 3, "excluded": 1, "none": 1, "skip": 1}
    gold = ds.images[ds.images["split"] == "gold"]
    assert gold["source_id"].tolist() == ["T100"] and set(gold["fold"]) == {1}
    assert report["split"]["gold_fold"]["fold"] == 1 and report["split"]["gold_fold"]["folds"] == 4
