"""Real feeds and the layouts datasets ship in: a retailer feed with its own column names and
images named by id, the retailer's category where the title names no garment, a COCO JSON
beside its images/ folder, FiftyOne's data/ + labels.json export, an explicit --images folder
for COCO, VOC and SageMaker, and EXIF-rotated, CMYK and 16-bit images."""

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from curate.cli.main import app
from curate.dataset import read_dataset
from curate.errors import CurateError
from curate.imageio import load_image_rgb, read_image_size
from curate.parallel import SerialExecutor
from curate.sources.catalogue import parse_columns
from curate.sources.importer import import_to_dataset

runner = CliRunner()

# the retailer's own columns, as real feeds ship them
FEED = """id,gender,articleType,productDisplayName,brandName
1001,Men,Sports Shoes,Puma Men Axis White & Grey Sports Shoes,Puma
1002,Boys,Shirts,Ant Kids Boy's White Check Kidswear,Ant Kids
1003,Men,Formal Shoes,Rockport Men Arratoon Black Shoe,Rockport
1004,Women,Kurtas,W Women Printed Beige Kurta,W
1005,Men,Deodorant,Police Men Gold Wings Deo,Police
1006,Women,Face Scrub and Exfoliator,Lotus Herbals Apriscrub,Lotus
"""
COLUMNS = {"product_id": "id", "name": "productDisplayName", "category": "articleType", "brand": "brandName"}


def _jpeg(path, size=(30, 40), colour=(200, 30, 30), **save):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, **save)
    return path


@pytest.fixture
def feed(tmp_path):
    for i in range(1001, 1007):
        _jpeg(tmp_path / "photos" / f"{i}.jpg")
    (tmp_path / "styles.csv").write_text(FEED)
    return tmp_path / "styles.csv"


def run(source, path, out, **options):
    report = import_to_dataset(source, path, out, executor=SerialExecutor(), **options)
    return report, read_dataset(out)


def test_feed_columns_and_image_template(feed, tmp_path):
    report, ds = run("catalogue", feed, tmp_path / "ds", columns=COLUMNS, images=str(tmp_path / "photos" / "{id}.jpg"))
    assert report["images"] == 4 and report["skipped_count"] == 0
    # personal care is excluded from the title, or from the retailer's category when the title names nothing
    assert report["dropped_by_rule"] == {"products excluded: personal care": 2}
    objects = ds.objects.merge(ds.images[["image_id", "product_id", "brand", "width", "height"]]).set_index("product_id")
    assert objects.loc["1001", ["category", "label_source", "label_rule"]].tolist() == ["trainers", "title", "head noun 'sports shoes'"]
    # the title names no garment: the retailer's category decides
    assert objects.loc["1002", ["category", "label_source"]].tolist() == ["shirts", "retailer category"]
    # the title names only the object type: a retailer category of that type gives the category
    assert objects.loc["1003", ["object_type", "category", "label_source"]].tolist() == ["footwear", "flats", "retailer category"]
    assert "the title names footwear" in objects.loc["1003", "label_rule"]
    assert objects.loc["1004", ["object_type", "label_source"]].tolist() == ["upper-body", "title"]
    assert pd_isna(objects.loc["1004", "category"])
    assert objects.loc["1001", "brand"] == "Puma" and (objects.loc["1001", "width"], objects.loc["1001", "height"]) == (30, 40)
    assert report["label_sources"] == {"retailer category": 2, "title": 2}


def pd_isna(value):
    return value is None or value != value


