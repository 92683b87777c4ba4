"""Bad input: one clear error naming file, item and field; `skip` leaves it out and reports it."""

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import curate.sources.importer
from curate.cli.main import app
from curate.dataset import read_dataset
from curate.errors import CurateError
from curate.parallel import SerialExecutor
from curate.sources.importer import import_to_dataset


def do_import(source, path, out, on_error="fail", **options):
    return import_to_dataset(source, path, out, on_error=on_error, executor=SerialExecutor(), **options)


def edit_coco(folder, change):
    path = folder / "annotations/instances_train.json"
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))
    return path


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_missing_annotation_file(tmp_path, copy_asset):
    folder = copy_asset("deepfashion")
    (folder / "Anno/list_bbox.txt").unlink()
    with pytest.raises(CurateError, match=r"list_bbox.txt: bounding box list not found"):
        do_import("deepfashion", folder, tmp_path / "ds")
    result = CliRunner().invoke(app, ["import", "coco", str(tmp_path / "nothing.json"), "--out", str(tmp_path / "ds")])
    assert result.exit_code == 1 and "nothing.json: COCO annotation file not found" in result.output
    assert not (tmp_path / "ds").exists()


def test_malformed_json_line_skip_imports_the_rest_and_reports_the_line(tmp_path, copy_asset):
    folder = copy_asset("sagemaker")
    manifest = folder / "output.manifest"
    lines = manifest.read_text().splitlines()
    lines.insert(1, '{"source-ref": "s3://mlz-annotations/raw/img_0009.jpg", "fashion-boxes": {')
    manifest.write_text("\n".join(lines) + "\n")

    report = do_import("sagemaker", manifest, tmp_path / "ds", on_error="skip")
    assert report["images"] == 2 and report["skipped_count"] == 1
    skipped = report["skipped"][0]
    assert skipped["where"] == "line 2" and "malformed JSON" in skipped["reason"] and skipped["file"].endswith("output.manifest")

    result = CliRunner().invoke(app, ["import", "sagemaker", str(manifest), "--out", str(tmp_path / "failed"), "--on-error", "fail"])
    assert result.exit_code == 1
    assert "output.manifest: line 2: malformed JSON" in result.output
    assert not (tmp_path / "failed").exists() and not list(tmp_path.glob(".failed*"))


@pytest.mark.parametrize(
    "bbox,message",
    [([250.0, 300.0, 120.0, 90.0], "lies outside the 300x400 image"), ([100.0, 50.0, -20.0, 40.0], "zero or negative width")],
)
def test_box_outside_the_image_or_with_negative_width(tmp_path, bbox, message, copy_asset):
    folder = copy_asset("coco")

    def change(doc):
        doc["annotations"][1]["bbox"] = bbox

    path = edit_coco(folder, change)
    with pytest.raises(CurateError, match=message) as info:
        do_import("coco", path, tmp_path / "ds")
    assert "instances_train.json: images[0] (id 11)" in str(info.value) and "bounding box" in str(info.value)
    report = do_import("coco", path, tmp_path / "ds", on_error="skip")
    assert report["images"] == 1 and report["skipped_count"] == 1 and message in report["skipped"][0]["reason"]


def test_unknown_category_id(tmp_path, copy_asset):
    folder = copy_asset("coco")

    def change(doc):
        doc["annotations"][2]["category_id"] = 99

    path = edit_coco(folder, change)
    with pytest.raises(CurateError, match=r"annotations\[2\] \(id 3\): field 'category_id': unknown category id 99"):
        do_import("coco", path, tmp_path / "ds")

    df2 = copy_asset("deepfashion2")
    anno = df2 / "train/annos/000002.json"
    doc = json.loads(anno.read_text())
    doc["item1"]["category_id"] = 14
    anno.write_text(json.dumps(doc))
    report = do_import("deepfashion2", df2, tmp_path / "df2", on_error="skip")
    assert report["images"] == 2 and report["skipped"][0]["field"] == "category_id"
    assert report["skipped"][0]["file"].endswith("000002.json")


def test_image_listed_but_missing_on_disk(tmp_path, copy_asset):
    folder = copy_asset("voc")
    (folder / "JPEGImages/look_002.jpg").unlink()
    with pytest.raises(CurateError, match=r"look_002.xml: field 'image': .*look_002.jpg: image file not found"):
        do_import("voc", folder, tmp_path / "ds")
    report = do_import("voc", folder, tmp_path / "ds", on_error="skip")
    assert report["images"] == 1 and "image file not found" in report["skipped"][0]["reason"]


def test_duplicate_image_ids(tmp_path, copy_asset):
    folder = copy_asset("coco")

    def change(doc):
        doc["images"].append({"id": 11, "file_name": "street_02.jpg", "width": 400, "height": 300})

    path = edit_coco(folder, change)
    with pytest.raises(CurateError, match=r"images\[2\] \(id 11\): field 'image id': duplicate image id '11'"):
        do_import("coco", path, tmp_path / "ds")
    report = do_import("coco", path, tmp_path / "ds", on_error="skip")
    assert report["images"] == 2 and report["skipped_count"] == 1


@pytest.mark.parametrize("damage,message", [("truncate", "truncated JPEG"), ("empty", "zero-byte image file")])
def test_truncated_jpeg_and_zero_byte_file(tmp_path, damage, message, copy_asset):
    folder = copy_asset("deepfashion2")
    image = folder / "train/image/000001.jpg"
    data = image.read_bytes()
    image.write_bytes(data[: len(data) * 2 // 3] if damage == "truncate" else b"")
    with pytest.raises(CurateError, match=message) as info:
        do_import("deepfashion2", folder, tmp_path / "ds")
    assert "000001.json" in str(info.value) and "000001.jpg" in str(info.value)
    report = do_import("deepfashion2", folder, tmp_path / "ds", on_error="skip")
    assert report["images"] == 2 and report["objects"] == 2


def test_failed_or_interrupted_import_leaves_the_existing_dataset_untouched(tmp_path, monkeypatch, assets, copy_asset):
    out = tmp_path / "ds"
    do_import("voc", assets / "voc", out)
    before = snapshot(out)

    folder = copy_asset("coco")
    path = edit_coco(folder, lambda doc: doc["annotations"][0].update(category_id=42))
    with pytest.raises(CurateError):
        do_import("coco", path, out, overwrite=True)
    assert snapshot(out) == before

    def interrupted(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(curate.sources.importer, "probe_image", interrupted)
    with pytest.raises(KeyboardInterrupt):
        do_import("deepfashion2", assets / "deepfashion2", out, overwrite=True)
    assert snapshot(out) == before
    assert read_dataset(out).images["source"].unique().tolist() == ["voc"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "input"]  # no staging left behind


def test_on_error_and_options_are_checked(tmp_path, assets):
    with pytest.raises(CurateError, match="--on-error must be one of fail, skip"):
        do_import("voc", assets / "voc", tmp_path / "ds", on_error="ignore")
    with pytest.raises(CurateError, match="takes no option"):
        do_import("voc", assets / "voc", tmp_path / "ds", min_confidence=0.5)
    with pytest.raises(CurateError, match="--footwear-pairs must be one of"):
        do_import("sagemaker", assets / "sagemaker/output.manifest", tmp_path / "ds", footwear_pairs="keep-left")
    with pytest.raises(CurateError, match="unknown source 'kaggle'"):
        do_import("kaggle", assets / "voc", tmp_path / "ds")
