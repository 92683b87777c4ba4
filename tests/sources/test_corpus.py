"""The bad-input corpus (tests/assets/bad/cases.yaml): one clear error per case, nothing lost.

Each case is imported three ways: over an existing dataset with --overwrite (exit 1, one
`error:` line naming the file and the line or object, no traceback, the dataset byte for byte
as before, nothing left behind), into a new folder (which must not exist afterwards), and
with --on-error skip (the item left out, counted and listed; or the same error when the file
itself is unusable).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from curate.cli.main import app
from curate.dataset.generations import leftovers

ASSETS = Path(__file__).resolve().parent.parent / "assets"
CASES = yaml.safe_load((ASSETS / "bad" / "cases.yaml").read_text())
runner = CliRunner()




def _loop(link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(link.name, link)


def _name_not_utf8(folder: Path) -> None:
    annos = folder / "train" / "annos"
    data = (annos / "000002.json").read_bytes()
    with open(os.path.join(os.fsencode(annos), b"caf\xe9.json"), "wb") as handle:
        handle.write(data)


SETUP = {
    "annotation-symlink-loop": lambda folder: _loop(folder / "train" / "annos" / "000009.json"),
    "image-symlink-loop": lambda folder: ((folder / "JPEGImages" / "look_001.jpg").unlink(), _loop(folder / "JPEGImages" / "look_001.jpg")),
    "name-not-utf8": _name_not_utf8,
}


def prepare(case: dict, tmp_path: Path) -> tuple[Path, Path]:
    """The case's input (the good asset with the case's files laid over it) and the import PATH."""
    folder = tmp_path / "input"
    shutil.copytree(ASSETS / case["base"], folder)
    overlay = ASSETS / "bad" / case["case"]
    if overlay.is_dir():
        shutil.copytree(overlay, folder, dirs_exist_ok=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    for image in (ASSETS / case["base"]).rglob("*.jpg"):
        shutil.copy(image, outside / image.name)
    if case.get("setup"):
        SETUP[case["setup"]](folder)
    return folder, folder / case.get("path", ".")


def expand(text: str, tmp_path: Path) -> str:
    return text.replace("<input>", str((tmp_path / "input").resolve())).replace("<outside>", str((tmp_path / "outside").resolve()))


def run_import(case: dict, path: Path, out: Path, *extra: str):
    return runner.invoke(app, ["import", case["source"], str(path), "--out", str(out), "--executor", "serial", *extra], env={"COLUMNS": "400"})


def error_lines(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("error:")]


@pytest.fixture(scope="module")
def existing(tmp_path_factory) -> Path:
    """A good dataset that every failed import with --overwrite must leave as it was."""
    out = tmp_path_factory.mktemp("existing") / "ds"
    result = runner.invoke(app, ["import", "voc", str(ASSETS / "voc"), "--out", str(out), "--executor", "serial"])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("case", [c for c in CASES if "error" in c], ids=lambda c: c["case"])
def test_bad_input_gives_one_clear_error_and_loses_nothing(case, tmp_path, existing, folder_snapshot):
    _, path = prepare(case, tmp_path)
    target = tmp_path / "existing"
    shutil.copytree(existing, target, symlinks=True)
    before = folder_snapshot(target)

    result = run_import(case, path, target, "--overwrite")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    errors = error_lines(result)
    assert len(errors) == 1, result.output
    assert expand(case["error"], tmp_path) in errors[0].replace("\n", " ")
    assert folder_snapshot(target) == before and not leftovers(target)

    fresh = tmp_path / "new"
    result = run_import(case, path, fresh)
    assert result.exit_code == 1 and not fresh.exists() and not list(tmp_path.glob(".new*"))


@pytest.mark.parametrize("case", [c for c in CASES if "error" in c], ids=lambda c: c["case"])
def test_skip_leaves_the_item_out_and_counts_it(case, tmp_path):
    _, path = prepare(case, tmp_path)
    out = tmp_path / "skipped"
    result = run_import(case, path, out, "--on-error", "skip")
    if case["skip"] == "fatal":
        assert result.exit_code == 1 and len(error_lines(result)) == 1 and expand(case["error"], tmp_path) in error_lines(result)[0]
        assert not out.exists()
        return
    assert result.exit_code == 0, result.output
    report = json.loads((out / "reports" / "import.json").read_text())
    assert report["images"] == case["skip"]["images"]
    assert report["skipped_count"] == case["skip"]["skipped"] == len(report["skipped"])
    listed = report["skipped"][0]
    assert expand(case["error"], tmp_path).startswith(": ".join(p for p in (listed["file"], listed["where"]) if p))
    if "refused" in case:
        assert report["refused_outside_root"]["count"] == case["refused"]


@pytest.mark.parametrize("case", [c for c in CASES if "allow_outside_root" in c], ids=lambda c: c["case"])
def test_allow_outside_root_imports_what_was_refused(case, tmp_path):
    _, path = prepare(case, tmp_path)
    result = run_import(case, path, tmp_path / "ds", "--allow-outside-root")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "ds" / "reports" / "import.json").read_text())
    assert report["images"] == case["allow_outside_root"]["images"] and report["refused_outside_root"]["count"] == 0


@pytest.mark.parametrize("case", [c for c in CASES if "imported" in c], ids=lambda c: c["case"])
def test_unusual_but_valid_input_imports(case, tmp_path):
    """Text that is not UTF-8 is read with the stated fallback and a note; a feed with a header
    and no rows is an empty dataset."""
    _, path = prepare(case, tmp_path)
    result = run_import(case, path, tmp_path / "ds")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "ds" / "reports" / "import.json").read_text())
    assert report["images"] == case["imported"]["images"]
    if "note" in case:
        assert expand(case["note"], tmp_path) in result.output.replace("\n", " ")
        assert report["text_decoding"][0]["encoding"] == "cp1252"
    else:
        assert not report["text_decoding"]


def test_the_corpus_holds_every_case_once():
    names = [c["case"] for c in CASES]
    assert len(names) == len(set(names)) and len(names) >= 40
    folders = {p.name for p in (ASSETS / "bad").iterdir() if p.is_dir()}
    assert folders <= set(names)
