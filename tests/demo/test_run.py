"""`curate demo`: the recipe, the rendered-scene dataset, the cached step runner, the command."""

import json
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from curate import demo
from curate.dataset import images_frame, objects_frame, read_dataset, save_tables, stable_id
from curate.demo.scene_dataset import GT_COLUMNS, items_table, plan_scenes, scenes_to_tables, write_scene
from curate.errors import CurateError
from curate.parallel import SerialExecutor
from curate.sources.fashion_mnist import CLASS_NAMES, EMBEDDED_DIR, read_split
from curate.taxonomy import load_mapping, load_taxonomy


def write_items_dataset(path: Path, per_class: int = 6) -> None:
    """A dataset shaped like `curate import fashion-mnist` output: 28x28 PNGs, Bag dropped."""
    mapping = load_mapping("fashion-mnist", load_taxonomy())
    images, objects = [], []
    for split in ("train", "test"):
        pixels, labels = read_split(EMBEDDED_DIR, split)
        for label in range(10):
            target = mapping.resolve(CLASS_NAMES[label])
            if target.status != "mapped":
                continue
            for i in np.flatnonzero(labels == label)[:per_class]:
                source_id = f"{split}/{i:05d}"
                image_id = stable_id("fashion-mnist", source_id)
                rel = f"media/fashion-mnist/{split}/{i:05d}.png"
                (path / rel).parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(path / rel), pixels[i])
                images.append({"image_id": image_id, "path": rel, "width": 28, "height": 28, "source": "fashion-mnist",
                               "source_id": source_id, "product_id": image_id, "split": split})
                objects.append({"object_id": stable_id(image_id, 0), "image_id": image_id, "source_label": CLASS_NAMES[label],
                                "object_type": target.target.object_type, "category": target.target.category})
    save_tables(path, images_frame(images), objects_frame(objects), {"name": "items"})


def render(tmp_path: Path, **overrides):
    items_path = tmp_path / "items"
    write_items_dataset(items_path)
    ds = read_dataset(items_path)
    items = items_table(ds)
    read = lambda rel: cv2.imread(str(ds.image_path(rel)), cv2.IMREAD_GRAYSCALE).tobytes()
    settings = dict(flat_lays={"train": 20, "test": 10}, outfits={"train": 6, "test": 3}, seed=0, flat_lay_px=224,
                    outfit_px=256, pattern_share=0.5, patterns=("striped", "checked", "camouflage"), root=tmp_path / "scenes")
    settings.update(overrides)
    specs = plan_scenes(items, read, **settings)
    results = SerialExecutor().map(write_scene, specs)
    return items, specs, scenes_to_tables(specs, results, items)


def test_recipe_rejects_unknown_keys_and_patterns(tmp_path):
    bad = tmp_path / "demo.yaml"
    bad.write_text("scenes:\n  flat_lay: {train: 3}\n")
    with pytest.raises(CurateError, match="scenes.flat_lay: unknown key"):
        demo.load_demo_recipe(bad)
    bad.write_text("scenes:\n  patterns: [striped, paisley-ish]\n")
    with pytest.raises(CurateError, match="paisley-ish"):
        demo.load_demo_recipe(bad)


def test_quick_and_set_overrides_apply_in_order():
    full = demo.load_demo_recipe()
    quick = demo.load_demo_recipe(quick=True, overrides=["scenes.pattern_share=0.25"])
    assert full.data.train_per_class == 400 and quick.data.train_per_class == 40
    assert quick.scenes.outfits == {"train": 60, "test": 20}
    assert quick.scenes.pattern_share == 0.25 and full.scenes.pattern_share == 0.5


def test_scene_tables_validate_and_boxes_match_the_mask_files(tmp_path):
    items, specs, (images, objects) = render(tmp_path)
    save_tables(tmp_path / "scenes", images, objects, {"name": "scenes"}, load_taxonomy())
    ds = read_dataset(tmp_path / "scenes")
    assert ds.images["scene"].value_counts().to_dict() == {"flat-lay": 30, "outfit": 9}
    for row in ds.objects.itertuples():
        mask = cv2.imread(str(ds.path / row.mask_path), cv2.IMREAD_UNCHANGED) == row.mask_value
        ys, xs = np.nonzero(mask)
        h, w = mask.shape
        truth = np.float32([xs.min() / w, ys.min() / h, (xs.max() + 1) / w, (ys.max() + 1) / h])
        assert np.allclose([getattr(row, c) for c in GT_COLUMNS], truth)
    # Training flat-lays arrive without boxes (auto-boxing proposes them); the rest carry exact ones.
    joined = ds.objects.merge(ds.images[["image_id", "scene", "official_split"]], on="image_id")
    boxless = joined["x_min"].isna()
    assert (boxless == ((joined["scene"] == "flat-lay") & (joined["official_split"] == "train"))).all()
    assert (joined.loc[~boxless, "box_origin"] == "source").all()
    assert set(joined["object_type"]) == {"upper-body", "lower-body", "full-body", "footwear"}
    assert "Bag" not in set(joined["source_label"])


