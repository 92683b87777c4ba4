"""Every importer on its golden input in tests/assets/<source>/ (the real file layouts)."""

import json
import shutil

import pytest

from curate.dataset import read_dataset
from curate.parallel import SerialExecutor
from curate.sources.common import read_deepfashion_list
from curate.sources.importer import import_to_dataset


def run(source, path, tmp_path, **options):
    out = tmp_path / source
    report = import_to_dataset(source, path, out, executor=SerialExecutor(), **options)
    return report, read_dataset(out)


def test_deepfashion_multi_space_columns_titles_attributes_and_partition(tmp_path, assets):
    rows = read_deepfashion_list(assets / "deepfashion/Anno/list_attr_cloth.txt")
    assert [name for _, name, _ in rows] == ["a-line", "floral print", "sheer", "pleated front", "stripe", "faux leather"]
    assert rows[1][2] == ["1"]
    report, ds = run("deepfashion", assets / "deepfashion", tmp_path)
    assert report["images"] == 3 and report["mapped"] == 3 and report["skipped_count"] == 0
    images = ds.images.set_index("source_id")
    blouse = "img/Sheer_Pleated-Front_Blouse/img_00000001.jpg"
    assert images.loc[blouse, "name"] == "Sheer Pleated-Front Blouse"
    assert images.loc[blouse, "split"] == "train" and (images.loc[blouse, "width"], images.loc[blouse, "height"]) == (300, 300)
    assert images["split"].tolist().count("val") == 1
    objects = ds.objects.merge(ds.images[["image_id", "source_id"]]).set_index("source_id")
    assert objects.loc[blouse, "category"] == "blouses"
    assert objects.loc[blouse, ["x_min", "y_min", "x_max", "y_max"]].tolist() == pytest.approx([72 / 300, 79 / 300, 232 / 300, 273 / 300])
    dress = objects.loc["img/Floral_Print_Maxi_Dress/img_00000002.jpg"]
    assert dress["category"] == "dresses" and dress["pattern"] == "floral"  # from "floral print"
    assert list(dress["source_attributes"]) == ["a-line", "floral print"]
    assert objects.loc["img/Striped_Cuffed_Shorts/img_00000003.jpg", "pattern"] == "striped"


def test_deepfashion2_keeps_three_items_and_their_slicing_columns(tmp_path, assets):
    report, ds = run("deepfashion2", assets / "deepfashion2", tmp_path)
    assert report["images"] == 3 and report["objects"] == 5
    image = ds.images[ds.images["source_id"] == "train/000001"].iloc[0]
    assert image["df2_source"] == "user" and image["pair_id"] == 1 and image["split"] == "train"
    assert ds.images.set_index("source_id").loc["validation/000003", "split"] == "val"
    items = ds.objects[ds.objects["image_id"] == image["image_id"]].sort_values("df2_item")
    assert items["source_label"].tolist() == ["short sleeve top", "skirt", "sling"]
    assert items["occlusion"].tolist() == [2, 1, 3]
    assert items["zoom_in"].tolist() == [1, 2, 1]
    assert items["viewpoint"].tolist() == [2, 3, 2]
    assert items["scale"].tolist() == [2, 2, 1]
    assert items["df2_style"].tolist() == [1, 1, 0]
    assert items["category"].tolist()[1] == "skirts" and items["object_type"].tolist() == ["upper-body", "lower-body", "upper-body"]
    assert list(items["attributes"].iloc[0]) == ["sleeve style:short sleeve"]
    top = items.iloc[0]
    assert [top.x_min, top.y_min, top.x_max, top.y_max] == pytest.approx([40 / 256, 30 / 320, 200 / 256, 170 / 320])


def test_voc_labelimg_difficult_truncated_and_label_report(tmp_path, assets):
    report, ds = run("voc", assets / "voc", tmp_path)
    assert report["images"] == 2 and report["objects"] == 4
    assert report["dropped_by_rule"] == {"excluded: bags": 1} and report["dropped_labels"] == {"handbag": 1}
    assert report["unmapped_labels"] == {"mannequin": 1}
    shoes = ds.objects[ds.objects["category"] == "trainers"].sort_values("x_min")
    assert shoes["truncated"].tolist() == [True, False] and shoes["difficult"].tolist() == [False, True]


def test_coco_boxes_are_xywh_pixels_and_split_comes_from_the_file_name(tmp_path, assets):
    report, ds = run("coco", assets / "coco/annotations/instances_train.json", tmp_path)
    assert report["images"] == 2 and report["objects"] == 4
    assert set(ds.images["split"]) == {"train"}
    blouse = ds.objects[ds.objects["category"] == "blouses"].iloc[0]
    assert [blouse.x_min, blouse.y_min, blouse.x_max, blouse.y_max] == pytest.approx([20.5 / 300, 30.25 / 400, 170.5 / 300, 231.0 / 400])
    assert ds.objects[ds.objects["source_label"] == "lower-body"].iloc[0]["object_type"] == "lower-body"


