"""A non-editable install works: the wheel carries the package, the taxonomy, the recipes and the
Fashion-MNIST subset, and its `curate` command runs from a folder outside the repository.

The wheel is built from a clean copy of the source tree (so nothing left in a build/ folder can
leak into it) and installed, with its dependencies from the index, into a fresh virtual
environment: about 2.5 minutes and 3.7 GB when pip's cache already holds the dependencies, as
it does after `make install`. The environment is removed afterwards.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# What a build needs from the source tree (the rest, e.g. .venv, out/ or build/, must not leak in).
SOURCE_ENTRIES = ("pyproject.toml", "README.md", "curate", "taxonomy", "recipes")
BUILD_LEFTOVERS = ("__pycache__", "*.pyc", "*.egg-info", "build")


def run(command: list[str], cwd: Path, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory, repo_root):
    """(fresh venv, its `curate` command, an empty folder outside the repository)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    source.mkdir()
    for entry in SOURCE_ENTRIES:
        path = repo_root / entry
        if path.is_dir():
            shutil.copytree(path, source / entry, symlinks=True, ignore=shutil.ignore_patterns(*BUILD_LEFTOVERS))
        else:
            shutil.copy2(path, source / entry)
    wheels = root / "wheels"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(wheels), str(source)], cwd=root)
    (wheel,) = wheels.glob("curate-*.whl")

    venv = root / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=root)
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)], cwd=root, timeout=1800)
    empty = root / "elsewhere"
    empty.mkdir()
    yield venv, wheel, empty
    shutil.rmtree(venv, ignore_errors=True)


def test_the_wheel_carries_the_taxonomy_recipes_and_data(installed):
    _, wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "curate/resources/taxonomy/fashion.yaml",
        "curate/resources/taxonomy/sources/fashion-mnist.yaml",
        "curate/resources/taxonomy/sources/deepfashion.yaml",
        "curate/resources/recipes/demo.yaml",
        "curate/resources/recipes/detector.yaml",
        "curate/resources/recipes/category.yaml",
        "curate/resources/recipes/attributes.yaml",
        "curate/resources/fashion_mnist/train-images-idx3-ubyte.gz",
        "curate/review/sync_plan.py",
        "curate/cli/main.py",
    ):
        assert needed in names
    assert not [n for n in names if n.startswith(("tests/", "examples/", "bench/")) or "__pycache__" in n]


def test_the_installed_package_is_the_wheel_not_the_source_tree(installed, repo_root):
    venv, _, empty = installed
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(empty)}
    where = run([str(venv / "bin" / "python"), "-c", "import curate, curate.resources as r; print(curate.__file__); print(r.taxonomy_dir())"], cwd=empty, env=env)
    package, taxonomy = where.stdout.split()
    assert Path(package).is_relative_to(venv) and Path(taxonomy).is_relative_to(venv)
    assert not Path(package).is_relative_to(repo_root)


def test_the_installed_command_validates_categorises_and_runs_the_quick_demo(installed, fiftyone_subprocess_env):
    venv, _, empty = installed
    curate = str(venv / "bin" / "curate")
    env = fiftyone_subprocess_env(empty.parent / "fiftyone-db", f"curate_wheel_{uuid.uuid4().hex[:10]}", COLUMNS="200")
    env.pop("PYTHONPATH", None)
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
    validated = run([curate, "taxonomy", "validate"], cwd=empty, env=env)
    assert "are valid" in validated.stdout
    categorised = run([curate, "categorise", "Floral Shirt Dress"], cwd=empty, env=env)
    assert "dresses" in categorised.stdout and "shirt" in categorised.stdout
    out = empty.parent / "q"
    run([curate, "demo", "--quick", "--out", str(out)], cwd=empty, env=env, timeout=900)
    assert (out / "summary.md").exists() and (out / "datasets" / "balanced" / "objects.parquet").exists()
    assert list(empty.iterdir()) == []  # nothing was written where the command ran
