"""Fixtures shared by every test folder.

- golden inputs: `assets` (tests/assets/<source>/, tiny inputs in the real formats), `copy_asset`,
  `box_catalogue` (the hand-box catalogue of tests/assets/boxes imported as a dataset);
- FiftyOne: `fiftyone_db`, a real mongod in a temporary directory under a unique database name
  (set before anything imports FiftyOne, restored afterwards), `planted`, a small dataset with
  known review cases, and `fiftyone_subprocess_env` for a command that starts its own mongod;
- real photos: `real_dev` (../shared/real-dev, or $CURATE_REAL_DEV) and `real_dev_labels`
  (bench/real_dev, what was labelled and judged by eye);
- seeded synthetic datasets: `fmnist_items` and `synthetic_dataset` (Fashion-MNIST items drawn
  on plain canvases, for curation), `garment_dataset` (coloured garment rectangles where they sit
  on a body, for the model stages), `write_rgb`;
- trained models: `tiny_models`, the three stages trained once per session as tiny models on a
  garment dataset (for the stage tests and the serving tests).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import cv2

# FiftyOne's `eta` reads its own package metadata when first imported. Once dask.distributed has
# imported importlib_metadata (the curation and executor tests start Dask clusters), that
# backport takes over metadata discovery and the read fails, so a later `import fiftyone` in
# this process would too. Importing eta first keeps the order of the test folders free.
import eta  # noqa: F401
import numpy as np
import pandas as pd
import pytest

from curate.dataset import images_frame, objects_frame, save_tables, stable_id
from curate.demo.synthetic import draw_on_canvas, fashion_mnist, garment_dataset, train_tiny_stages

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS = REPO_ROOT / "tests" / "assets"


# ---------------------------------------------------------------------------------------------
# Golden inputs and the repository


@pytest.fixture(scope="session")
def assets() -> Path:
    """tests/assets: tiny golden inputs in the real formats, one folder per source."""
    return ASSETS


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


def _checkouts(root: Path) -> list[Path]:
    """`root`, the main checkout when it is a git worktree, and the local repository it was
    cloned from (a fresh clone of a checkout that has ../shared beside it)."""
    found = [root]
    git = root / ".git"
    if git.is_file():  # a worktree: .git names the main repository's git folder
        found.append(Path(git.read_text().split("gitdir:", 1)[-1].strip()).resolve().parents[2])
    elif git.is_dir():
        origin = subprocess.run(["git", "-C", str(root), "config", "--get", "remote.origin.url"], capture_output=True, text=True).stdout.strip()
        if origin and "://" not in origin and ":" not in origin.split("/")[0] and Path(origin).is_dir() and Path(origin).resolve() != root.resolve():
            found += _checkouts(Path(origin).resolve())
    return found


def locate_real_dev() -> Path:
    """The real development photos: $CURATE_REAL_DEV, else shared/real-dev beside the repository
    or a folder above it (or above the checkout it is a worktree or a clone of). They are read
    where they lie."""
    candidates = [Path(os.environ["CURATE_REAL_DEV"])] if os.environ.get("CURATE_REAL_DEV") else []
    candidates += [folder / "shared" / "real-dev" for checkout in _checkouts(REPO_ROOT) for folder in checkout.parents]
    for folder in candidates:
        if (folder / "styles.csv").is_file() and (folder / "images").is_dir():
            return folder
    raise FileNotFoundError(f"real-dev photos not found (looked in {', '.join(map(str, candidates))}); set CURATE_REAL_DEV")


@pytest.fixture(scope="session")
def real_dev() -> Path:
    """../shared/real-dev: 800 real product photos with the retailer's feed (never copied in)."""
    return locate_real_dev()


@pytest.fixture(scope="session")
def real_dev_labels() -> Path:
    """bench/real_dev: labels, the articleType table and the judgements made by eye (ids only)."""
    return REPO_ROOT / "bench" / "real_dev"


