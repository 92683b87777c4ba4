"""Damaged dataset files, bad recipe options and an unwritable --out parent: one clear error
naming the file and the line or field, and nothing written."""

import os
import shutil
import subprocess

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from curate.cli.main import app
from curate.dataset import images_frame, leftovers, objects_frame, save_tables, stable_id

runner = CliRunner()




@pytest.fixture
def dataset(tmp_path):
    images = images_frame([{"image_id": stable_id("s", i), "path": f"media/{i}.png", "width": 8, "height": 8, "source": "s", "source_id": str(i), "split": "train"} for i in range(2)])
    objects = objects_frame([{"object_id": stable_id("o", i), "image_id": images.image_id[i], "object_type": "footwear", "category": "boots", "source_label": "boots"} for i in range(2)])
    save_tables(tmp_path / "ds", images, objects, {"name": "ds"})
    return tmp_path / "ds"


def drop_column(file, column):
    table = pq.read_table(file)
    os.unlink(file)  # the file is shared with no one, but write a new one as curate would
    pq.write_table(table.drop([column]), file)


def retype_column(file, column):
    table = pq.read_table(file)
    index = table.column_names.index(column)
    os.unlink(file)
    pq.write_table(table.set_column(index, column, pa.array([str(v) for v in table.column(column).to_pylist()])), file)


DAMAGE = {
    "malformed dataset.yaml": (lambda ds: (ds / "dataset.yaml").write_text("name: ds\nsteps: [split\ncounts: 3\n"), "dataset.yaml: line 3 column 7: malformed YAML"),
    "dataset.yaml not a mapping": (lambda ds: (ds / "dataset.yaml").write_text("- a\n- b\n"), "dataset.yaml: expected a mapping of provenance fields, found a list"),
    "Parquet table missing a column": (lambda ds: drop_column(ds / "current" / "objects.parquet", "x_min"), "objects.parquet: field 'x_min': missing column (expected float)"),
    "Parquet column of the wrong type": (lambda ds: retype_column(ds / "current" / "images.parquet", "width"), "images.parquet: field 'width': expected int32, found string"),
    "not a Parquet file": (lambda ds: (ds / "current" / "images.parquet").write_bytes(b"PAR1 but not really"), "images.parquet: not a readable Parquet table"),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
@pytest.mark.parametrize("command", [["info"], ["split"], ["autobox", "--executor", "serial"], ["report"], ["export", "--format", "csv"]], ids=lambda c: c[0])
def test_damaged_dataset_files_give_one_clear_error(damage, command, dataset, tmp_path, folder_snapshot):
    change, message = DAMAGE[damage]
    change(dataset)
    before = folder_snapshot(dataset)
    extra = ["--out", str(tmp_path / "export.csv")] if command[0] == "export" else []
    result = runner.invoke(app, [command[0], str(dataset), *command[1:], *extra])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"{dataset}/{message}" in errors[0], result.output
    assert folder_snapshot(dataset) == before and not leftovers(dataset)
    assert not (tmp_path / "export.csv").exists()


def test_a_source_option_of_the_wrong_type_names_the_recipe_key(tmp_path, assets):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"name": "r", "output": str(tmp_path / "out"), "inputs": [{"source": "sagemaker", "path": str(assets / "sagemaker" / "output.manifest"), "options": {"min_confidence": "high"}}]}))
    result = runner.invoke(app, ["build", str(recipe), "--executor", "serial"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{recipe}: inputs.0: " in result.output and "option min_confidence: expected a valid number" in result.output and "found 'high'" in result.output
    assert not (tmp_path / "out").exists()
    result = runner.invoke(app, ["import", "sagemaker", str(assets / "sagemaker" / "output.manifest"), "--out", str(tmp_path / "out"), "--footwear-pairs", "both"])
    assert result.exit_code == 1 and "--footwear-pairs must be one of drop-image, keep-both, keep-above, found 'both'" in result.output


def _read_only(folder):
    """Make a folder unwritable, for root too where chattr works; None when neither can."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return lambda: folder.chmod(0o755)
    if shutil.which("chattr") and subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0:
        return lambda: subprocess.run(["chattr", "-i", str(folder)], check=True)
    return None


def test_a_read_only_parent_of_out_is_one_clear_error(tmp_path, assets):
    parent = tmp_path / "locked"
    parent.mkdir()
    undo = _read_only(parent)
    if undo is None:
        pytest.skip("cannot make a folder read-only here")
    try:
        result = runner.invoke(app, ["import", "voc", str(assets / "voc"), "--out", str(parent / "ds"), "--executor", "serial"])
    finally:
        undo()
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert f"error: {parent / 'ds'}: cannot create the dataset folder: permission denied in {parent}" in result.output
    assert list(parent.iterdir()) == []
