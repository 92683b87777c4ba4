"""Fixtures shared by every test folder.

- golden inputs: `assets` (tests/assets/<source>/, tiny inputs in the real formats), `copy_asset`,
  `box_catalogue` (the hand-box catalogue of tests/assets/boxes imported as a dataset);
- FiftyOne: `fiftyone_db`, a real mongod in a temporary directory under a unique database name
  (set before anything imports FiftyOne, restored afterwards), `planted`, a small dataset with
  known review cases, and `fiftyone_subprocess_env` for a command that starts its own mongod;
- seeded synthetic datasets: `fmnist_items` and `synthetic_dataset` (Fashion-MNIST items drawn
  on plain canvases, for curation), `garment_dataset` (coloured garment rectangles where they sit
  on a body, for the model stages), `write_rgb`.
"""

from __future__ import annotations

import os
import shutil
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
from curate.demo.synthetic import draw_on_canvas, fashion_mnist
from curate.taxonomy import load_taxonomy

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


GARMENT_SIZE = 128
GARMENT_SPLITS = ("train",) * 6 + ("val", "val", "test", "gold")


def _draw_garment(canvas: np.ndarray, box: tuple[float, float, float, float], colour: tuple[int, int, int], striped: bool) -> None:
    x0, y0, x1, y1 = (int(round(v * GARMENT_SIZE)) for v in box)
    canvas[y0:y1, x0:x1] = colour
    if striped:
        canvas[y0:y1:4, x0:x1] = (255, 255, 255)


def _garments_of(rng: np.random.Generator, index: int) -> list[dict]:
    jitter = lambda: rng.uniform(-0.03, 0.03)  # noqa: E731
    out = []
    if index % 3 == 2:
        out.append(dict(box=(0.3 + jitter(), 0.1 + jitter(), 0.7 + jitter(), 0.75), object_type="full-body", category="dresses", style="a-line", pattern=None, attributes=["length:midi"], colour=(40, 170, 40), striped=False))
    else:
        sweater = index % 2 == 0
        out.append(dict(box=(0.25 + jitter(), 0.08 + jitter(), 0.75 + jitter(), 0.42), object_type="upper-body",
                        category="sweaters" if sweater else "t-shirts", style=None if sweater else "polo",
                        pattern="striped" if sweater else None, attributes=["sleeve style:long sleeve" if sweater else "sleeve style:short sleeve"],
                        colour=(200, 30, 30), striped=sweater))
        skirt = index % 4 in (1, 2)
        out.append(dict(box=(0.3 + jitter(), 0.45 + jitter(), 0.7 + jitter(), 0.6 if skirt else 0.8), object_type="lower-body",
                        category="skirts" if skirt else "trousers", style="pencil" if skirt else None, pattern="checked" if skirt else None,
                        attributes=[] if skirt else ["fit:slim fit"], colour=(30, 30, 200), striped=False))
    for x in (0.3, 0.55):
        out.append(dict(box=(x + jitter(), 0.85, x + 0.15 + jitter(), 0.95), object_type="footwear", category="trainers" if index % 2 else "boots",
                        style=None, pattern=None, attributes=[], colour=(250, 140, 0), striped=False))
    return out


def _garment_dataset(path: Path, n_images: int = 40, seed: int = 0, object_types: tuple[str, ...] | None = None) -> Path:
    """Write `n_images` pictures and both tables to `path`; splits cycle train/val/test/gold.

    `object_types` keeps only garments of those types (the others are not drawn either)."""
    rng = np.random.default_rng(seed)
    (path / "media").mkdir(parents=True, exist_ok=True)
    images, objects = [], []
    for i in range(n_images):
        canvas = np.full((GARMENT_SIZE, GARMENT_SIZE, 3), 225, dtype=np.uint8)
        canvas += rng.integers(0, 20, size=canvas.shape, dtype=np.uint8)
        image_id = stable_id("synthetic", i)
        for k, obj in enumerate(_garments_of(rng, i)):
            if object_types is not None and obj["object_type"] not in object_types:
                continue
            box = tuple(float(np.clip(v, 0, 1)) for v in obj["box"])
            _draw_garment(canvas, box, obj["colour"], obj["striped"])
            objects.append(dict(object_id=stable_id(image_id, k), image_id=image_id, x_min=box[0], y_min=box[1], x_max=box[2], y_max=box[3],
                                object_type=obj["object_type"], category=obj["category"], style=obj["style"], pattern=obj["pattern"],
                                attributes=obj["attributes"], source_label=obj["category"], box_origin="manual"))
        rel = f"media/{i:04d}.png"
        cv2.imwrite(str(path / rel), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
        images.append(dict(image_id=image_id, path=rel, width=GARMENT_SIZE, height=GARMENT_SIZE, source="synthetic", source_id=str(i), split=GARMENT_SPLITS[i % len(GARMENT_SPLITS)]))
    frame = objects_frame(objects)
    for col in ("x_min", "y_min", "x_max", "y_max"):
        frame[col] = frame[col].astype("float32")
    for col in ("style", "pattern"):
        frame[col] = pd.Series([v if isinstance(v, str) else None for v in frame[col]], dtype=object)
    save_tables(path, images_frame(images), frame, {"name": "synthetic"}, load_taxonomy())
    return path


_garment_dataset.size = GARMENT_SIZE  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def garment_dataset():
    """`garment_dataset(path, n_images=40, seed=0, object_types=None)`: a seeded dataset of 128 px
    pictures with garments as coloured rectangles where they sit on a body (striped sweaters or
    plain t-shirts above trousers or skirts, or a dress; two shoes), splits cycling
    train/val/test/gold; `.size` is the picture side."""
    return _garment_dataset
