"""Exports read back: coco and voc round trips, YOLO and TFRecord boxes, CSV rows."""

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from curate.cli.main import app
from curate.dataset import read_dataset
from curate.errors import CurateError
from curate.exporters import EXPORTERS
from curate.exporters.common import class_names
from curate.parallel import SerialExecutor
from curate.sources.importer import import_to_dataset


def imported(source, path, tmp_path):
    out = tmp_path / f"{source}-ds"
    import_to_dataset(source, path, out, executor=SerialExecutor())
    return read_dataset(out)


def coco_boxes(path: Path) -> dict[str, list[tuple[str, list[float]]]]:
    doc = json.loads(path.read_text())
    names = {c["id"]: c["name"] for c in doc["categories"]}
    files = {i["id"]: i["file_name"] for i in doc["images"]}
    out = {}
    for ann in doc["annotations"]:
        out.setdefault(files[ann["image_id"]], []).append((names[ann["category_id"]], ann["bbox"]))
    return {k: sorted(v) for k, v in out.items()}


def voc_objects(folder: Path) -> dict[str, list[tuple[str, list[float]]]]:
    out = {}
    for xml in sorted(folder.glob("*.xml")):
        root = ET.parse(xml).getroot()
        objs = [
            (o.findtext("name"), [float(o.find("bndbox").findtext(t)) for t in ("xmin", "ymin", "xmax", "ymax")])
            for o in root.findall("object")
        ]
        out[root.findtext("filename")] = sorted(objs)
    return out


def assert_same(expected, actual):
    assert expected.keys() == actual.keys()
    for key in expected:
        assert [label for label, _ in expected[key]] == [label for label, _ in actual[key]]
        for (_, a), (_, b) in zip(expected[key], actual[key]):
            np.testing.assert_allclose(b, a, rtol=1e-6, atol=0)


def test_coco_round_trip_keeps_boxes_and_labels(tmp_path, assets):
    source = assets / "coco/annotations/instances_train.json"
    ds = imported("coco", source, tmp_path)
    EXPORTERS["coco"](ds, tmp_path / "export")
    exported = tmp_path / "export/annotations/instances_train.json"
    assert_same(coco_boxes(source), coco_boxes(exported))
    assert (tmp_path / "export/images/train/street_01.jpg").read_bytes() == (assets / "coco/images/train/street_01.jpg").read_bytes()
    # and the export imports again to the same tables
    again = imported("coco", exported, tmp_path / "again")
    cols = ["source_label", "x_min", "y_min", "x_max", "y_max"]
    assert again.objects.sort_values(cols)[cols].values.tolist() == ds.objects.sort_values(cols)[cols].values.tolist()


def test_voc_round_trip_keeps_boxes_labels_and_flags(tmp_path, assets):
    ds = imported("voc", assets / "voc", tmp_path)
    EXPORTERS["voc"](ds, tmp_path / "export")
    original = voc_objects(assets / "voc/Annotations")
    # the bag (excluded) and the mannequin (no taxonomy term) were not imported
    original["look_002.jpg"] = [o for o in original["look_002.jpg"] if o[0] not in ("handbag", "mannequin")]
    assert_same(original, voc_objects(tmp_path / "export/Annotations"))
    flags = [(o.findtext("truncated"), o.findtext("difficult")) for o in ET.parse(tmp_path / "export/Annotations/look_001.xml").getroot().iter("object")]
    assert sorted(flags) == [("0", "0"), ("0", "1"), ("1", "0")]
    assert (tmp_path / "export/JPEGImages/look_001.jpg").is_file()
    assert sorted((tmp_path / "export/ImageSets/Main/unsplit.txt").read_text().split()) == ["look_001", "look_002"]


def test_yolo_export_loads_back_with_the_same_boxes(tmp_path, assets):
    ds = imported("deepfashion2", assets / "deepfashion2", tmp_path)
    out = tmp_path / "yolo"
    written = EXPORTERS["yolo"](ds, out)
    assert written == {"images": 3, "objects": 5}
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["train"] == "images/train" and data["val"] == "images/val" and data["names"][0] == "upper-body"
    names = data["names"]
    images = ds.images.set_index("image_id")
    loaded = []
    for label_file in sorted((out / "labels").rglob("*.txt")):
        split = label_file.parent.name
        assert (out / "images" / split / f"{label_file.stem}.jpg").is_file()
        for line in label_file.read_text().splitlines():
            cls, cx, cy, w, h = line.split()
            cx, cy, w, h = map(float, (cx, cy, w, h))
            loaded.append((label_file.stem, names[int(cls)], round(cx - w / 2, 6), round(cy - h / 2, 6), round(cx + w / 2, 6), round(cy + h / 2, 6)))
    expected = []
    for row in ds.objects.itertuples():
        stem = Path(images.loc[row.image_id, "path"]).stem
        label = row.category if isinstance(row.category, str) else row.object_type
        expected.append((stem, label, *(round(float(v), 6) for v in (row.x_min, row.y_min, row.x_max, row.y_max))))
    assert sorted(loaded) == sorted(expected)