def test_feed_columns_as_text_or_file_and_images_folder(feed, tmp_path):
    text = "product_id=id, name=productDisplayName, category=articleType, image=id"
    assert parse_columns(text)["image"] == "id"
    (tmp_path / "map.yaml").write_text("product_id: id\nname: productDisplayName\n")
    assert parse_columns(str(tmp_path / "map.yaml")) == {"product_id": "id", "name": "productDisplayName"}
    # --images DIR: the image column's file names are looked up in DIR
    feed2 = tmp_path / "feed2.csv"
    feed2.write_text("sku,title,file\nA1,Blue Denim Jeans,1001.jpg\n")
    report, ds = run("catalogue", feed2, tmp_path / "ds2", columns="product_id=sku,name=title,image=file", images=str(tmp_path / "photos"))
    assert report["images"] == 1 and ds.images["path"].iloc[0].endswith("photos/1001.jpg")
    assert ds.objects["category"].tolist() == ["jeans"]


def test_missing_columns_name_the_columns_the_feed_has(feed, tmp_path):
    with pytest.raises(CurateError) as err:
        run("catalogue", feed, tmp_path / "ds")
    message = str(err.value)
    assert "field 'product_id': missing column" in message and "id, gender, articleType, productDisplayName, brandName" in message
    assert "--columns product_id=COLUMN" in message
    with pytest.raises(CurateError, match="maps name to 'title', but the feed has no such column"):
        run("catalogue", feed, tmp_path / "ds", columns={"product_id": "id", "name": "title"})
    with pytest.raises(CurateError, match=r"no image column: .*--images DIR/\{column\}.jpg"):
        run("catalogue", feed, tmp_path / "ds", columns=COLUMNS)
    with pytest.raises(CurateError, match=r"names '\{sku\}', which is no column"):
        run("catalogue", feed, tmp_path / "ds", columns=COLUMNS, images="photos/{sku}.jpg")
    with pytest.raises(CurateError, match="unknown column role"):
        parse_columns("colour=baseColour")
    with pytest.raises(CurateError, match="role=column pairs"):
        parse_columns("product_id")


def test_feed_image_template_relative_to_the_feed_and_missing_images_reported(feed, tmp_path):
    (tmp_path / "photos" / "1004.jpg").unlink()
    report, _ = run("catalogue", feed, tmp_path / "ds", columns=COLUMNS, images="photos/{id}.jpg", on_error="skip")
    assert report["images"] == 3 and report["skipped_count"] == 1
    assert report["skipped"][0]["reason"].endswith("image file not found") and "1004.jpg" in report["skipped"][0]["reason"]


def test_import_command_with_real_feed_columns(feed, tmp_path):
    out = tmp_path / "cli"
    result = runner.invoke(app, ["import", "catalogue", str(feed), "--out", str(out), "--columns", "product_id=id,name=productDisplayName,category=articleType",
                                 "--images", str(tmp_path / "photos" / "{id}.jpg")])
    assert result.exit_code == 0, result.output
    assert sorted(read_dataset(out).objects["object_type"]) == ["footwear", "footwear", "upper-body", "upper-body"]


def _coco(images_dir_name):
    return {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 30, "height": 40}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 3, 10, 20]}],
        "categories": [{"id": 1, "name": "dress"}],
    }


@pytest.mark.parametrize("layout", ["images", "data"])
def test_coco_json_beside_its_images_or_fiftyone_export_is_found(tmp_path, layout):
    root = tmp_path / "export"
    _jpeg(root / layout / "a.jpg")
    name = "labels.json" if layout == "data" else "instances.json"  # FiftyOne writes data/ + labels.json
    (root / name).write_text(json.dumps(_coco(layout)))
    report, ds = run("coco", root / name, tmp_path / "ds")
    assert report["images"] == 1 and report["skipped_count"] == 0
    assert ds.images["path"].iloc[0].endswith(f"{layout}/a.jpg") and ds.objects["category"].tolist() == ["dresses"]


