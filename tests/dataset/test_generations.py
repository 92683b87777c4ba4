"""The dataset folder: generations behind one `current` link, stable top-level names, copies,
datasets of the single-folder layout, and what the next command cleans up."""

import os
import subprocess

import pandas as pd
import pytest

from curate.dataset import images_frame, leftovers, objects_frame, read_dataset, save_tables, stable_id, staged_dataset, write_tables
from curate.dataset.layout import GENERATIONS, current_snapshot
from curate.dataset.lock import LOCK_FILE, dataset_lock, lock_status
from curate.errors import CurateError


def tables(n=2, source="s"):
    images = images_frame([{"image_id": stable_id(source, i), "path": f"media/{i}.png", "width": 8, "height": 8, "source": source, "source_id": str(i)} for i in range(n)])
    objects = objects_frame([{"object_id": stable_id(source, "o", i), "image_id": images.image_id[i], "object_type": "footwear", "category": "boots", "source_label": "boots"} for i in range(n)])
    return images, objects


def test_each_write_is_a_generation_and_the_top_level_names_stay(tmp_path):
    path = tmp_path / "ds"
    save_tables(path, *tables(2), {"name": "ds"})
    (path / "media" / "0.png").write_bytes(b"pixels")
    first = current_snapshot(path)
    save_tables(path, *tables(3), {"name": "ds"})
    second = current_snapshot(path)
    assert (first.generation, second.generation) == (1, 2)
    assert os.readlink(path / "current") == f"{GENERATIONS}/000002" and sorted(os.listdir(path / GENERATIONS)) == ["000002"]
    for name in ("images.parquet", "objects.parquet", "dataset.yaml", "media", "reports"):
        assert os.readlink(path / name) == f"current/{name}"
    assert len(pd.read_parquet(path / "images.parquet")) == 3  # other tools read the stable names
    assert (path / "media" / "0.png").read_bytes() == b"pixels"  # carried into the new generation
    assert os.stat(second.root / "media" / "0.png").st_nlink == 1  # the old generation is gone


def test_copies_read_the_same_and_a_copy_with_links_followed_converts_on_its_first_write(tmp_path):
    path = tmp_path / "ds"
    save_tables(path, *tables(2), {"name": "ds"})
    (path / "media" / "0.png").write_bytes(b"pixels")
    subprocess.run(["cp", "-r", str(path), str(tmp_path / "copy")], check=True)
    subprocess.run(["cp", "-rL", str(path), str(tmp_path / "followed")], check=True)
    for copy in ("copy", "followed"):
        assert len(read_dataset(tmp_path / copy).images) == 2
    followed = tmp_path / "followed"
    assert current_snapshot(followed).generation == 0  # every entry is a real file there
    save_tables(followed, *tables(3), {"name": "ds"})
    assert os.path.islink(followed / "current") and os.readlink(followed / "media") == "current/media"
    assert (followed / "media" / "0.png").read_bytes() == b"pixels" and not leftovers(followed)


def test_a_dataset_of_the_single_folder_layout_is_read_then_converted(tmp_path):
    path = tmp_path / "old"
    (path / "media").mkdir(parents=True)
    (path / "media" / "0.png").write_bytes(b"pixels")
    (path / "notes.md").write_text("the curator's notes")
    write_tables(path, *tables(2), {"name": "old"})
    ds = read_dataset(path)
    assert ds.generation == 0 and ds.root == path
    save_tables(path, ds.images.assign(split="train"), ds.objects, ds.meta, expect_generation=0)
    assert read_dataset(path).images["split"].eq("train").all()
    assert sorted(n for n in os.listdir(path) if not os.path.islink(n) and not os.path.islink(path / n)) == [".generations", ".lock"]
    assert (path / "notes.md").read_text() == "the curator's notes" and (path / "media" / "0.png").read_bytes() == b"pixels"


def test_a_failed_staged_write_leaves_the_dataset_and_removes_its_staging_folder(tmp_path):
    path = tmp_path / "ds"
    save_tables(path, *tables(2))
    with pytest.raises(RuntimeError):
        with staged_dataset(path) as stage:
            save_tables(stage, *tables(1))
            raise RuntimeError("interrupted")
    assert len(read_dataset(path).images) == 2 and not leftovers(path)
    with pytest.raises(CurateError, match="is an existing curate dataset: add --overwrite"):
        with staged_dataset(path, overwrite=False):
            pass


def test_the_next_writer_removes_staging_folders_and_stale_generations(tmp_path):
    path = tmp_path / "ds"
    save_tables(path, *tables(2))
    (path / ".staging-999999-dead").mkdir()
    (path / GENERATIONS / "000007").mkdir()  # renamed into place, never made current
    assert {item.kind for item in leftovers(path)} == {"staging", "generation"}
    save_tables(path, *tables(3))
    assert not leftovers(path) and current_snapshot(path).generation == 2


def test_the_lock_is_reentrant_in_a_process_and_reported_to_others(tmp_path):
    path = tmp_path / "ds"
    save_tables(path, *tables(2))
    assert lock_status(path) is None
    with dataset_lock(path, "curate split"):
        with dataset_lock(path):
            save_tables(path, *tables(3))  # the same process may write while it holds the lock
        assert "this process" in lock_status(path)
        assert '"command": "curate split"' in (path / LOCK_FILE).read_text()
    assert (path / LOCK_FILE).read_text() == "" and lock_status(path) is None


def test_a_folder_of_media_becomes_a_dataset_when_its_tables_are_saved(tmp_path):
    """The Python API: write media first, then the tables into the same folder."""
    path = tmp_path / "shop"
    (path / "media").mkdir(parents=True)
    (path / "media" / "0.png").write_bytes(b"pixels")
    save_tables(path, *tables(2))
    assert current_snapshot(path).generation == 1 and (path / "media" / "0.png").read_bytes() == b"pixels"
    assert os.readlink(path / "media") == "current/media"
