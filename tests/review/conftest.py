"""A real mongod for the review tests only: temporary database directory, unique database name.

The environment is set by a session fixture before anything imports FiftyOne, and restored
afterwards; at the end every dataset is deleted and the database service is stopped.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from curate.dataset import images_frame, objects_frame, save_tables, stable_id

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


def write_image(path: Path, seed: int, size=(96, 128)) -> None:
    rng = np.random.default_rng(seed)
    image = np.full((*size, 3), 235, np.uint8)
    colour = tuple(int(c) for c in rng.integers(40, 200, 3))
    cv2.rectangle(image, (20, 15), (size[1] - 20, size[0] - 15), colour, -1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)


def planted_dataset(path: Path) -> dict[str, list[str]]:
    """A small dataset with known review cases; returns the planted object ids by case."""
    images, objects = [], []
    planted = {"low_conf_order": [], "violations": [], "sagemaker_low": []}

    def image(n: int, **extra) -> str:
        image_id = stable_id("catalogue", n)
        rel = f"media/img{n:02d}.jpg"
        write_image(path / rel, n)
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
    ids = planted_dataset(path)
    yield path, ids
    if fiftyone_db.dataset_exists(path.name):
        fiftyone_db.delete_dataset(path.name)
