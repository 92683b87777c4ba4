"""FiftyOne's annotation backends (CVAT, Label Studio): one clear error without a server, and the
selection by saved view shared with the labelImg export."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from curate.cli.main import app

runner = CliRunner()


@pytest.fixture
def no_annotation_server(tmp_path, monkeypatch):
    """No annotation config file and no FIFTYONE_<BACKEND>_* variables."""
    for name in list(os.environ):
        if name.startswith(("FIFTYONE_CVAT_", "FIFTYONE_LABELSTUDIO_", "FIFTYONE_LABELBOX_", "FIFTYONE_ANNOTATION_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FIFTYONE_ANNOTATION_CONFIG_PATH", str(tmp_path / "no-annotation-config.json"))
    return monkeypatch


def one_line(output: str) -> str:
    return " ".join(output.split())


def test_without_a_configured_server_export_and_load_of_a_run_fail_in_one_line(planted, fiftyone_db, no_annotation_server, tmp_path):
    path, _ = planted
    result = runner.invoke(app, ["boxes", "export", str(path), "--run", "first", "--without-boxes"])
    assert result.exit_code == 1
    assert ("no cvat annotation server is configured (missing username or email, password): set FIFTYONE_CVAT_URL, "
            "FIFTYONE_CVAT_USERNAME and FIFTYONE_CVAT_PASSWORD, or backends.cvat in "
            f"{tmp_path / 'no-annotation-config.json'}; without a server, `curate boxes export` writes a labelImg folder") in one_line(result.output)
    assert not fiftyone_db.dataset_exists(path.name)  # nothing was sent

    studio = runner.invoke(app, ["boxes", "load", str(path), "--run", "first", "--backend", "labelstudio"])
    assert studio.exit_code == 1
    assert "no labelstudio annotation server is configured (missing api_key): set FIFTYONE_LABELSTUDIO_URL and FIFTYONE_LABELSTUDIO_API_KEY" in one_line(studio.output)
    other = runner.invoke(app, ["boxes", "export", str(path), "--run", "first", "--backend", "scale"])
    assert other.exit_code == 1 and "expected an annotation backend among cvat, labelstudio, found 'scale'" in one_line(other.output)
    both = runner.invoke(app, ["boxes", "export", str(path), "--run", "first", "--out", str(tmp_path / "x")])
    assert both.exit_code == 1 and "give --out DIR (a labelImg folder) or --run NAME" in one_line(both.output)


def test_a_configured_server_that_does_not_answer_is_named(planted, fiftyone_db, no_annotation_server):
    path, _ = planted
    no_annotation_server.setenv("FIFTYONE_CVAT_URL", "http://127.0.0.1:9")
    no_annotation_server.setenv("FIFTYONE_CVAT_USERNAME", "curator")
    no_annotation_server.setenv("FIFTYONE_CVAT_PASSWORD", "secret")
    result = runner.invoke(app, ["boxes", "export", str(path), "--run", "first"])
    assert result.exit_code == 1
    assert "cannot reach the cvat annotation server at http://127.0.0.1:9" in one_line(result.output)
    assert not fiftyone_db.dataset_exists(path.name)


def test_export_of_a_saved_view_takes_its_images(planted, fiftyone_db, tmp_path):
    path, ids = planted
    assert runner.invoke(app, ["review", str(path), "--no-launch"]).exit_code == 0
    out = tmp_path / "train"
    result = runner.invoke(app, ["boxes", "export", str(path), "--out", str(out), "--view", "split train"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "curate-annotation.json").read_text())
    assert sorted(e["file"] for e in manifest["images"].values()) == ["img00.jpg", "img03.jpg", "img06.jpg"]
    assert manifest["selection"] == "view 'split train'"
    # a patches view (one sample per box) selects the images the boxes are on
    patches = runner.invoke(app, ["boxes", "export", str(path), "--out", str(tmp_path / "auto"), "--view", "auto-boxed to review"])
    assert patches.exit_code == 0, patches.output
    assert "4 image(s)" in patches.output
    missing = runner.invoke(app, ["boxes", "export", str(path), "--out", str(tmp_path / "x"), "--view", "nope"])
    assert missing.exit_code == 1 and f"FiftyOne dataset '{path.name}' has no saved view 'nope'" in one_line(missing.output)
