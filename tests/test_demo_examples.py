"""The example scripts run on the golden inputs in tests/assets and produce what they promise."""

import os
import subprocess
import sys
from pathlib import Path

from curate.dataset import read_dataset

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "tests" / "assets"


def run_example(name: str, *args: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "examples" / name), *map(str, args)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_deepfashion2_example_exports_yolo_and_coco(tmp_path):
    output = run_example("deepfashion2_to_yolo.py", ASSETS / "deepfashion2", tmp_path)
    ds = read_dataset(tmp_path / "dataset")
    assert ds.images["split"].notna().all()
    assert (tmp_path / "yolo" / "data.yaml").exists()
    assert (tmp_path / "coco").is_dir()
    assert f"yolo: {len(ds.images)} images, {len(ds.objects)} objects" in output


def test_catalogue_example_categorises_boxes_and_reports(tmp_path):
    output = run_example("catalogue_feed.py", ASSETS / "catalogue" / "products.csv", tmp_path)
    ds = read_dataset(tmp_path)
    boxed = ds.objects[ds.objects["box_origin"] == "canny"]
    assert len(boxed) and boxed["box_confidence"].between(0, 1).all()
    # Every local image gets an answer; the feed's remote image URL cannot be read offline.
    local = ~ds.images["path"].str.startswith("http")
    assert ds.images.loc[local, "flat_lay"].notna().all() and ds.images.loc[~local, "flat_lay"].isna().all()
    assert "products excluded: bags" in output
    assert (tmp_path / "reports" / "imbalance.md").exists()