def test_no_item_is_drawn_twice_and_test_items_stay_in_test_scenes(tmp_path):
    items, specs, (images, objects) = render(tmp_path)
    used = [item_id for spec in specs for _, _, item_id in spec.items]
    assert len(used) == len(set(used))
    split_of = items.set_index("image_id")["split"]
    for spec in specs:
        assert {split_of[item_id] for _, _, item_id in spec.items} == {spec.official_split}


def test_outfits_stop_when_a_role_runs_out(tmp_path):
    # 6 trousers and 6 dresses per half: at most 12 outfits, whatever is asked.
    _, specs, _ = render(tmp_path, outfits={"train": 50, "test": 0}, flat_lays={"train": 0, "test": 0})
    assert len(specs) == 12


def test_scene_rendering_is_reproducible(tmp_path):
    _, _, (images_a, objects_a) = render(tmp_path / "a")
    _, _, (images_b, objects_b) = render(tmp_path / "b")
    assert images_a["sha256"].tolist() == images_b["sha256"].tolist()
    assert objects_a.drop(columns=[]).equals(objects_b)


def test_step_runner_reports_missing_pieces_and_blocks_their_dependants(tmp_path):
    calls = []

    def make(name):
        def run(ctx):
            calls.append(name)
            (ctx.out / name).write_text(f"{name} {ctx.recipe.seed}")
            return {"seed": ctx.recipe.seed}, {name: str(ctx.out / name)}
        return run

    steps = (
        demo.Step("a", "A", make("a"), settings=lambda r: r.seed, outputs=("a",)),
        demo.Step("b", "B", make("b"), needs=("curate.no_such_module:fn",), after=("a",)),
        demo.Step("c", "C", make("c"), after=("b",)),
        demo.Step("d", "D", make("d"), needs=("curate.demo.scenes:render_outfit",), after=("a",), outputs=("d",)),
    )
    recipe = demo.load_demo_recipe(quick=True)
    first = demo.run_demo(recipe, tmp_path, steps=steps)
    assert {k: o.status for k, o in first.items()} == {"a": "done", "b": "missing", "c": "blocked", "d": "done"}
    assert "curate.no_such_module:fn" in first["b"].note
    second = demo.run_demo(recipe, tmp_path, steps=steps)
    assert {k: o.status for k, o in second.items()} == {"a": "reused", "b": "missing", "c": "blocked", "d": "reused"}
    assert calls == ["a", "d"]
    assert second["d"].figures == first["d"].figures
    assert json.loads((tmp_path / demo.SUMMARY_FILE).read_text())["steps"]["b"]["status"] == "missing"
    # A damaged output re-runs its step; the same content again lets the next step be reused.
    (tmp_path / "a").write_text("edited")
    third = demo.run_demo(recipe, tmp_path, steps=steps)
    assert (third["a"].status, third["d"].status) == ("done", "reused")
    # Changed settings change the output, so the dependent step runs again too.
    fourth = demo.run_demo(demo.load_demo_recipe(quick=True, overrides=["seed=7"]), tmp_path, steps=steps)
    assert (fourth["a"].status, fourth["d"].status) == ("done", "done")
    assert fourth["d"].figures == {"seed": 7}


def test_a_read_dataset_saves_back_with_taxonomy_checks(tmp_path):
    # pandas 3 reads null strings as NaN; validation must treat them as nulls.
    _, _, (images, objects) = render(tmp_path, flat_lays={"train": 4, "test": 0}, outfits={"train": 0, "test": 0})
    save_tables(tmp_path / "a", images, objects, {"name": "a"}, load_taxonomy())
    ds = read_dataset(tmp_path / "a")
    save_tables(tmp_path / "b", ds.images, ds.objects, {"name": "a"}, load_taxonomy())
    assert pq.read_table(tmp_path / "a" / "objects.parquet").equals(pq.read_table(tmp_path / "b" / "objects.parquet"))