def test_split_option_exports_one_split(tmp_path, assets):
    imported("deepfashion2", assets / "deepfashion2", tmp_path)
    result = CliRunner().invoke(app, ["export", str(tmp_path / "deepfashion2-ds"), "--format", "yolo", "--out", str(tmp_path / "y"), "--split", "val"])
    assert result.exit_code == 0, result.output
    assert "wrote 1 images and 1 objects" in result.output
    assert [p.name for p in (tmp_path / "y/labels").iterdir()] == ["val"]
    result = CliRunner().invoke(app, ["export", str(tmp_path / "deepfashion2-ds"), "--format", "yolo", "--out", str(tmp_path / "y"), "--split", "gold"])
    assert result.exit_code == 1 and "no images in split 'gold'" in result.output


def test_tfrecord_has_the_object_detection_api_keys(tmp_path, assets):
    import tensorflow as tf

    ds = imported("coco", assets / "coco/annotations/instances_train.json", tmp_path)
    EXPORTERS["tfrecord"](ds, tmp_path / "tfr")
    spec = {
        "image/encoded": tf.io.FixedLenFeature([], tf.string),
        "image/filename": tf.io.FixedLenFeature([], tf.string),
        "image/height": tf.io.FixedLenFeature([], tf.int64),
        "image/width": tf.io.FixedLenFeature([], tf.int64),
        "image/format": tf.io.FixedLenFeature([], tf.string),
        "image/object/bbox/xmin": tf.io.VarLenFeature(tf.float32),
        "image/object/bbox/ymin": tf.io.VarLenFeature(tf.float32),
        "image/object/bbox/xmax": tf.io.VarLenFeature(tf.float32),
        "image/object/bbox/ymax": tf.io.VarLenFeature(tf.float32),
        "image/object/class/text": tf.io.VarLenFeature(tf.string),
        "image/object/class/label": tf.io.VarLenFeature(tf.int64),
    }
    names = class_names()
    records = list(tf.data.TFRecordDataset(str(tmp_path / "tfr/train.tfrecord")))
    assert len(records) == 2
    images = ds.images.set_index("image_id")
    for raw in records:
        ex = tf.io.parse_single_example(raw, spec)
        file_name = ex["image/filename"].numpy().decode()
        row = images[images["path"].str.endswith(file_name)].iloc[0]
        decoded = tf.io.decode_jpeg(ex["image/encoded"])
        assert decoded.shape[:2] == (row["height"], row["width"]) == (ex["image/height"].numpy(), ex["image/width"].numpy())
        objs = ds.objects[ds.objects["image_id"] == row.name].sort_values("object_id")
        texts = [t.decode() for t in tf.sparse.to_dense(ex["image/object/class/text"]).numpy()]
        assert texts == [c if isinstance(c, str) else t for c, t in zip(objs["category"], objs["object_type"])]
        assert tf.sparse.to_dense(ex["image/object/class/label"]).numpy().tolist() == [names.index(t) + 1 for t in texts]
        for key, col in (("xmin", "x_min"), ("ymin", "y_min"), ("xmax", "x_max"), ("ymax", "y_max")):
            np.testing.assert_allclose(tf.sparse.to_dense(ex[f"image/object/bbox/{key}"]).numpy(), objs[col].to_numpy(), rtol=1e-6)
    assert "name: 'dresses'" in (tmp_path / "tfr/label_map.pbtxt").read_text()


def test_csv_has_every_object_including_whole_image_labels(tmp_path, assets):
    ds = imported("catalogue", assets / "catalogue/products.csv", tmp_path)
    written = EXPORTERS["csv"](ds, tmp_path / "out.csv")
    import pandas as pd

    frame = pd.read_csv(tmp_path / "out.csv")
    assert written == {"images": 6, "objects": 6} and len(frame) == 6
    assert set(frame["label"]) >= {"dresses", "jeans", "coats & jackets"}
    assert frame.loc[frame["source_label"] == "Wrap Midi Dress", "attributes"].iloc[0] == "length:midi"


def test_detection_exports_refuse_images_without_size(tmp_path, assets):
    ds = imported("catalogue", assets / "catalogue/products.csv", tmp_path)
    with pytest.raises(CurateError, match="image size unknown"):
        EXPORTERS["coco"](ds, tmp_path / "c")


@settings(max_examples=200, deadline=None)
@given(
    width=st.integers(8, 5000),
    height=st.integers(8, 5000),
    corners=st.tuples(*(st.floats(0, 1, allow_nan=False) for _ in range(4))),
)
def test_pixel_relative_coco_yolo_conversions_round_trip(width, height, corners):
    from curate.exporters.coco import coco_document
    from curate.exporters.common import ExportImage
    from curate.exporters.yolo import yolo_lines
    from curate.sources.coco import coco_object
    from curate.sources.importer import relative_box

    x1, x2 = sorted(corners[::2])
    y1, y2 = sorted(corners[1::2])
    assume(x2 - x1 > 1e-3 and y2 - y1 > 1e-3)
    box = tuple(float(np.float32(v)) for v in (x1, y1, x2, y2))  # as stored in objects.parquet
    image = ExportImage("i", Path("a.jpg"), "a.jpg", width, height, "train", [box], ["dresses"], [{}])
    ann = coco_document([image], ["dresses"])["annotations"][0]
    back = relative_box(coco_object(ann, 0, {1: "dresses"})["box_xyxy_px"], {"width": width, "height": height}, 0)
    np.testing.assert_allclose(back, box, rtol=1e-6, atol=1e-9)
    _, cx, cy, w, h = map(float, yolo_lines(image, {"dresses": 0}).split())
    np.testing.assert_allclose([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], box, atol=2e-8)  # 8 decimals written