def _folder_snapshot(folder: Path) -> dict[str, str]:
    """Every file under a folder (links followed, so a dataset's current generation) by relative
    path and content hash."""
    found = {}
    for root, _dirs, files in os.walk(folder, followlinks=True):
        for name in files:
            path = Path(root) / name
            found[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "(broken link)"
    return found


@pytest.fixture(scope="session")
def folder_snapshot():
    """`folder_snapshot(folder)`: {relative path: sha256} of every file under it, links followed
    (to prove that a failed command changed nothing)."""
    return _folder_snapshot


@pytest.fixture
def copy_asset(tmp_path):
    """Copy one asset folder into this test's tmp_path (to damage it safely); returns the copy."""

    def copy(name: str) -> Path:
        target = tmp_path / "input" / name
        shutil.copytree(ASSETS / name, target)
        return target

    return copy


@pytest.fixture
def box_catalogue(tmp_path):
    """tests/assets/boxes/products.csv imported as a catalogue dataset at tmp_path/shop (eight
    generated photos, one whole-image object per mapped product); returns the dataset path."""
    from curate.parallel import SerialExecutor
    from curate.sources.importer import import_to_dataset

    out = tmp_path / "shop"
    import_to_dataset("catalogue", ASSETS / "boxes" / "products.csv", out, executor=SerialExecutor())
    return out


# ---------------------------------------------------------------------------------------------
# FiftyOne


_ENV_KEYS = ("FIFTYONE_DATABASE_DIR", "FIFTYONE_DATABASE_NAME", "FIFTYONE_DO_NOT_TRACK", "FIFTYONE_DATABASE_URI",
             "FIFTYONE_DATABASE_VALIDATION", "FIFTYONE_SHOW_PROGRESS_BARS")


@pytest.fixture(scope="session")
def fiftyone_db():
    """Yield the `fiftyone` module connected to a throwaway mongod."""
    saved = {k: os.environ.get(k) for k in _ENV_KEYS}
    root = Path(tempfile.mkdtemp(prefix="curate-review-db-"))
    os.environ.update({
        "FIFTYONE_DATABASE_DIR": str(root / "db"),
        "FIFTYONE_DATABASE_NAME": f"curate_test_{uuid.uuid4().hex[:12]}",
        "FIFTYONE_DO_NOT_TRACK": "true",
        "FIFTYONE_DATABASE_VALIDATION": "false",
        "FIFTYONE_SHOW_PROGRESS_BARS": "false",
    })
    os.environ.pop("FIFTYONE_DATABASE_URI", None)
    already = "fiftyone" in sys.modules
    import fiftyone as fo
    import fiftyone.core.odm.database as fodb

    if already:  # imported earlier in this process: point its config at the throwaway database
        fo.config.database_dir = os.environ["FIFTYONE_DATABASE_DIR"]
        fo.config.database_name = os.environ["FIFTYONE_DATABASE_NAME"]
        fo.config.database_uri = None
    assert fo.config.database_name == os.environ["FIFTYONE_DATABASE_NAME"]
    yield fo
    import pymongo.errors

    try:
        for name in fo.list_datasets():
            fo.delete_dataset(name)
        fodb._client.drop_database(fo.config.database_name)
    except pymongo.errors.PyMongoError:
        pass  # the server is already gone: removing its directory below is all that is left
    fodb._disconnect()
    if fodb._db_service is not None:
        fodb._db_service.stop()
        fodb._db_service = None
    os.environ.pop("FIFTYONE_PRIVATE_DATABASE_PORT", None)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    shutil.rmtree(root, ignore_errors=True)


def _write_review_image(path: Path, seed: int, size=(96, 128)) -> None:
    rng = np.random.default_rng(seed)
    image = np.full((*size, 3), 235, np.uint8)
    colour = tuple(int(c) for c in rng.integers(40, 200, 3))
    cv2.rectangle(image, (20, 15), (size[1] - 20, size[0] - 15), colour, -1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)


def _planted_dataset(path: Path) -> dict[str, list[str]]:
    """A small dataset with known review cases; returns the planted object ids by case."""
    images, objects = [], []
    planted = {"low_conf_order": [], "violations": [], "sagemaker_low": []}

    def image(n: int, **extra) -> str:
        image_id = stable_id("catalogue", n)
        rel = f"media/img{n:02d}.jpg"
        _write_review_image(path / rel, n)
        images.append({"image_id": image_id, "path": rel, "width": 128, "height": 96, "sha256": f"{n:064x}",
                       "source": "catalogue", "source_id": str(n), "product_id": f"P{n // 2}", "brand": "Acme",
                       "name": f"Product {n}", "flat_lay": n % 2 == 0, "split": ("train", "val", "test")[n % 3], **extra})
        return image_id

    def obj(image_id: str, k: int, box=(0.1, 0.1, 0.6, 0.8), **values) -> str:
        object_id = stable_id(image_id, k)
        row = {"object_id": object_id, "image_id": image_id, "object_type": "upper-body", "category": "shirts",
               "source_label": "shirt", "box_origin": "manual", "attributes": [], "review_status": "unreviewed"}
        if box is not None:
            row.update(zip(("x_min", "y_min", "x_max", "y_max"), box))
        row.update(values)
        objects.append(row)
        return object_id

    confidences = {0: 0.91, 1: 0.35, 2: 0.62, 3: 0.12}
    for n in range(8):
        image_id = image(n)
        obj(image_id, 0, pattern="floral")
        if n in confidences:
            oid = obj(image_id, 1, box=(0.2, 0.3, 0.5, 0.9), object_type="lower-body", category="jeans",
                      source_label="jeans", box_origin="canny", box_confidence=confidences[n])
            planted["low_conf_order"].append((confidences[n], oid))
    # an auto box already accepted is not to review any more
    obj(images[4]["image_id"], 2, box=(0.0, 0.0, 0.4, 0.4), box_origin="canny", box_confidence=0.05, review_status="accepted")
    # sagemaker boxes: one under the threshold, one above
    planted["sagemaker_low"].append(obj(images[5]["image_id"], 3, box=(0.5, 0.5, 0.9, 0.9), box_origin="sagemaker", box_confidence=0.4))
    obj(images[6]["image_id"], 3, box=(0.5, 0.5, 0.9, 0.9), box_origin="sagemaker", box_confidence=0.95)
    # taxonomy violations: a style the category does not allow, two patterns, a wrong object type
    planted["violations"].append(obj(images[1]["image_id"], 4, box=(0.3, 0.3, 0.7, 0.7), style="bomber"))
    planted["violations"].append(obj(images[2]["image_id"], 4, box=(0.3, 0.3, 0.7, 0.7), pattern="floral", attributes=["pattern:striped"]))
    planted["violations"].append(obj(images[3]["image_id"], 4, box=None, object_type="footwear", category="jeans"))
    # whole-image label with attributes, no box
    obj(images[7]["image_id"], 5, box=None, object_type="full-body", category="dresses", style="a-line",
        pattern="striped", attributes=["length:midi"], source_label="Striped A-Line Dress")
    # an augmented copy with its own box: hidden from every view but its own
    aug = image(8, parent_image_id=images[0]["image_id"], augmentation="hflip")
    obj(aug, 0, box=(0.3, 0.1, 0.8, 0.8), box_origin="augmented", box_confidence=0.01)
    planted["augmented"] = [aug]
    planted["low_conf_order"] = [oid for _, oid in sorted(planted["low_conf_order"])]

    frame = objects_frame(objects)
    for col in ("x_min", "y_min", "x_max", "y_max", "box_confidence"):
        frame[col] = pd.to_numeric(frame[col]).astype("float32")
    save_tables(path, images_frame(images), frame, {"name": path.name})
    return planted


@pytest.fixture
def planted(tmp_path, fiftyone_db):
    """A fresh planted dataset directory (unique FiftyOne name per test) and its planted ids."""
    path = tmp_path / f"ds-{uuid.uuid4().hex[:8]}"
    ids = _planted_dataset(path)
    yield path, ids
    if fiftyone_db.dataset_exists(path.name):
        fiftyone_db.delete_dataset(path.name)


@pytest.fixture(scope="session")
def fiftyone_subprocess_env():
    """`env(database_dir, name=None)`: this process's environment for a child command that starts
    its own throwaway mongod in `database_dir` under a unique (or the given) database name,
    with none of the connection an earlier test published to child processes."""

    def env(database: Path, name: str | None = None, **extra: str) -> dict[str, str]:
        made = {
            **os.environ,
            "FIFTYONE_DATABASE_DIR": str(database),
            "FIFTYONE_DATABASE_NAME": name or f"curate_test_{uuid.uuid4().hex[:12]}",
            "FIFTYONE_DO_NOT_TRACK": "true",
            **extra,
        }
        # A mongod started earlier in this session publishes its port to child processes; the
        # child must start its own instead of sharing (and then stopping) that one.
        for inherited in ("FIFTYONE_DATABASE_URI", "FIFTYONE_PRIVATE_DATABASE_PORT"):
            made.pop(inherited, None)
        return made

    return env


# ---------------------------------------------------------------------------------------------
# Seeded synthetic datasets


# Fashion-MNIST label -> (object type, category); 8 (bag) is excluded by the taxonomy.
FMNIST_CATEGORY = {
    0: ("upper-body", "t-shirts"),
    1: ("lower-body", "trousers"),
    2: ("upper-body", "sweaters"),
    3: ("full-body", "dresses"),
    4: ("upper-body", "coats & jackets"),
    5: ("footwear", "sandals"),
    6: ("upper-body", "shirts"),
    7: ("footwear", "trainers"),
    9: ("footwear", "boots"),
}


def _write_rgb(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def _fmnist_items(object_type: str | None, count: int, offset: int = 0) -> list[tuple[np.ndarray, int]]:
    """`count` (item, label) pairs of an object type (or any taxonomy-mapped type) from the test split."""
    images, labels = fashion_mnist("test", limit=5000)
    keep = [i for i, label in enumerate(labels) if int(label) in FMNIST_CATEGORY and (object_type is None or FMNIST_CATEGORY[int(label)][0] == object_type)]
    keep = keep[offset : offset + count]
    assert len(keep) == count
    return [(images[i], int(labels[i])) for i in keep]


def _synthetic_dataset(root: Path, items: list[tuple[np.ndarray, int]], *, light: bool = True, boxed: bool = True, seed: int = 0, flat_lay: bool | None = True, canvas: int = 224, split: str | None = None) -> tuple[Path, list[tuple[int, int, int, int]]]:
    """Write PNGs under root/src and a dataset at root/ds; returns (dataset path, pixel boxes)."""
    rng = np.random.default_rng(seed)
    image_rows, object_rows, truth = [], [], []
    for n, (item, label) in enumerate(items):
        rgb, box = draw_on_canvas(item, rng, light=light, canvas_wh=(canvas, canvas))
        path = root / "src" / f"{n:05d}.png"
        _write_rgb(path, rgb)
        image_id = stable_id("synthetic", n)
        object_type, category = FMNIST_CATEGORY[label]
        image_rows.append({"image_id": image_id, "path": str(path), "width": canvas, "height": canvas, "source": "synthetic", "source_id": str(n), "product_id": f"p{n}", "flat_lay": flat_lay, "split": split})
        row = {"object_id": stable_id(image_id, 0), "image_id": image_id, "object_type": object_type, "category": category, "source_label": str(label)}
        if boxed:
            row |= {"x_min": box[0] / canvas, "y_min": box[1] / canvas, "x_max": box[2] / canvas, "y_max": box[3] / canvas, "box_origin": "manual"}
        object_rows.append(row)
        truth.append(box)
    save_tables(root / "ds", images_frame(image_rows), objects_frame(object_rows))
    return root / "ds", truth


@pytest.fixture(scope="session")
def write_rgb():
    """`write_rgb(path, rgb)`: write an RGB array as an image file."""
    return _write_rgb


@pytest.fixture(scope="session")
def fmnist_items():
    """`fmnist_items(object_type, count, offset=0)`: (28x28 item, label) pairs of the official test split."""
    return _fmnist_items


@pytest.fixture(scope="session")
def synthetic_dataset():
    """`synthetic_dataset(root, items, ...)`: the items drawn on plain canvases as a dataset at
    root/ds (PNGs under root/src); returns (dataset path, pixel boxes)."""
    return _synthetic_dataset


@pytest.fixture(scope="session", name="garment_dataset")
def garment_dataset_fixture():
    """`garment_dataset(path, n_images=40, seed=0, object_types=None)` of curate.demo.synthetic: a
    seeded dataset of 128 px pictures with garments as coloured rectangles where they sit on a
    body, splits cycling train/val/test/gold."""
    return garment_dataset


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """The three stages trained once per session as tiny models (weights none, small inputs, two
    steps, seed 1) on a 40-picture garment dataset: a dict with `root`, `dataset`, `models` (the
    directory `curate predict` takes) and each stage's directory."""
    root = tmp_path_factory.mktemp("stages")
    dataset = garment_dataset(root / "synthetic", n_images=40)
    models = train_tiny_stages(dataset, root / "models", seed=1)
    return {"root": root, "dataset": dataset, "models": models, **{stage: models / stage for stage in ("detector", "category", "attributes")}}
