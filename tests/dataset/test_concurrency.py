"""Two writers at once on one dataset: the second fails at once with who holds the lock (and
the tables hold the first one's work only), or, told to wait, runs after the first (and the
tables hold both). Nothing is lost silently either way."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from curate.dataset import read_dataset, save_dataset, save_tables
from curate.dataset.generations import FAULT_ENV
from curate.dataset.lock import LOCK_FILE, LOCK_WAIT_ENV
from curate.errors import CurateError

CURATE = str(Path(sys.executable).parent / "curate")
WRITERS = {"autobox": ["autobox", "--executor", "serial"], "split": ["split"]}


@pytest.fixture(scope="module")
def base(tmp_path_factory, fmnist_items, synthetic_dataset):
    root = tmp_path_factory.mktemp("concurrency-base")
    path, _ = synthetic_dataset(root, fmnist_items("upper-body", 4) + fmnist_items("footwear", 2), boxed=False, flat_lay=True)
    return path


def start(name: str, dataset: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen([CURATE, WRITERS[name][0], str(dataset), *WRITERS[name][1:]], env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_lock(dataset: Path, pid: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if json.loads((dataset / LOCK_FILE).read_text() or "{}").get("pid") == pid:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise AssertionError("the first writer never took the lock")


def results(dataset: Path) -> dict[str, bool]:
    ds = read_dataset(dataset)
    return {"autobox": bool(ds.objects["x_min"].notna().any()), "split": bool(ds.images["split"].notna().any())}


@pytest.mark.parametrize("first, second", [("autobox", "split"), ("split", "autobox")])
def test_the_second_writer_fails_clearly_and_the_first_ones_work_stays(first, second, base, tmp_path):
    dataset = tmp_path / "ds"
    shutil.copytree(base, dataset, symlinks=True)
    holder = start(first, dataset, **{FAULT_ENV: "staged:pause=4"})  # holds the lock a while before committing
    wait_for_lock(dataset, holder.pid)
    other = start(second, dataset)
    out, err = other.communicate(timeout=120)
    holder.communicate(timeout=120)
    assert holder.returncode == 0
    assert other.returncode == 1 and "Traceback" not in err
    assert re.search(rf"error: {re.escape(str(dataset))}: locked by pid {holder.pid} \(curate {first}, since \d\d:\d\d:\d\d\)", err), err
    assert results(dataset) == {first: True, second: False}


@pytest.mark.parametrize("first, second", [("autobox", "split"), ("split", "autobox")])
def test_a_writer_told_to_wait_runs_after_the_first_and_both_results_stay(first, second, base, tmp_path):
    dataset = tmp_path / "ds"
    shutil.copytree(base, dataset, symlinks=True)
    holder = start(first, dataset, **{FAULT_ENV: "staged:pause=3"})
    wait_for_lock(dataset, holder.pid)
    other = start(second, dataset, **{LOCK_WAIT_ENV: "120"})
    _, err = other.communicate(timeout=180)
    holder.communicate(timeout=120)
    assert holder.returncode == 0 and other.returncode == 0, err
    assert f"locked by pid {holder.pid} (curate {first}" in err and "waiting up to 120 s" in err
    assert results(dataset) == {"autobox": True, "split": True}


def test_saving_over_a_generation_another_command_replaced_is_refused(base, tmp_path):
    """The API's generation check: a dataset read, then changed by another writer, then saved."""
    dataset = tmp_path / "ds"
    shutil.copytree(base, dataset, symlinks=True)
    stale = read_dataset(dataset)
    fresh = read_dataset(dataset)
    fresh.images["split"] = "train"
    save_tables(dataset, fresh.images, fresh.objects, fresh.meta)
    stale.objects["pattern"] = "striped"
    with pytest.raises(CurateError, match=r"the dataset changed since it was read \(generation 1, now generation 2"):
        save_dataset(stale)
    now = read_dataset(dataset)
    assert now.images["split"].eq("train").all() and now.objects["pattern"].isna().all()
