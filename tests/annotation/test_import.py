"""Hand boxes into a catalogue dataset: the golden box table, pixels, VOC, statuses, bad input."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from curate.annotation import import_boxes
from curate.cli.main import app
from curate.curation.autobox import autobox_targets
from curate.dataset import read_dataset, save_tables, stable_id
from curate.errors import CurateError

runner = CliRunner()


def image_id(product: str) -> str:
    return stable_id("catalogue", product)


def objects_of(ds, product: str) -> pd.DataFrame:
    return ds.objects[ds.objects["image_id"] == image_id(product)].sort_values(["object_type", "x_min"]).reset_index(drop=True)


def plain(values) -> list:
    """Cells as Python values with None for null (pandas reads a null string as NaN)."""
    return [None if pd.isna(v) else v for v in values]


def rounded(values) -> list[float]:
    return [round(float(v), 4) for v in values]


def snapshot(path):
    return {name: (path / name).read_bytes() for name in ("images.parquet", "objects.parquet") } | {
        "changes": (path / "changes.parquet").read_bytes() if (path / "changes.parquet").exists() else None}


def test_box_table_replaces_the_product_label_and_adds_the_worn_garments(box_catalogue, assets):
    before = read_dataset(box_catalogue)
    report = import_boxes(box_catalogue, assets / "boxes" / "boxes.csv")
    ds = read_dataset(box_catalogue)
    assert report["images"] == {"boxes": 3, "excluded": 1, "none": 1, "skip": 1}
    assert report["not_in_dataset"] == [{"key": "B700", "status": "excluded", "file": str(assets / "boxes" / "boxes.csv"), "where": "line 14"}]

    # the t-shirt photo: the product takes the upper-body box, the worn garments get their type only
    tee = objects_of(ds, "T100")
    assert tee["object_type"].tolist() == ["footwear", "footwear", "lower-body", "upper-body"]
    product = tee.iloc[3]
    assert product["object_id"] == stable_id(image_id("T100"), 0)  # the catalogue object, kept
    assert (product["category"], product["source_label"]) == ("t-shirts", "Cotton Crew Neck T-Shirt")
    assert rounded(product[c] for c in ("x_min", "y_min", "x_max", "y_max")) == [0.25, 0.2, 0.75, 0.5]
    assert tee["category"].iloc[:3].isna().all() and tee["source_label"].iloc[:3].tolist() == ["footwear", "footwear", "lower-body"]
    assert set(tee["box_origin"]) == {"manual"} and set(tee["review_status"]) == {"edited"}

    # a category label of the product's own category inherits it; a pair of trainers is two boxes of the product
    jeans = objects_of(ds, "J200")
    assert jeans.loc[jeans["object_type"] == "lower-body", "source_label"].tolist() == ["Slim Fit Stretch Jeans"]
    trainers = objects_of(ds, "S300")
    assert trainers["category"].tolist() == ["trainers", "trainers"]
    assert set(trainers["object_id"]) == {stable_id(image_id("S300"), 0), stable_id(stable_id(image_id("S300"), 0), "copy", 1)}
    assert report["images_with_product_copies"] == [image_id("S300")]

    # none: the dress stays a whole-image label (category, pattern, style from the title), marked manual
    dress = objects_of(ds, "D400")
    assert len(dress) == 1 and dress["x_min"].isna().all()
    assert dress.iloc[0][["category", "pattern", "style", "box_origin", "review_status"]].tolist() == ["dresses", "floral", "shirt", "manual", "unreviewed"]

    # skip and images the table does not name are untouched; excluded removes the objects, keeps the image
    for untouched in ("K500", "A800"):
        pd.testing.assert_frame_equal(objects_of(ds, untouched), objects_of(before, untouched))
    assert objects_of(ds, "V600").empty and image_id("V600") in set(ds.images["image_id"])
    pd.testing.assert_frame_equal(ds.images, before.images)

    changes = ds.changes()
    assert len(changes) == report["changes"] == 26
    tee_changes = changes[changes["object_id"] == product["object_id"]].set_index("field")
    assert plain(tee_changes.loc["x_min", ["before", "after"]]) == [None, "0.25"]
    assert tee_changes.loc["box_origin", "after"] == "manual" and tee_changes.loc["review_status", "after"] == "edited"
    created = changes[(changes["field"] == "object") & changes["before"].isna()]
    assert len(created) == 6 and json.loads(created.iloc[0]["after"])["box_origin"] == "manual"
    deleted = changes[(changes["field"] == "object") & changes["after"].isna()]
    assert deleted["image_id"].tolist() == [image_id("V600")]
    assert json.loads(deleted.iloc[0]["before"])["category"] == "tanks"
    assert json.loads((box_catalogue / "reports" / "boxes.json").read_text())["changes"] == 26
    assert read_dataset(box_catalogue).meta["steps"] == ["boxes"]


def test_importing_the_same_table_again_changes_nothing(box_catalogue, assets):
    import_boxes(box_catalogue, assets / "boxes" / "boxes.csv")
    first = snapshot(box_catalogue)
    report = import_boxes(box_catalogue, assets / "boxes" / "boxes.csv")
    assert report["changes"] == 0 and report["objects"] == {"created": 0, "edited": 0, "deleted": 0}
    assert snapshot(box_catalogue) == first


def test_pixel_table_keyed_by_file_name_and_stem_with_category_labels(box_catalogue, assets):
    report = import_boxes(box_catalogue, assets / "boxes" / "boxes_px.csv", units="px")
    ds = read_dataset(box_catalogue)
    tee = objects_of(ds, "T100")
    assert tee[["object_type", "category"]].values.tolist() == [["lower-body", "trousers"], ["upper-body", "t-shirts"]]
    assert rounded(tee.iloc[0][["x_min", "y_min", "x_max", "y_max"]]) == [0.3, 0.5, 0.7, 0.8875]
    assert tee.iloc[0]["source_label"] == "trousers"
    # one trainer of the pair boxed: the product takes it
    assert rounded(objects_of(ds, "S300")["x_min"]) == [0.15]
    assert report["units"] == "px" and report["images"] == {"boxes": 2}


def test_parquet_table_reads_like_the_csv(box_catalogue, assets, tmp_path):
    table = pd.read_csv(assets / "boxes" / "boxes.csv", dtype={"id": str})
    table.to_parquet(tmp_path / "boxes.parquet")
    report = import_boxes(box_catalogue, tmp_path / "boxes.parquet")
    assert report["changes"] == 26 and report["not_in_dataset"][0]["where"] == "row 12"


def test_voc_folder_is_matched_by_file_name(box_catalogue, assets):
    report = import_boxes(box_catalogue, assets / "boxes" / "voc")
    ds = read_dataset(box_catalogue)
    tee = objects_of(ds, "T100")
    assert [plain(r) for r in tee[["object_type", "category"]].values] == [["footwear", None], ["upper-body", "t-shirts"]]
    assert rounded(tee.iloc[0][["x_min", "y_min", "x_max", "y_max"]]) == [0.275, 0.9, 0.45, 0.975]
    assert objects_of(ds, "D400")["box_origin"].tolist() == ["manual"]  # a verified file without boxes: none
    assert report["images"] == {"boxes": 1, "none": 1}


def test_auto_boxing_leaves_images_a_curator_answered_alone(box_catalogue, assets):
    import_boxes(box_catalogue, assets / "boxes" / "boxes.csv")
    ds = read_dataset(box_catalogue)
    images = ds.images.assign(flat_lay=True)  # even if flat-lay detection took every photo for a packshot
    targets = set(autobox_targets(images, ds.objects, qa=False)["image_id"])
    assert targets == {image_id("K500"), image_id("A800")}  # the skipped packshot and the unnamed boots


BAD_ROWS = [
    ("Z999,upper-body,0.1,0.1,0.5,0.5", "line 2: field 'id': expected the source_id or file name of an image in the dataset, found 'Z999' (left out by the import? see reports/import.json)"),
    ("T100,handbag,0.1,0.1,0.5,0.5", "line 2: field 'label': expected an object type (upper-body, lower-body, full-body, footwear), a category of the taxonomy or a status (excluded, no boxes, none, skip), found 'handbag'"),
    ("T100,upper-body,nan,0.1,0.5,0.5", "line 2: field 'x_min': expected a finite number, found nan"),
    ("T100,upper-body,0.1,0.1,inf,0.5", "line 2: field 'x_max': expected a finite number, found inf"),
    ("T100,upper-body,0.1,0.1,0.5,1.7", "line 2: field 'y_max': expected a relative coordinate within 0..1 (use --units px for pixels), found 1.7"),
    ("T100,upper-body,0.6,0.1,0.5,0.5", "line 2: field 'x_max': expected x_min < x_max, found x_min=0.6 x_max=0.5"),
    ("T100,upper-body,0.1,abc,0.5,0.5", "line 2: field 'y_min': expected a number, found 'abc'"),
    ("T100,upper-body,0.1,,0.5,0.5", "line 2: field 'y_min': expected a number for a box labelled 'upper-body', found an empty cell"),
    ("T100,none,0.1,0.1,0.5,0.5", "line 2: field 'label': expected empty coordinates for status 'none', found a box"),
]


@pytest.mark.parametrize("row,message", BAD_ROWS, ids=["key", "label", "nan", "inf", "range", "order", "text", "empty", "status"])
def test_bad_row_is_one_clear_error_and_nothing_is_written(box_catalogue, tmp_path, row, message):
    table = tmp_path / "bad.csv"
    table.write_text(f"id,label,x_min,y_min,x_max,y_max\n{row}\nJ200,jeans,0.3,0.35,0.7,0.85\n")
    before = snapshot(box_catalogue)
    with pytest.raises(CurateError) as caught:
        import_boxes(box_catalogue, table)
    assert str(caught.value) == f"{table}: {message}"
    assert snapshot(box_catalogue) == before


def test_pixel_boxes_outside_the_image_and_a_box_for_an_image_marked_none(box_catalogue, tmp_path):
    table = tmp_path / "bad.csv"
    table.write_text("image,label,x_min,y_min,x_max,y_max\ntee,upper-body,30,32,130,80\ndress,none,,,,\ndress.jpg,full-body,10,10,100,150\n")
    with pytest.raises(CurateError) as caught:
        import_boxes(box_catalogue, table, units="px")
    assert [str(p) for p in caught.value.problems] == [
        f"{table}: line 2: field 'x_max': expected pixels within 0..120 of the 120x160 image, found 130",
        f"{table}: line 4: field 'label': expected one answer per image, found a box for an image given 'none' at {table} line 3",
    ]


def test_on_error_skip_leaves_an_image_with_a_bad_row_as_it_was(box_catalogue, tmp_path):
    table = tmp_path / "boxes.csv"
    table.write_text("id,label,x_min,y_min,x_max,y_max\nT100,upper-body,0.25,0.2,0.75,0.5\nT100,footwear,0.2,0.9,0.1,0.97\nJ200,jeans,0.3,0.35,0.7,0.85\nZ999,skip,,,,\n")
    before = read_dataset(box_catalogue)
    report = import_boxes(box_catalogue, table, on_error="skip")
    ds = read_dataset(box_catalogue)
    pd.testing.assert_frame_equal(objects_of(ds, "T100"), objects_of(before, "T100"))  # half an image is no answer
    assert rounded(objects_of(ds, "J200")["x_min"]) == [0.3]
    assert report["skipped_images"] == [image_id("T100")]
    assert report["skipped"] == [{"file": str(table), "where": "line 3", "field": "x_max", "reason": "expected x_min < x_max, found x_min=0.2 x_max=0.1"}]
    assert report["not_in_dataset"][0]["key"] == "Z999"


def test_table_without_a_key_or_box_column_is_refused(box_catalogue, tmp_path):
    (tmp_path / "a.csv").write_text("photo,label,x_min,y_min,x_max,y_max\n")
    (tmp_path / "b.csv").write_text("id,label,x_min,y_min\n")
    with pytest.raises(CurateError, match="expected an image key column \\(one of image, source_id, id, file, filename, image_id\\), found columns photo, label"):
        import_boxes(box_catalogue, tmp_path / "a.csv")
    with pytest.raises(CurateError, match="missing x_max, y_max"):
        import_boxes(box_catalogue, tmp_path / "b.csv")
    assert import_boxes(box_catalogue, tmp_path / "a.csv", key="photo")["rows"] == 0


def test_a_failed_write_leaves_the_dataset_as_it_was(box_catalogue, assets, monkeypatch):
    import curate.dataset.derive as derive

    before = snapshot(box_catalogue)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(derive, "write_tables", broken)
    with pytest.raises(OSError):
        import_boxes(box_catalogue, assets / "boxes" / "boxes.csv")
    assert snapshot(box_catalogue) == before
    assert [p.name for p in box_catalogue.parent.iterdir() if p.name.startswith(".")] == []


def test_hand_boxes_on_augmented_copies_are_refused_by_key(box_catalogue, tmp_path):
    ds = read_dataset(box_catalogue)
    copy = ds.images[ds.images["source_id"] == "T100"].assign(image_id="copy1", parent_image_id=image_id("T100"), path="media/augmented/copy1.jpg")
    save_tables(box_catalogue, pd.concat([ds.images, copy], ignore_index=True), ds.objects, ds.meta)
    table = tmp_path / "boxes.csv"
    table.write_text("id,label,x_min,y_min,x_max,y_max\nT100,upper-body,0.25,0.2,0.75,0.5\n")
    assert import_boxes(box_catalogue, table)["images"] == {"boxes": 1}  # the original, not its copy


def test_boxes_import_command(box_catalogue, assets, tmp_path):
    result = runner.invoke(app, ["boxes", "import", str(box_catalogue), str(assets / "boxes" / "boxes.csv")])
    assert result.exit_code == 0, result.output
    assert "26 change(s) written" in result.output and "images: none" in result.output
    help_text = runner.invoke(app, ["boxes", "import", "--help"]).output
    assert "Example: curate boxes import" in help_text
    bad = tmp_path / "bad.csv"
    shutil.copy(assets / "boxes" / "boxes.csv", bad)
    with bad.open("a") as handle:
        handle.write("T100,upper-body,0.1,0.1,0.5,-0.5\n")
    failed = runner.invoke(app, ["boxes", "import", str(box_catalogue), str(bad)])
    assert failed.exit_code == 1
    assert f"{bad}: line 15: field 'y_max': expected a relative coordinate within 0..1" in failed.output


def test_an_auto_box_relabelled_keeps_its_origin_and_a_moved_one_becomes_manual(box_catalogue, tmp_path):
    ds = read_dataset(box_catalogue)
    objects = ds.objects.copy()
    jumper = objects["image_id"] == image_id("K500")
    objects.loc[jumper, ["x_min", "y_min", "x_max", "y_max", "box_confidence"]] = [0.15, 0.2, 0.85, 0.75, 0.7]
    objects.loc[jumper, "box_origin"] = "canny"
    for col in ("x_min", "y_min", "x_max", "y_max", "box_confidence"):
        objects[col] = objects[col].astype("float32")
    save_tables(box_catalogue, ds.images, objects, ds.meta)
    table = tmp_path / "boxes.csv"
    table.write_text("id,label,x_min,y_min,x_max,y_max\nK500,upper-body,0.15,0.2,0.85,0.75\n")
    assert import_boxes(box_catalogue, table)["changes"] == 0  # the same box and object type: nothing to change
    table.write_text("\ufeffid,label,x_min,y_min,x_max,y_max\nK500,full-body,0.152,0.2,0.85,0.75\n")  # a spreadsheet's BOM, a quarter pixel off
    import_boxes(box_catalogue, table)
    relabelled = objects_of(read_dataset(box_catalogue), "K500").iloc[0]
    assert plain(relabelled[["object_type", "category", "box_origin", "review_status"]]) == ["full-body", None, "canny", "edited"]
    assert rounded([relabelled["x_min"], relabelled["box_confidence"]]) == [0.15, 0.7]
    table.write_text("id,label,x_min,y_min,x_max,y_max\nK500,full-body,0.2,0.2,0.85,0.75\n")
    import_boxes(box_catalogue, table)
    moved = objects_of(read_dataset(box_catalogue), "K500").iloc[0]
    assert plain(moved[["box_origin", "box_confidence"]]) == ["manual", None] and rounded([moved["x_min"]]) == [0.2]


def test_a_product_box_left_out_becomes_the_whole_image_label_again(box_catalogue, assets, tmp_path):
    import_boxes(box_catalogue, assets / "boxes" / "boxes.csv")
    table = tmp_path / "again.csv"
    table.write_text("id,label,x_min,y_min,x_max,y_max\nT100,footwear,0.275,0.9,0.45,0.975\n")  # the t-shirt is cut after all
    report = import_boxes(box_catalogue, table)
    tee = objects_of(read_dataset(box_catalogue), "T100")
    assert plain(r for r in tee["object_type"]) == ["footwear", "upper-body"]  # the trousers and the other shoe deleted
    product = tee.iloc[1]
    assert product["object_id"] == stable_id(image_id("T100"), 0) and pd.isna(product["x_min"])
    assert plain(product[["category", "box_origin", "review_status"]]) == ["t-shirts", "manual", "edited"]
    assert report["objects"] == {"created": 0, "edited": 1, "deleted": 2} and report["kept_whole"] == 1