def test_coco_voc_and_sagemaker_take_an_images_folder(tmp_path, assets):
    elsewhere = tmp_path / "pictures"
    _jpeg(elsewhere / "a.jpg")
    (tmp_path / "ann").mkdir()
    (tmp_path / "ann" / "instances.json").write_text(json.dumps(_coco("x")))
    with pytest.raises(CurateError, match="image file not found"):
        run("coco", tmp_path / "ann" / "instances.json", tmp_path / "ds")
    report, _ = run("coco", tmp_path / "ann" / "instances.json", tmp_path / "ds", images=str(elsewhere))
    assert report["images"] == 1

    # VOC: the golden XML files with their images moved to a folder of their own
    voc = tmp_path / "voc"
    (voc / "Annotations").mkdir(parents=True)
    for xml in (assets / "voc" / "Annotations").glob("*.xml"):
        (voc / "Annotations" / xml.name).write_text(xml.read_text())
    moved = tmp_path / "voc_images"
    moved.mkdir()
    for image in (assets / "voc" / "JPEGImages").iterdir():
        (moved / image.name).write_bytes(image.read_bytes())
    report, _ = run("voc", voc, tmp_path / "voc_ds", images=str(moved), on_error="skip")
    assert report["images"] >= 1 and not any("not found" in s["reason"] for s in report["skipped"])

    # SageMaker: s3:// references found by file name in the given folder
    manifest = tmp_path / "gt" / "output.manifest"
    manifest.parent.mkdir()
    manifest.write_text((assets / "sagemaker" / "output.manifest").read_text())
    sm_images = tmp_path / "gt_images"
    sm_images.mkdir()
    for image in (assets / "sagemaker").rglob("*.jpg"):
        (sm_images / image.name).write_bytes(image.read_bytes())
    report, _ = run("sagemaker", manifest, tmp_path / "sm_ds", images=str(sm_images), on_error="skip")
    assert report["images"] >= 1 and not any("not found" in s["reason"] for s in report["skipped"])


def _two_halves(width=60, height=20):
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[:, : width // 2] = (255, 0, 0)  # red left half, blue right half
    rgb[:, width // 2 :] = (0, 0, 255)
    return Image.fromarray(rgb)


@pytest.mark.parametrize("suffix", ["jpg", "png", "webp"])
def test_exif_orientation_is_applied_and_sizes_are_the_displayed_ones(tmp_path, suffix):
    image = _two_halves()
    exif = image.getexif()
    exif[0x0112] = 6  # displayed rotated 90 degrees clockwise
    path = tmp_path / f"turned.{suffix}"
    image.save(path, exif=exif.tobytes(), **({"quality": 95} if suffix != "png" else {}))
    assert read_image_size(path) == (20, 60)
    rgb = load_image_rgb(path)
    assert rgb.shape == (60, 20, 3)
    # clockwise: the stored left (red) half is now on top
    assert rgb[5, 10, 0] > 200 and rgb[5, 10, 2] < 60
    assert rgb[55, 10, 2] > 200 and rgb[55, 10, 0] < 60


def test_exif_rotated_feed_image_gets_displayed_size_in_the_dataset(tmp_path):
    image = _two_halves()
    exif = image.getexif()
    exif[0x0112] = 8
    image.save(tmp_path / "p.jpg", exif=exif.tobytes())
    (tmp_path / "feed.csv").write_text("product_id,name,image\np,Red Dress,p.jpg\n")
    _, ds = run("catalogue", tmp_path / "feed.csv", tmp_path / "ds")
    assert (ds.images["width"].iloc[0], ds.images["height"].iloc[0]) == (20, 60)


def test_cmyk_and_16_bit_images_decode_to_8_bit_rgb(tmp_path):
    _two_halves().convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    rgb = load_image_rgb(tmp_path / "cmyk.jpg")
    assert rgb.dtype == np.uint8 and rgb.shape == (20, 60, 3)
    assert rgb[10, 5, 0] > 200 and rgb[10, 55, 2] > 200
    grey16 = np.full((10, 12), 40000, np.uint16)
    Image.fromarray(grey16).save(tmp_path / "grey16.png")
    out = load_image_rgb(tmp_path / "grey16.png")
    assert out.dtype == np.uint8 and out.shape == (10, 12, 3) and int(out[0, 0, 0]) == 40000 * 255 // 65535
