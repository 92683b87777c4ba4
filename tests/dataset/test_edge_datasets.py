"""Every command works on a dataset with no objects, no images, or one split only."""

import shutil

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from curate.cli.main import app
from curate.dataset import images_frame, leftovers, objects_frame, read_dataset, save_tables, stable_id
from curate.exporters import EXPORTERS

runner = CliRunner()

COMMANDS = [
    ["info"],
    ["autobox", "--executor", "serial"],
    ["autobox", "--qa", "--executor", "serial"],
    ["dedup", "--executor", "serial"],
    ["split"],
    ["balance", "--executor", "serial"],
    ["balance", "--by", "category", "--undersample", "2", "--executor", "serial"],
    ["report"],
    ["report", "--photography"],
    *[["export", "--format", name] for name in EXPORTERS],
]


@pytest.fixture(scope="module")
def edge_datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("edge")
    (root / "src").mkdir()
    rows, objects = [], []
    for i in range(3):
        path = root / "src" / f"{i}.png"
        canvas = np.full((64, 64, 3), 235, np.uint8)
        cv2.rectangle(canvas, (10 + i, 12), (40 + 2 * i, 50), (40, 60, 90), -1)
        cv2.imwrite(str(path), canvas)
        image_id = stable_id("edge", i)
        rows.append({"image_id": image_id, "path": str(path), "width": 64, "height": 64, "source": "edge", "source_id": str(i), "split": "train", "product_id": f"p{i}", "flat_lay": True})
        objects.append({"object_id": stable_id(image_id, 0), "image_id": image_id, "object_type": "full-body", "category": "dresses", "source_label": "dress"})
    save_tables(root / "no-objects", images_frame(rows), objects_frame([]))
    save_tables(root / "no-images", images_frame([]), objects_frame([]))
    save_tables(root / "one-split", images_frame(rows), objects_frame(objects))
    return root


@pytest.mark.parametrize("kind", ["no-objects", "no-images", "one-split"])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:3]))
def test_every_command_works_on_edge_datasets(kind, command, edge_datasets, tmp_path):
    dataset = tmp_path / kind
    shutil.copytree(edge_datasets / kind, dataset, symlinks=True)
    extra = ["--out", str(tmp_path / "export")] if command[0] == "export" else []
    result = runner.invoke(app, [command[0], str(dataset), *command[1:], *extra], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    ds = read_dataset(dataset)
    assert len(ds.images) <= 3 and not leftovers(dataset)
