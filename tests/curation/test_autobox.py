import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from curate.cli.main import app
from curate.curation.autobox import propose_boxes
from curate.curation.flatlay import is_flat_lay
from curate.dataset import read_dataset
from curate.demo.synthetic import draw_on_canvas, fashion_mnist
from curate.geometry import iou_xyxy, tight_box_xyxy

QA_ITEMS = 160


@pytest.mark.parametrize("light", [True, False], ids=["light-canvas", "dark-canvas"])
def test_qa_on_fashion_mnist_products_reports_tight_boxes(tmp_path, light, fmnist_items, synthetic_dataset):
    ds, _ = synthetic_dataset(tmp_path, fmnist_items(None, QA_ITEMS), light=light, seed=1 if light else 2)
    result = CliRunner().invoke(app, ["autobox", str(ds), "--qa", "--executor", "serial"])
    assert result.exit_code == 0, result.output
    assert f"IoU over {QA_ITEMS} manual boxes" in result.output
    qa = json.loads((ds / "reports" / "autobox-qa.json").read_text())["qa"]
    assert qa["boxes"] == QA_ITEMS
    assert qa["median"] >= 0.95
    assert qa["share_iou_ge_0.9"] >= 0.95
    assert (ds / "reports" / "autobox-qa.png").read_bytes()[:4] == b"\x89PNG"


def _shoe_pair(rng, gap=30):
    images, labels = fashion_mnist("test", limit=300)
    shoe = images[np.flatnonzero(labels == 7)[0]]
    big = cv2.resize(255 - shoe, None, fx=3, fy=3, interpolation=cv2.INTER_NEAREST)
    canvas = np.full((200, 2 * big.shape[1] + gap + 40), 245, np.uint8)
    boxes = []
    for k, x in enumerate((20, 20 + big.shape[1] + gap)):
        region = canvas[40 : 40 + big.shape[0], x : x + big.shape[1]]
        np.minimum(region, big, out=region)
        b = tight_box_xyxy(big < 255)
        boxes.append((x + b[0], 40 + b[1], x + b[2], 40 + b[3]))
    return np.repeat(canvas[:, :, None], 3, axis=2), boxes


def test_pair_of_shoes_gives_two_boxes_or_one_by_option():
    rgb, truth = _shoe_pair(np.random.default_rng(0))
    two = propose_boxes(rgb, split_pairs=True)
    assert len(two) == 2
    ious = iou_xyxy(np.array(truth), np.array([[p.x_min, p.y_min, p.x_max, p.y_max] for p in two]))
    assert ious.max(axis=1).min() >= 0.9
    one = propose_boxes(rgb, split_pairs=False)
    assert len(one) == 1
    union = (truth[0][0], min(truth[0][1], truth[1][1]), truth[1][2], max(truth[0][3], truth[1][3]))
    assert iou_xyxy(np.array(union), np.array([[one[0].x_min, one[0].y_min, one[0].x_max, one[0].y_max]]))[0, 0] >= 0.95


def test_specks_are_ignored_and_soft_shadows_stay_out_of_the_box(fmnist_items):
    rng = np.random.default_rng(5)
    ious, confidences = [], []
    for item, _ in fmnist_items(None, 40, offset=500):
        rgb, truth = draw_on_canvas(item, rng, light=True, shadow=True)
        for _ in range(6):  # dust specks of 1-2 pixels scattered around
            x, y = rng.integers(0, 222, size=2)
            rgb[y : y + 2, x : x + 2] = 120
        proposals = propose_boxes(rgb)
        assert len(proposals) == 1
        p = proposals[0]
        ious.append(iou_xyxy(np.array(truth), np.array([[p.x_min, p.y_min, p.x_max, p.y_max]]))[0, 0])
        confidences.append(p.confidence)
    assert np.median(ious) >= 0.9
    assert min(confidences) > 0


def test_confidence_is_lower_for_cluttered_images(fmnist_items):
    rng = np.random.default_rng(3)
    item, _ = fmnist_items("upper-body", 1)[0]
    clean, _ = draw_on_canvas(item, rng)
    cluttered = clean.copy()
    cv2.rectangle(cluttered, (5, 5), (60, 40), (90, 90, 90), 2)  # a strong unrelated outline
    cv2.circle(cluttered, (200, 200), 15, (60, 60, 60), 2)
    assert propose_boxes(cluttered)[0].confidence < propose_boxes(clean)[0].confidence


def test_flat_lay_detection_from_border_statistics(fmnist_items):
    rng = np.random.default_rng(0)
    item, _ = fmnist_items("upper-body", 1)[0]
    product_shot, _ = draw_on_canvas(item, rng)
    assert is_flat_lay(product_shot)[0]
    # A person cropped by the frame in a scene: textured background reaching every edge.
    scene = (rng.random((224, 224, 3)) * 255).astype(np.uint8)
    scene = cv2.GaussianBlur(scene, (9, 9), 0)
    scene[60:, 80:150] = (180, 140, 120)
    flat, score = is_flat_lay(scene)
    assert not flat and score < 0.9


def test_autobox_command_boxes_unboxed_flat_lays_and_skips_unreadable(tmp_path, fmnist_items, synthetic_dataset):
    ds_path, truth = synthetic_dataset(tmp_path, fmnist_items("footwear", 8), boxed=False, flat_lay=None)
    ds = read_dataset(ds_path)
    broken = ds.images["path"].iloc[3]
    with open(broken, "wb") as handle:
        handle.write(b"\x89PNG truncated")
    result = CliRunner().invoke(app, ["autobox", str(ds_path), "--executor", "serial"])
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output and ds.images["image_id"].iloc[3] in result.output
    after = read_dataset(ds_path)
    assert after.images.set_index("image_id").loc[ds.images["image_id"].iloc[0], "flat_lay"]
    boxed = after.objects[after.objects["x_min"].notna()]
    assert len(boxed) == 7
    assert set(boxed["box_origin"]) == {"canny"} and boxed["box_confidence"].between(0, 1).all()
    report = json.loads((ds_path / "reports" / "autobox.json").read_text())
    assert report["flat_lay"]["unreadable"][0]["image_id"] == ds.images["image_id"].iloc[3]
    for row in boxed.itertuples():
        n = int(ds.images.set_index("image_id").loc[row.image_id, "source_id"])
        got = np.array([row.x_min, row.y_min, row.x_max, row.y_max]) * 224
        assert iou_xyxy(np.array(truth[n]), got)[0, 0] >= 0.9


def test_tables_identical_with_local_pool_and_dask_cluster(tmp_path, fmnist_items, synthetic_dataset):
    from dask.distributed import Client, LocalCluster

    items = fmnist_items(None, 12, offset=50)
    a, _ = synthetic_dataset(tmp_path / "a", items, boxed=False, flat_lay=None)
    b, _ = synthetic_dataset(tmp_path / "b", items, boxed=False, flat_lay=None)
    assert CliRunner().invoke(app, ["autobox", str(a), "--executor", "local", "--workers", "2"]).exit_code == 0
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster, Client(cluster):
        result = CliRunner().invoke(app, ["autobox", str(b), "--executor", "dask", "--scheduler", cluster.scheduler_address])
    assert result.exit_code == 0, result.output
    assert read_dataset(a).objects.equals(read_dataset(b).objects)
    assert (a / "objects.parquet").read_bytes() == (b / "objects.parquet").read_bytes()
