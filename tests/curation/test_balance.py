import json
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from curate.cli.main import app
from curate.curation.augment import augment_image, object_mask
from curate.curation.balance import BalanceRecipe, plan_upsampling, undersample
from curate.dataset import images_frame, objects_frame, read_dataset
from curate.geometry import tight_box_xyxy, xyxy_rel_to_px_enclosing
from curate.imageio import load_image_rgb


@pytest.fixture(scope="module")
def balanced(tmp_path_factory, fmnist_items, synthetic_dataset):
    """30 upper-body and 6 footwear flat-lays (5x rarer), all in train, balanced by object type."""
    root = tmp_path_factory.mktemp("balance")
    items = fmnist_items("upper-body", 30) + fmnist_items("footwear", 6)
    ds, _ = synthetic_dataset(root, items, split="train")
    before = read_dataset(ds)
    result = CliRunner().invoke(app, ["balance", str(ds), "--by", "object_type", "--executor", "serial"])
    assert result.exit_code == 0, result.output
    return before, read_dataset(ds), result.output


def test_footwear_five_times_rarer_reaches_ir_at_most_1_1(balanced):
    before, after, output = balanced
    train = after.objects[after.objects["image_id"].isin(after.images.loc[after.images["split"] == "train", "image_id"])]
    counts = train["object_type"].value_counts()
    assert counts["upper-body"] == 30
    assert counts.max() / counts.min() <= 1.1
    assert "IR after" in output
    report = json.loads((after.path / "reports" / "balance.json").read_text())
    assert report["counts_before"] == {"footwear": 6, "upper-body": 30} and report["ir_after"] <= 1.1


def test_augmented_rows_keep_parent_live_in_train_and_boxes_stay_inside(balanced):
    before, after, _ = balanced
    augmented = after.images[after.images["parent_image_id"].notna()]
    assert len(augmented) == 24
    assert set(augmented["split"]) == {"train"}
    assert augmented["parent_image_id"].isin(before.images["image_id"]).all()
    assert augmented["augmentation"].str.match(r"flat-lay: (vflip\+)?rotate(45|90|180)$").all()
    boxes = after.objects[after.objects["image_id"].isin(augmented["image_id"])]
    assert len(boxes) == 24 and set(boxes["box_origin"]) == {"augmented"}
    assert ((boxes[["x_min", "y_min"]] >= 0).all(axis=None)) and ((boxes[["x_max", "y_max"]] <= 1).all(axis=None))
    assert (boxes["x_min"] < boxes["x_max"]).all() and (boxes["y_min"] < boxes["y_max"]).all()
    for row in augmented.itertuples():
        assert row.path.startswith("media/augmented/")
        assert load_image_rgb(after.path / row.path).shape[:2] == (row.height, row.width)


def _rotate_like_the_policy(mask: np.ndarray, description: str) -> np.ndarray:
    """Independently redo 'vflip then rotate by angle' with plain OpenCV."""
    if "vflip" in description:
        mask = mask[::-1]
    angle = int(re.search(r"rotate(\d+)", description).group(1))
    h, w = mask.shape
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 1.0)
    return cv2.warpAffine(np.ascontiguousarray(mask), matrix, (w, h), flags=cv2.INTER_NEAREST)


def test_flat_lay_boxes_within_two_pixels_of_the_rotated_mask(balanced):
    before, after, _ = balanced
    augmented = after.images[after.images["parent_image_id"].notna()]
    parents = before.images.set_index("image_id")
    for row in augmented.itertuples():
        parent_rgb = load_image_rgb(parents.loc[row.parent_image_id, "path"])
        parent_box = before.objects.loc[before.objects["image_id"] == row.parent_image_id, ["x_min", "y_min", "x_max", "y_max"]].to_numpy()
        mask = object_mask(parent_rgb, xyxy_rel_to_px_enclosing(parent_box, (parent_rgb.shape[1], parent_rgb.shape[0])))
        expected = tight_box_xyxy(_rotate_like_the_policy(mask, row.augmentation) > 0)
        got = after.objects.loc[after.objects["image_id"] == row.image_id, ["x_min", "y_min", "x_max", "y_max"]].to_numpy()[0]
        got_px = got * np.array([row.width, row.height, row.width, row.height])
        assert np.abs(got_px - np.array(expected)).max() <= 2.0, (row.augmentation, got_px, expected)


def test_rebalancing_replaces_earlier_copies_and_is_deterministic(balanced):
    _, after, _ = balanced
    first = (after.path / "images.parquet").read_bytes(), (after.path / "objects.parquet").read_bytes()
    result = CliRunner().invoke(app, ["balance", str(after.path), "--by", "object_type", "--executor", "serial"])
    assert result.exit_code == 0, result.output
    assert ((after.path / "images.parquet").read_bytes(), (after.path / "objects.parquet").read_bytes()) == first
    assert len(list((after.path / "media" / "augmented").iterdir())) == 24


