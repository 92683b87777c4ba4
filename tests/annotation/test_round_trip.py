"""The labelImg round trip on files: export the images that need boxes, edit the XML as labelImg
would (move a box, add one, delete one, verify an empty picture), import, check tables and log."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pandas as pd
import pytest
from typer.testing import CliRunner

from curate.annotation import export_for_labelimg, import_boxes
from curate.cli.main import app
from curate.dataset import read_dataset, save_tables, stable_id
from curate.errors import CurateError

runner = CliRunner()
PREFILL = """id,label,x_min,y_min,x_max,y_max
T100,upper-body,0.25,0.2,0.75,0.5
T100,lower-body,0.3,0.5,0.7,0.8875
T100,footwear,0.275,0.9,0.45,0.975
"""


def image_id(product: str) -> str:
    return stable_id("catalogue", product)


def objects_of(ds, product: str) -> pd.DataFrame:
    return ds.objects[ds.objects["image_id"] == image_id(product)].sort_values(["object_type", "x_min"]).reset_index(drop=True)


def pixels(row, size=(120, 160)) -> list[int]:
    return [round(float(row[c]) * size[i % 2]) for i, c in enumerate(("x_min", "y_min", "x_max", "y_max"))]


@pytest.fixture
def shop(box_catalogue, tmp_path):
    """The catalogue with its packshot marked, and the t-shirt photo already boxed."""
    ds = read_dataset(box_catalogue)
    save_tables(box_catalogue, ds.images.assign(flat_lay=ds.images["source_id"].eq("K500")), ds.objects, ds.meta)
    (tmp_path / "prefill.csv").write_text(PREFILL)
    import_boxes(box_catalogue, tmp_path / "prefill.csv")
    return box_catalogue


def labelimg_edit(path, *, move=None, delete=(), add=(), verify=False) -> None:
    """Change an XML file the way labelImg saves it: boxes moved, deleted or drawn, `verified`."""
    tree = ET.parse(path)
    root = tree.getroot()
    objects = root.findall("object")
    for name, (dx, dy) in (move or {}).items():
        box = next(o for o in objects if o.findtext("name") == name).find("bndbox")
        for tag, shift in (("xmin", dx), ("xmax", dx), ("ymin", dy), ("ymax", dy)):
            box.find(tag).text = str(int(box.findtext(tag)) + shift)
    for name in delete:
        root.remove(next(o for o in root.findall("object") if o.findtext("name") == name))
    for name, coords in add:
        node = ET.SubElement(root, "object")
        for tag, text in (("name", name), ("pose", "Unspecified"), ("truncated", "0"), ("difficult", "0")):
            ET.SubElement(node, tag).text = text
        box = ET.SubElement(node, "bndbox")
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), coords):
            ET.SubElement(box, tag).text = str(value)
    if verify:
        root.set("verified", "yes")
    tree.write(path, encoding="utf-8")


def test_export_writes_the_labelimg_layout_prefilled_with_the_boxes(shop, tmp_path):
    out = tmp_path / "to-box"
    report = export_for_labelimg(shop, out, on_model=True)
    assert report["images"] == 6 and report["boxes"] == 3
    assert sorted(p.name for p in (out / "JPEGImages").iterdir()) == ["boots.jpg", "dress.jpg", "jeans.jpg", "tee.jpg", "trainers.jpg", "vest.jpg"]
    assert sorted(p.stem for p in (out / "Annotations").iterdir()) == ["boots", "dress", "jeans", "tee", "trainers", "vest"]
    classes = (out / "classes.txt").read_text().split("\n")
    assert classes[0] == "upper-body" and "t-shirts" in classes and "footwear" in classes
    tee = ET.parse(out / "Annotations" / "tee.xml").getroot()
    assert tee.findtext("filename") == "tee.jpg" and tee.findtext("size/width") == "120"
    assert tee.findtext("path") == str(out.resolve() / "JPEGImages" / "tee.jpg")
    boxes = {o.findtext("name"): [int(o.findtext(f"bndbox/{t}")) for t in ("xmin", "ymin", "xmax", "ymax")] for o in tee.findall("object")}
    assert boxes == {"t-shirts": [30, 32, 90, 80], "lower-body": [36, 80, 84, 142], "footwear": [33, 144, 54, 156]}
    assert ET.parse(out / "Annotations" / "dress.xml").getroot().findall("object") == []
    manifest = json.loads((out / "curate-annotation.json").read_text())
    assert manifest["images"]["tee"]["image_id"] == image_id("T100") and manifest["selection"] == "on-model"
    assert report["open_with"] == f"labelImg {out}/JPEGImages {out}/classes.txt {out}/Annotations"

    unboxed = export_for_labelimg(shop, tmp_path / "unboxed", on_model=True, without_boxes=True)
    assert unboxed["images"] == 5 and not (tmp_path / "unboxed" / "JPEGImages" / "tee.jpg").exists()
    gold = export_for_labelimg(shop, tmp_path / "first-two", where="flat_lay == False and boxes == 0", limit=2)
    assert gold["images"] == 2


def test_round_trip_move_add_delete_and_verify(shop, tmp_path):
    out = tmp_path / "to-box"
    export_for_labelimg(shop, out, on_model=True)
    before = read_dataset(shop)
    logged_before = len(before.changes())
    notes = out / "Annotations"
    labelimg_edit(notes / "tee.xml", move={"t-shirts": (6, 0)}, delete=["lower-body"], add=[("footwear", (66, 144, 87, 156))])
    labelimg_edit(notes / "jeans.xml", add=[("jeans", (36, 56, 84, 136)), ("footwear", (33, 138, 54, 152))])
    labelimg_edit(notes / "dress.xml", verify=True)

    report = import_boxes(shop, out)
    assert report["folder"]["changed_files"] == 3 and report["folder"]["unchanged_files"] == 3
    ds = read_dataset(shop)

    tee = objects_of(ds, "T100")
    assert tee["object_type"].tolist() == ["footwear", "footwear", "upper-body"]  # the trousers box deleted
    product = tee.iloc[2]
    assert product["object_id"] == stable_id(image_id("T100"), 0) and pixels(product) == [36, 32, 96, 80]
    assert [pixels(r) for _, r in tee.iloc[:2].iterrows()] == [[33, 144, 54, 156], [66, 144, 87, 156]]
    jeans = objects_of(ds, "J200")
    assert jeans[["object_type", "category", "source_label"]].fillna("-").values.tolist() == [
        ["footwear", "-", "footwear"], ["lower-body", "jeans", "Slim Fit Stretch Jeans"]]
    assert objects_of(ds, "D400")["box_origin"].tolist() == ["manual"]
    for untouched in ("S300", "V600", "A800", "K500"):
        pd.testing.assert_frame_equal(objects_of(ds, untouched), objects_of(before, untouched))

    log = ds.changes().iloc[logged_before:]
    by_object = log.groupby("object_id")["field"].apply(sorted).to_dict()
    assert by_object[product["object_id"]] == ["x_max", "x_min"]  # moved 6 px to the right
    moved = log[(log["object_id"] == product["object_id"]) & (log["field"] == "x_min")].iloc[0]
    assert (moved["before"], moved["after"]) == ("0.25", "0.3")
    trousers = objects_of(before, "T100").query("object_type == 'lower-body'")["object_id"].iloc[0]
    deleted = log[log["object_id"] == trousers].iloc[0]
    assert deleted["field"] == "object" and pd.isna(deleted["after"]) and json.loads(deleted["before"])["object_type"] == "lower-body"
    created = log[(log["field"] == "object") & log["before"].isna()]
    assert sorted(created["image_id"]) == sorted([image_id("T100"), image_id("J200")])
    assert by_object[stable_id(image_id("J200"), 0)] == ["box_origin", "review_status", "x_max", "x_min", "y_max", "y_min"]
    assert by_object[stable_id(image_id("D400"), 0)] == ["box_origin"]
    assert len(log) == report["changes"] == 12

    # the same folder again: nothing new; one more edit: only that one is read
    again = import_boxes(shop, out)
    assert again["changes"] == 0 and again["folder"]["unchanged_files"] == 6
    labelimg_edit(notes / "tee.xml", move={"footwear": (0, -2)})
    third = import_boxes(shop, out)
    assert third["folder"]["changed_files"] == 1 and third["changes"] == 2  # y_min and y_max of one shoe


def test_a_file_whose_image_changed_in_the_dataset_since_the_export_is_a_conflict(shop, tmp_path):
    out = tmp_path / "to-box"
    export_for_labelimg(shop, out, on_model=True, without_boxes=True)
    (tmp_path / "late.csv").write_text("id,label,x_min,y_min,x_max,y_max\nJ200,jeans,0.3,0.35,0.7,0.85\n")
    import_boxes(shop, tmp_path / "late.csv")  # someone boxed the jeans meanwhile
    after_table = objects_of(read_dataset(shop), "J200")
    labelimg_edit(out / "Annotations" / "jeans.xml", add=[("footwear", (33, 138, 54, 152))])
    labelimg_edit(out / "Annotations" / "dress.xml", verify=True)

    result = runner.invoke(app, ["boxes", "import", str(shop), str(out)])
    assert result.exit_code == 2, result.output
    assert f"conflict: {out / 'Annotations' / 'jeans.xml'}: image {image_id('J200')} changed in the dataset since the export" in " ".join(result.output.split())
    ds = read_dataset(shop)
    pd.testing.assert_frame_equal(objects_of(ds, "J200"), after_table)
    assert objects_of(ds, "D400")["box_origin"].tolist() == ["manual"]


def test_export_refuses_a_folder_with_files_and_an_empty_selection(shop, tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("curator's work")
    with pytest.raises(CurateError, match="expected a new or empty folder"):
        export_for_labelimg(shop, tmp_path / "busy", on_model=True)
    assert sorted(p.name for p in (tmp_path / "busy").iterdir()) == ["notes.txt"]
    with pytest.raises(CurateError, match="no images to annotate: the selection \\(split gold\\) is empty"):
        export_for_labelimg(shop, tmp_path / "none", split="gold")
    with pytest.raises(CurateError, match="--where: cannot evaluate 'colour == 3'"):
        export_for_labelimg(shop, tmp_path / "none", where="colour == 3")
    assert not (tmp_path / "none").exists()


def test_export_command_prints_how_to_annotate_and_import(shop, tmp_path):
    out = tmp_path / "to-box"
    result = runner.invoke(app, ["boxes", "export", str(shop), "--out", str(out), "--on-model", "--without-boxes"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "5 image(s) with 0 box(es) written" in text
    assert f"labelImg {out}/JPEGImages {out}/classes.txt {out}/Annotations" in text
    assert f"curate boxes import {shop} {out}" in text
    for command in ("import", "export", "load"):
        assert f"Example: curate boxes {command}" in runner.invoke(app, ["boxes", command, "--help"]).output
