"""--out never destroys what is there: an unrelated folder, a file, the input folder, its parent
and a folder inside it are refused; an existing dataset is replaced only with --overwrite."""

import os
import shutil

import pytest
import yaml
from typer.testing import CliRunner

from curate.cli.main import app
from curate.dataset import leftovers, read_dataset

runner = CliRunner()




@pytest.fixture
def voc(tmp_path, assets):
    shutil.copytree(assets / "voc", tmp_path / "work" / "voc")
    return tmp_path / "work" / "voc"


def run_import(path, out, *extra):
    return runner.invoke(app, ["import", "voc", str(path), "--out", str(out), "--executor", "serial", *extra])


def refused(result, text):
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    return result.exit_code == 1 and len(errors) == 1 and text in errors[0]


def test_an_unrelated_folder_is_refused_and_left_alone(voc, tmp_path):
    mywork = tmp_path / "mywork"
    mywork.mkdir()
    (mywork / "notes.txt").write_text("keep me")
    for extra in ((), ("--overwrite",)):
        result = run_import(voc, mywork, *extra)
        assert refused(result, f"{mywork}: --out exists and is not a curate dataset (it holds notes.txt)"), result.output
    assert sorted(os.listdir(mywork)) == ["notes.txt"] and (mywork / "notes.txt").read_text() == "keep me"


def test_a_file_is_refused_and_not_renamed(voc, tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("a file")
    result = run_import(voc, target, "--overwrite")
    assert refused(result, f"{target}: --out is a file, not a dataset folder"), result.output
    assert target.read_text() == "a file" and sorted(p.name for p in tmp_path.iterdir()) == ["out.txt", "work"]


@pytest.mark.parametrize("where, says", [("input", "is the input"), ("parent", "holds the input"), ("inside", "lies inside the input")])
def test_the_input_its_parent_and_a_folder_inside_it_are_refused(voc, where, says, folder_snapshot):
    out = {"input": voc, "parent": voc.parent, "inside": voc / "ds"}[where]
    before = folder_snapshot(voc.parent)
    for extra in ((), ("--overwrite",)):
        result = run_import(voc, out, *extra)
        assert refused(result, f"--out {says} {voc}"), result.output
    assert folder_snapshot(voc.parent) == before and not (voc / "ds").exists()


def test_an_existing_dataset_is_replaced_only_with_overwrite(voc, tmp_path, assets, folder_snapshot):
    out = tmp_path / "ds"
    assert run_import(voc, out).exit_code == 0
    before = folder_snapshot(out)
    coco = ["import", "coco", str(assets / "coco" / "annotations" / "instances_train.json"), "--out", str(out), "--executor", "serial"]
    result = runner.invoke(app, coco)
    assert refused(result, f"{out}: --out is an existing curate dataset: add --overwrite to replace it"), result.output
    assert folder_snapshot(out) == before
    result = runner.invoke(app, [*coco, "--overwrite"])
    assert result.exit_code == 0, result.output
    assert read_dataset(out).images["source"].unique().tolist() == ["coco"] and not leftovers(out)


def test_an_empty_folder_becomes_the_dataset(voc, tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    assert run_import(voc, out).exit_code == 0
    assert len(read_dataset(out).images) == 2


def test_build_output_follows_the_same_rules(tmp_path, voc):
    recipe = tmp_path / "recipe.yaml"

    def build(output, *extra):
        recipe.write_text(yaml.safe_dump({"name": "b", "output": str(output), "inputs": [{"source": "voc", "path": str(voc)}], "balance": {"enabled": False}, "report": {"charts": False}}))
        return runner.invoke(app, ["build", str(recipe), "--executor", "serial", *extra])

    assert refused(build(voc.parent), f"output holds the input {voc}")
    assert refused(build(recipe), "output is a file")
    assert build(tmp_path / "built").exit_code == 0
    assert refused(build(tmp_path / "built"), "output is an existing curate dataset: add --overwrite")
    assert build(tmp_path / "built", "--overwrite").exit_code == 0


def test_export_never_writes_into_the_dataset(voc, tmp_path, folder_snapshot):
    out = tmp_path / "ds"
    assert run_import(voc, out).exit_code == 0
    before = folder_snapshot(out)
    result = runner.invoke(app, ["export", str(out), "--format", "yolo", "--out", str(out / "yolo")])
    assert refused(result, f"--out lies inside the input {out}"), result.output
    assert folder_snapshot(out) == before