def test_policies_flat_lays_never_flip_horizontally_and_angles_come_from_the_set():
    rgb = np.full((64, 96, 3), 240, np.uint8)
    cv2.circle(rgb, (20, 30), 10, (30, 30, 30), -1)  # a disc: its tight box does not grow when rotated
    box = np.array([[10 / 96, 20 / 64, 31 / 96, 41 / 64]])
    seen = {"flat-lay": set(), "on-model": set()}
    for seed in range(40):
        for policy in seen:
            _, boxes, description = augment_image(rgb, box, policy, seed, use_mask=policy == "flat-lay")
            seen[policy].add(description)
            assert boxes[0] is not None and 0 <= boxes[0][0] < boxes[0][2] <= 1
    assert not any("hflip" in d for d in seen["flat-lay"])
    assert any("hflip" in d for d in seen["on-model"]) and any("vflip" in d for d in seen["on-model"])
    angles = {int(a) for d in seen["flat-lay"] | seen["on-model"] for a in re.findall(r"rotate(\d+)", d)}
    assert angles == {45, 90, 180}
    seed45 = next(seed for seed in range(40) if "rotate45" in augment_image(rgb, box, "flat-lay", seed)[2])
    (x0, y0, x1, y1), = augment_image(rgb, box, "flat-lay", seed45, use_mask=True)[1]
    (a0, b0, a1, b1), = augment_image(rgb, box, "flat-lay", seed45, use_mask=False)[1]
    assert (x1 - x0) * (y1 - y0) < 0.9 * (a1 - a0) * (b1 - b0)  # corner rotation is loose; the mask is not
    _, crop_boxes, crop = augment_image(rgb, box, "crop", 3)
    assert crop.startswith("crop: ") and "rotate-zoom" in crop


def test_plan_is_proportional_to_ir_and_capped():
    images = images_frame([{"image_id": f"i{n}", "path": "x", "source": "s", "source_id": str(n), "split": "train", "flat_lay": True} for n in range(14)])
    objects = objects_frame([{"object_id": f"o{n}", "image_id": f"i{n}", "object_type": "upper-body" if n < 12 else "footwear", "category": "shirts" if n < 12 else "boots", "source_label": "x"} for n in range(14)])
    plan = plan_upsampling(images, objects, BalanceRecipe(by="object_type"))
    assert sorted(plan) == sorted([(f"i{n}", k) for n in (12, 13) for k in range(1, 6)])  # IR 6 -> 5 copies each
    capped = plan_upsampling(images, objects, BalanceRecipe(by="object_type", max_copies_per_image=2))
    assert len(capped) == 4
    targeted = plan_upsampling(images, objects, BalanceRecipe(by="object_type", target=20))
    assert len([p for p in targeted if p[0] in ("i12", "i13")]) == 18 and len(targeted) == 18 + 8


def test_cooccurrence_aware_undersampling_stops_at_the_limit_and_skips_cooccurring():
    rng = np.random.default_rng(0)
    rows, obj = [], []
    for n in range(400):
        image_id = f"i{n}"
        rows.append({"image_id": image_id, "path": "x", "source": "s", "source_id": str(n), "split": "train", "flat_lay": False})
        kinds = ["upper-body"] + (["lower-body"] if rng.random() < 0.5 else []) + (["full-body"] if rng.random() < 0.15 else [])
        for k, kind in enumerate(kinds):
            obj.append({"object_id": f"{image_id}-{k}", "image_id": image_id, "object_type": kind, "source_label": kind})
    images, objects = images_frame(rows), objects_frame(obj)
    dropped = undersample(images, objects, limit=60, by="object_type", seed=1)
    assert dropped == undersample(images, objects, limit=60, by="object_type", seed=1)
    kept = objects[~objects["image_id"].isin(dropped)]
    counts = kept["object_type"].value_counts()
    assert counts["upper-body"] == 60 and counts.max() <= 60
    # every skipped image carried a label that was already full when it was visited
    assert set(objects.loc[objects["image_id"].isin(dropped), "object_type"]) >= {"upper-body"}
    assert dropped != undersample(images, objects, limit=60, by="object_type", seed=2)


def test_only_the_augment_module_imports_albumentations():
    code = "import sys, curate.curation.balance, curate.curation.operations, curate.curation.build, curate.curation.autobox, curate.curation.dedup, curate.curation.split, curate.curation.imbalance, curate.cli.curation_commands; print('albumentations' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_augmentation_is_reproducible_when_threads_share_a_process():
    from concurrent.futures import ThreadPoolExecutor

    rgb = np.full((64, 96, 3), 240, np.uint8)
    cv2.circle(rgb, (40, 30), 12, (30, 60, 90), -1)
    box = np.array([[28 / 96, 18 / 64, 53 / 96, 43 / 64]])

    def run(seed):
        image, boxes, description = augment_image(rgb, box, "on-model", seed)
        return description, boxes, image.tobytes()

    serial = [run(seed) for seed in range(48)]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(run, range(48)))
    assert threaded == serial
