import hashlib

import pandas as pd
import pytest
from typer.testing import CliRunner

from curate.cli.main import app
from curate.dataset import (
    append_changes,
    images_frame,
    objects_frame,
    read_dataset,
    save_tables,
    stable_id,
    staged_dataset,
    validate_tables,
)
from curate.errors import CurateError
from curate.taxonomy import load_taxonomy

runner = CliRunner()


def _tables(n_images=3):
    images = images_frame(
        [
            {"image_id": stable_id("shop", i), "path": f"media/{i}.png", "width": 64, "height": 48,
             "source": "shop", "source_id": str(i), "split": "train" if i else "gold", "product_id": f"p{i}"}
            for i in range(n_images)
        ]
    )
    objects = objects_frame(
        [
            {"object_id": stable_id(images.image_id[i], 0), "image_id": images.image_id[i], "x_min": 0.1, "y_min": 0.2,
             "x_max": 0.9, "y_max": 0.8, "object_type": "footwear", "category": "boots", "style": "chelsea",
             "source_label": "Chelsea Boots", "box_origin": "manual", "attributes": ["length:mini"] if i == 1 else []}
            for i in range(n_images)
        ]
        + [{"object_id": "whole", "image_id": images.image_id[0], "object_type": "full-body", "category": "dresses",
            "pattern": "floral", "source_label": "Dress"}]
    )
    return images, objects


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_round_trip_and_byte_identical_rewrites(tmp_path):
    images, objects = _tables()
    tax = load_taxonomy()
    save_tables(tmp_path / "a", images, objects, {"name": "a"}, tax)
    # same content in another row order gives the same bytes
    save_tables(tmp_path / "b", images.iloc[::-1], objects.sample(frac=1, random_state=1), {"name": "a"}, tax)
    for name in ("images.parquet", "objects.parquet"):
        assert _digest(tmp_path / "a" / name) == _digest(tmp_path / "b" / name)
    ds = read_dataset(tmp_path / "a")
    assert len(ds.images) == 3 and len(ds.objects) == 4
    assert ds.meta["taxonomy"]["sha256"] == tax.sha256
    assert ds.meta["counts"]["object_type"] == {"footwear": 3, "full-body": 1}
    whole = ds.objects.set_index("object_id").loc["whole"]
    assert pd.isna(whole.x_min) and whole.review_status == "unreviewed"
    assert sorted(map(tuple, ds.objects.attributes)) == [(), (), (), ("length:mini",)]


def test_validation_reports_every_bad_row_at_once():
    images, objects = _tables()
    objects.loc[0, "x_max"] = 0.05  # x_max < x_min
    objects.loc[1, "x_min"] = None  # partial box
    objects.loc[2, "image_id"] = "nope"
    objects.loc[3, "review_status"] = "maybe"
    images.loc[1, "split"] = "holdout"
    problems = validate_tables(images, objects, load_taxonomy(), root="ds")
    fields = sorted((p.file.split("/")[-1], p.field) for p in problems)
    assert fields == [
        ("images.parquet", "split"),
        ("objects.parquet", "box"),
        ("objects.parquet", "box"),
        ("objects.parquet", "image_id"),
        ("objects.parquet", "review_status"),
    ]
    assert all(p.where.startswith("row ") for p in problems)


def test_taxonomy_violations_are_reported():
    images, objects = _tables()
    objects.loc[0, "style"] = "blazer"
    objects.loc[1, "object_type"] = "upper-body"
    objects.loc[2, "pattern"] = "plaid-ish"
    problems = validate_tables(images, objects, load_taxonomy())
    messages = sorted(p.message for p in problems)
    assert messages == [
        "category 'boots' belongs to footwear, found 'upper-body'",
        "style 'blazer' is not allowed for category 'boots'",
        "unknown pattern 'plaid-ish'",
    ]


def test_invalid_tables_write_nothing(tmp_path):
    images, objects = _tables()
    save_tables(tmp_path, images, objects)
    before = _digest(tmp_path / "objects.parquet")
    objects.loc[0, "object_id"] = objects.loc[1, "object_id"]
    with pytest.raises(CurateError, match="duplicate id"):
        save_tables(tmp_path, images, objects)
    assert _digest(tmp_path / "objects.parquet") == before


def test_failed_staged_build_leaves_previous_dataset(tmp_path):
    images, objects = _tables()
    target = tmp_path / "ds"
    save_tables(target, images, objects)
    before = _digest(target / "images.parquet")
    with pytest.raises(RuntimeError):
        with staged_dataset(target) as stage:
            save_tables(stage, images.iloc[:1], objects.iloc[:1])
            raise RuntimeError("interrupted")
    assert _digest(target / "images.parquet") == before
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]
    with staged_dataset(target) as stage:
        save_tables(stage, images.iloc[:1], objects.iloc[:1])
    assert len(read_dataset(target).images) == 1


def test_changes_log_appends(tmp_path):
    images, objects = _tables()
    save_tables(tmp_path, images, objects)
    when = pd.Timestamp("2026-01-01", tz="UTC")
    row = {"object_id": "whole", "image_id": images.image_id[0], "field": "category", "before": "dresses",
           "after": "jumpsuits", "when": when}
    append_changes(tmp_path, pd.DataFrame([row]))
    append_changes(tmp_path, pd.DataFrame([{**row, "before": "jumpsuits", "after": "playsuits"}]))
    changes = read_dataset(tmp_path).changes()
    assert list(changes.after) == ["jumpsuits", "playsuits"]


def test_not_a_dataset(tmp_path):
    with pytest.raises(CurateError, match="not a dataset"):
        read_dataset(tmp_path)
    result = runner.invoke(app, ["info", str(tmp_path / "missing")])
    assert result.exit_code == 1 and "not a dataset" in result.output


def test_info_command(tmp_path):
    images, objects = _tables()
    save_tables(tmp_path, images, objects)
    result = runner.invoke(app, ["info", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "3 images, 4 objects" in result.output
    for heading in ("object type", "category", "pattern", "style", "split", "source"):
        assert heading in result.output
    assert "chelsea" in result.output and "floral" in result.output


def test_frames_from_dicts_keep_nulls_and_empty_tables_save(tmp_path):
    images, _ = _tables(1)
    objects = objects_frame([{"object_id": "a", "image_id": images.image_id[0], "source_label": "x"}])
    assert objects.category[0] is None and objects.attributes[0] == []
    save_tables(tmp_path / "empty", images, objects_frame([]), taxonomy=load_taxonomy())
    assert len(read_dataset(tmp_path / "empty").objects) == 0


def test_staged_dataset_has_normal_permissions(tmp_path):
    images, objects = _tables()
    with staged_dataset(tmp_path / "ds") as stage:
        save_tables(stage, images, objects)
    assert (tmp_path / "ds").stat().st_mode & 0o055 == 0o055
