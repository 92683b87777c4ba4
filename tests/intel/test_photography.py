from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from curate.cli.main import app
from curate.dataset import IMAGES_SCHEMA, OBJECTS_SCHEMA, empty_table, images_frame, objects_frame, read_dataset, save_tables, stable_id
from curate.errors import CurateError
from curate.intel.photography import photography_report
from curate.taxonomy import load_taxonomy

# (category of each object, flat_lay, width, height, busy background)
IMAGES = [
    (["t-shirts"], True, 400, 400, False),
    (["t-shirts"], True, 500, 500, False),
    (["t-shirts", "trousers"], None, 400, 400, False),
    (["trousers"], True, 300, 300, False),
    (["trousers", "trousers"], True, 600, 600, False),
    (["dresses"], False, 300, 400, True),
    (["dresses", "boots"], False, 600, 800, True),
    (["dresses"], False, 450, 600, True),
    (["boots"], True, 400, 400, False),
]


def _write_image(path: Path, width: int, height: int, busy: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8) if busy else np.full((height, width, 3), 245, np.uint8)
    cv2.rectangle(image, (width // 4, height // 4), (3 * width // 4, 3 * height // 4), (40, 60, 90), -1)
    cv2.imwrite(str(path), image)


@pytest.fixture()
def catalogue(tmp_path):
    tax = load_taxonomy()
    (tmp_path / "media").mkdir()
    images, objects = [], []
    for n, (cats, flat, w, h, busy) in enumerate(IMAGES):
        image_id = stable_id("shop", n)
        _write_image(tmp_path / "media" / f"{n}.png", w, h, busy, n)
        images.append({"image_id": image_id, "path": f"media/{n}.png", "width": w, "height": h, "source": "shop", "source_id": str(n), "flat_lay": flat})
        for j, cat in enumerate(cats):
            objects.append({"object_id": stable_id(image_id, j), "image_id": image_id, "category": cat, "object_type": tax.object_type_of(cat), "source_label": cat})
    save_tables(tmp_path, images_frame(images), objects_frame(objects), {"name": "shop"}, tax)
    return tmp_path


def test_report_counts_match_the_tables(catalogue):
    ds = read_dataset(catalogue)
    report = photography_report(ds)
    by_cat = {row["category"]: row for row in report["categories"]}
    per_image_objects = ds.objects.groupby("image_id").size()
    flat = ds.images.set_index("image_id")["flat_lay"]
    size = ds.images.set_index("image_id")[["width", "height"]]
    assert set(by_cat) == set(ds.objects["category"])
    for cat, row in by_cat.items():
        ids = set(ds.objects.loc[ds.objects["category"] == cat, "image_id"])
        assert row["images"] == len(ids)
        assert row["flat_lay"] == sum(flat[i] is True for i in ids)
        assert row["on_model"] == sum(flat[i] is False for i in ids)
        assert row["flat_lay_unknown"] == sum(flat[i] is None for i in ids)
        assert row["multi_item"] == sum(per_image_objects[i] > 1 for i in ids)
        assert row["width_median"] == pytest.approx(np.median([size.loc[i, "width"] for i in ids]))
        assert row["aspect_median"] == pytest.approx(np.median([size.loc[i, "width"] / size.loc[i, "height"] for i in ids]))
    assert report["catalogue"]["images"] == len(IMAGES)
    assert report["catalogue"]["multi_item"] == 3
    # Dresses are the only category shot on-model, on busy backgrounds, in portrait.
    assert report["most_different"][0] == "dresses"
    assert by_cat["dresses"]["background_uniformity"] < 0.3 < 0.9 < by_cat["trousers"]["background_uniformity"]
    md = (ds.reports_dir / "photography.md").read_text()
    assert "| dresses | 3 | 0 (0%) | 3 (100%) |" in md
    for chart in report["charts"]:
        png = cv2.imread(str(ds.reports_dir / chart))
        assert png is not None and png.shape[0] > 100


def test_command_writes_the_report_and_bad_inputs_are_one_line_errors(catalogue, tmp_path_factory):
    runner = CliRunner()
    result = runner.invoke(app, ["report", str(catalogue), "--photography"])
    assert result.exit_code == 0, result.output
    assert "dresses" in result.output and (catalogue / "reports" / "photography.md").exists()

    (catalogue / "media" / "3.png").write_bytes(b"not a png")
    with pytest.raises(CurateError, match=r"media/3\.png: not a PNG, JPEG, GIF, BMP or WebP image"):
        photography_report(read_dataset(catalogue))

    empty = tmp_path_factory.mktemp("empty")
    save_tables(empty, empty_table(IMAGES_SCHEMA), empty_table(OBJECTS_SCHEMA), {"name": "empty"})
    result = runner.invoke(app, ["report", str(empty), "--photography"])
    assert result.exit_code == 0  # a dataset with no images is a dataset: nothing to report, not an error
    assert "nothing to report: the dataset has no images" in result.output
