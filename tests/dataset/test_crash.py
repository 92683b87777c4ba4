"""Killed writers: a SIGKILL at each point of a commit (CURATE_STORE_FAULT) and at random moments
leaves the dataset as it was before the command or as it is after it, never missing or mixed,
and the next command leaves no staging folder, stale generation or temporary link behind."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from curate.cli.main import app
from curate.dataset import current_snapshot, leftovers, read_dataset, write_tables
from curate.dataset.generations import FAULT_ENV

CURATE = str(Path(sys.executable).parent / "curate")
runner = CliRunner()


def command(name: str, dataset: Path, assets: Path) -> list[str]:
    return {
        "import": [CURATE, "import", "voc", str(assets / "voc"), "--out", str(dataset), "--overwrite", "--executor", "serial"],
        "autobox": [CURATE, "autobox", str(dataset), "--executor", "serial"],
        "split": [CURATE, "split", str(dataset)],
        "balance": [CURATE, "balance", str(dataset), "--by", "object_type", "--executor", "serial"],
        "dedup": [CURATE, "dedup", str(dataset), "--hamming", "0", "--executor", "serial"],
    }[name]


COMMANDS = ("import", "autobox", "split", "balance", "dedup")


def tables(dataset: Path) -> tuple[str, str]:
    """The content of the current generation's tables (what 'before' and 'after' compare)."""
    root = current_snapshot(dataset).root
    return tuple(hashlib.sha256((root / name).read_bytes()).hexdigest() for name in ("images.parquet", "objects.parquet"))


@pytest.fixture(scope="module")
def base(tmp_path_factory, fmnist_items, synthetic_dataset):
    """Flat-lays without boxes, all in train: every command has work to do on it."""
    root = tmp_path_factory.mktemp("crash-base")
    items = fmnist_items("upper-body", 6) + fmnist_items("footwear", 2)
    path, _ = synthetic_dataset(root, items, boxed=False, flat_lay=True, split="train")
    return path


@pytest.fixture(scope="module")
def outcomes(base, tmp_path_factory, assets):
    """For each command: the tables before and after an uninterrupted run, and how long it took."""
    found = {}
    for name in COMMANDS:
        work = tmp_path_factory.mktemp(f"after-{name}") / "ds"
        shutil.copytree(base, work, symlinks=True)
        before = tables(work)
        started = time.monotonic()
        done = subprocess.run(command(name, work, assets), capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        found[name] = (before, tables(work), time.monotonic() - started)
        assert found[name][0] != found[name][1], f"{name} changed nothing: the test would prove nothing"
    return found


def fresh_copy(base: Path, tmp_path: Path) -> Path:
    work = tmp_path / "ds"
    shutil.copytree(base, work, symlinks=True)
    return work


def check_after_crash(dataset: Path, allowed: set[tuple[str, str]]) -> tuple[str, str]:
    """The dataset reads as one of the allowed states; the next command cleans up after the crash."""
    read_dataset(dataset)
    state = tables(dataset)
    assert state in allowed
    result = runner.invoke(app, ["info", str(dataset)])
    assert result.exit_code == 0, result.output
    assert not leftovers(dataset), leftovers(dataset)
    assert tables(dataset) == state
    assert sorted(n for n in os.listdir(dataset) if n.startswith(".")) == [".generations", ".lock"]
    return state


@pytest.mark.parametrize("name", COMMANDS)
@pytest.mark.parametrize("point, expect", [("staged", "before"), ("renamed", "before"), ("swapped", "after")])
def test_a_kill_at_each_point_of_the_commit(name, point, expect, base, outcomes, tmp_path, assets):
    dataset = fresh_copy(base, tmp_path)
    before, after, _ = outcomes[name]
    done = subprocess.run(command(name, dataset, assets), env={**os.environ, FAULT_ENV: point}, capture_output=True)
    assert done.returncode == -signal.SIGKILL
    state = check_after_crash(dataset, {before, after})
    assert state == (before if expect == "before" else after)


@pytest.mark.parametrize("name", COMMANDS)
def test_kills_at_random_moments(name, base, outcomes, tmp_path, assets):
    before, after, seconds = outcomes[name]
    rng = random.Random(f"kill-{name}")
    for attempt in range(2):
        dataset = fresh_copy(base, tmp_path / str(attempt))
        process = subprocess.Popen(command(name, dataset, assets), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(rng.uniform(0.2, 1.0) * seconds)
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # it had finished
        process.wait()
        check_after_crash(dataset, {before, after})


def test_a_kill_while_converting_a_single_folder_dataset(base, tmp_path, assets):
    """A dataset of an earlier version (files directly in the folder) converted by its first
    write: killed half-way, it reads as the new generation, and the next command finishes."""
    legacy = tmp_path / "legacy"
    old = read_dataset(base)
    (legacy / "media").mkdir(parents=True)
    (legacy / "media" / "note.txt").write_text("media of the old layout")
    write_tables(legacy, old.images, old.objects, old.meta)
    assert current_snapshot(legacy).generation == 0
    done = subprocess.run(command("split", legacy, assets), env={**os.environ, FAULT_ENV: "settling"}, capture_output=True)
    assert done.returncode == -signal.SIGKILL
    assert current_snapshot(legacy).generation == 1 and read_dataset(legacy).images["split"].notna().all()
    assert runner.invoke(app, ["info", str(legacy)]).exit_code == 0
    assert not leftovers(legacy)
    for name in ("images.parquet", "objects.parquet", "dataset.yaml", "media", "reports"):
        assert os.readlink(legacy / name) == f"current/{name}"
    assert (legacy / "media" / "note.txt").read_text() == "media of the old layout"


def test_leftovers_of_an_earlier_version_beside_the_dataset_are_removed(base, tmp_path):
    dataset = fresh_copy(base, tmp_path)
    stale = tmp_path / ".ds.staging-abc123"
    (stale / "media").mkdir(parents=True)
    result = runner.invoke(app, ["info", str(dataset)])
    assert result.exit_code == 0 and not stale.exists()
