"""`curate review` and `curate review sync` from the command line, and their bad-input errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from curate.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_review_no_launch_then_sync_from_the_cli(planted, fiftyone_db):
    path, ids = planted
    sent = runner.invoke(app, ["review", str(path), "--no-launch"])
    assert sent.exit_code == 0, sent.output
    assert f"FiftyOne dataset {path.name}: created (9 added" in sent.output
    ds = fiftyone_db.load_dataset(path.name)
    assert "auto-boxed to review" in ds.list_saved_views()

    det = ds.load_saved_view("auto-boxed to review").first().ground_truth
    ds.select_labels(ids=[det.id]).tag_labels("accept")
    synced = runner.invoke(app, ["review", "sync", str(path)])
    assert synced.exit_code == 0, synced.output
    assert "1 change(s) written" in synced.output
    again = runner.invoke(app, ["review", "sync", str(path)])
    assert again.exit_code == 0 and "nothing to sync" in again.output


def test_missing_dataset_path_is_one_clear_error(tmp_path, fiftyone_db):
    missing = tmp_path / "nope"
    for args in (["review", str(missing), "--no-launch"], ["review", "sync", str(missing)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1
        assert f"{missing}: not a dataset" in result.output
    assert not missing.exists()


def test_sync_before_review_names_the_missing_fiftyone_dataset(planted):
    path, _ = planted
    result = runner.invoke(app, ["review", "sync", str(path)])
    assert result.exit_code == 1
    assert f"no FiftyOne dataset named '{path.name}'" in result.output


def test_unreachable_database_names_fiftyone_database_uri(planted):
    path, _ = planted
    before = sorted(p.name for p in path.iterdir())
    env = dict(os.environ, FIFTYONE_DATABASE_URI="mongodb://127.0.0.1:1", PYTHONPATH=str(ROOT))
    env.pop("FIFTYONE_PRIVATE_DATABASE_PORT", None)
    for args in (["review", str(path), "--no-launch"], ["review", "sync", str(path)]):
        out = subprocess.run([sys.executable, "-c", "from curate.cli.main import main; main()", *args],
                             env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 1
        assert "cannot reach the FiftyOne database at FIFTYONE_DATABASE_URI=mongodb://127.0.0.1:1" in out.stderr
        assert "Traceback" not in out.stderr
    assert sorted(p.name for p in path.iterdir()) == before