def test_sagemaker_drops_weak_boxes_and_the_image_with_a_split_pair(tmp_path, assets):
    report, ds = run("sagemaker", assets / "sagemaker/output.manifest", tmp_path)
    refs = set(ds.images["source_id"])
    # line 1: one shoe at 0.41, its pair at 0.88 -> whole image dropped (default drop-image)
    assert "s3://mlz-annotations/raw/img_0001.jpg" not in refs and len(refs) == 2
    assert report["dropped_by_rule"]["images dropped: one shoe of a pair below confidence 0.6 (--footwear-pairs drop-image)"] == 1
    # line 3: a jacket at 0.35 is dropped, the dress kept
    assert report["dropped_by_rule"]["boxes below confidence 0.6"] == 1
    assert (ds.objects["box_confidence"] >= 0.6).all() and set(ds.objects["box_origin"]) == {"sagemaker"}
    assert ds.images["human_annotated"].all()


@pytest.mark.parametrize("policy,boxes_on_first", [("keep-both", 3), ("keep-above", 2)])
def test_sagemaker_footwear_pair_policies(tmp_path, policy, boxes_on_first, assets):
    report, ds = run("sagemaker", assets / "sagemaker/output.manifest", tmp_path, footwear_pairs=policy)
    first = ds.images[ds.images["source_id"] == "s3://mlz-annotations/raw/img_0001.jpg"]
    assert len(first) == 1
    assert (ds.objects["image_id"] == first["image_id"].iloc[0]).sum() == boxes_on_first


def test_sagemaker_min_confidence_option(tmp_path, assets):
    report, ds = run("sagemaker", assets / "sagemaker/output.manifest", tmp_path, min_confidence=0.3)
    assert report["images"] == 3 and report["objects"] == 8 and report["dropped_by_rule"] == {}


def test_catalogue_titles_exclusions_and_url_images(tmp_path, assets):
    report, ds = run("catalogue", assets / "catalogue/products.csv", tmp_path)
    assert report["dropped_by_rule"] == {"products excluded: bags": 1, "products excluded: swimwear": 1}
    assert report["images"] == 6
    objects = ds.objects.merge(ds.images[["image_id", "product_id", "brand", "path"]])
    by_id = objects.set_index("product_id")
    assert (by_id.loc["P001", "category"], by_id.loc["P001", "style"], by_id.loc["P001", "pattern"]) == ("dresses", "shirt", "floral")
    assert by_id.loc["P005", "pattern"] == "polka dots"
    assert by_id.loc["P008", "category"] == "coats & jackets"  # title says nothing: the description decides
    assert by_id.loc["P008", "path"] == "https://cdn.example.com/p008.jpg"
    assert by_id["x_min"].isna().all()


def test_catalogue_max_brand_share_caps_every_brand(tmp_path, assets):
    report, ds = run("catalogue", assets / "catalogue/products.csv", tmp_path, max_brand_share=0.5)
    # dresses: Alba 3, Corvo 1 -> Alba capped at 1 so no brand has more than half
    assert report["dropped_by_rule"]["brand share above 0.5 of its category (--max-brand-share)"] == 2
    dresses = ds.objects[ds.objects["category"] == "dresses"].merge(ds.images[["image_id", "brand", "product_id"]])
    assert sorted(dresses["brand"]) == ["Alba", "Corvo"] and dresses[dresses["brand"] == "Alba"]["product_id"].tolist() == ["P001"]


@pytest.mark.parametrize("suffix", ["jsonl", "parquet"])
def test_catalogue_reads_json_lines_and_parquet(tmp_path, suffix, assets):
    import pandas as pd

    feed_dir = tmp_path / "feed"
    shutil.copytree(assets / "catalogue", feed_dir)
    frame = pd.read_csv(feed_dir / "products.csv", dtype=str, keep_default_na=False)
    target = feed_dir / f"products.{suffix}"
    if suffix == "jsonl":
        target.write_text("".join(json.dumps(r) + "\n" for r in frame.to_dict("records")))
    else:
        frame.replace("", None).to_parquet(target)
    report, ds = run("catalogue", target, tmp_path)
    assert report["images"] == 6 and report["dropped_by_rule"]["products excluded: bags"] == 1


def test_import_report_file_has_every_count(tmp_path, assets):
    run("voc", assets / "voc", tmp_path)
    saved = json.loads((tmp_path / "voc/reports/import.json").read_text())
    for key in ("images", "objects", "mapped", "dropped_by_rule", "unmapped_labels", "skipped", "skipped_count", "read"):
        assert key in saved
    assert saved["mapped"] == 4 and saved["read"] == {"images": 2, "objects": 6}
    meta = read_dataset(tmp_path / "voc").meta
    (provenance,) = meta["sources"]
    assert provenance["source"] == "voc" and provenance["files"] == 2 and len(provenance["content_sha256"]) == 64
    assert meta["counts"]["images"] == 2


def test_mapping_option_replaces_the_label_resolution(tmp_path, assets):
    mapping = tmp_path / "looks.yaml"
    mapping.write_text(
        "source: looks\ntaxonomy: fashion\ndefault: drop\nlabels:\n  dresses: {category: dresses, style: wrap}\n  jeans: jeans\n"
    )
    report = import_to_dataset("voc", assets / "voc", tmp_path / "ds", mapping=mapping, executor=SerialExecutor())
    ds = read_dataset(tmp_path / "ds")
    assert sorted(ds.objects["category"]) == ["dresses", "jeans"] and set(ds.objects["style"].dropna()) == {"wrap"}
    assert report["dropped_labels"] == {"trainers": 2, "handbag": 1, "mannequin": 1}
