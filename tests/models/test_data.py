"""Input pipelines: splits, crops, boxes, balancing and batching from the dataset tables."""

import numpy as np
import pytest

from curate.dataset import read_dataset
from curate.demo.synthetic import GARMENT_SIZE
from curate.errors import CurateError
from curate.geometry import padded_box_xyxy_px
from curate.models import data
from curate.models.runtime import keras_module


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, garment_dataset):
    return read_dataset(garment_dataset(tmp_path_factory.mktemp("synthetic") / "ds", n_images=20))


def test_split_objects_and_missing_split(dataset):
    train = data.split_objects(dataset, "train", "training")
    assert set(train["image_id"]) <= set(dataset.images.loc[dataset.images["split"] == "train", "image_id"])
    assert {"path", "width", "height"} <= set(train.columns)
    with pytest.raises(CurateError, match=r"images.parquet: field 'split': no images in split 'holdout', which category training needs \(splits present: gold, test, train, val\)"):
        data.split_objects(dataset, "holdout", "category training")


def test_padded_box_and_crop_pads():
    assert padded_box_xyxy_px((0.25, 0.25, 0.75, 0.75), 0.1, (100, 200)) == (20, 40, 80, 160)
    assert padded_box_xyxy_px((0.0, 0.0, 1.0, 1.0), 0.2, (50, 40)) == (0, 0, 50, 40)  # clipped
    assert padded_box_xyxy_px(None, 0.1, (30, 20)) == (0, 0, 30, 20)  # whole-image label
    pads = data.crop_pads(1000, random_pad=True, seed=3)
    assert pads.min() >= 0.05 and pads.max() <= 0.20 and pads.std() > 0.03
    assert np.array_equal(pads, data.crop_pads(1000, random_pad=True, seed=3))
    assert set(data.crop_pads(4, random_pad=False, seed=3)) == {0.125}


def test_object_crops_decode_once_and_show_the_object(dataset):
    objects = data.split_objects(dataset, "train", "training")
    crops = data.object_crops(dataset, objects, 32, random_pad=False)
    assert crops.shape == (len(objects), 32, 32, 3) and crops.dtype == np.uint8
    # The centre of an upper-body crop is the red garment, of a lower-body crop the blue one.
    centre = crops[:, 12:20, 12:20].reshape(len(crops), -1, 3).mean(axis=1)
    upper = (objects["object_type"] == "upper-body").to_numpy()
    lower = (objects["object_type"] == "lower-body").to_numpy()
    assert (centre[upper, 0] > centre[upper, 2] + 60).all()
    assert (centre[lower, 2] > centre[lower, 0] + 60).all()


def test_detection_arrays_boxes_in_pixels(dataset):
    objects = data.split_objects(dataset, "val", "detector", need_boxes=True)
    images, targets, ids = data.detection_arrays(dataset, objects, 64, ["upper-body", "lower-body", "full-body", "footwear"])
    assert images.shape == (len(ids), 64, 64, 3)
    first = objects[objects["image_id"] == ids[0]]
    n = len(first)
    np.testing.assert_allclose(targets["boxes"][0, :n], first[["x_min", "y_min", "x_max", "y_max"]].to_numpy() * 64, rtol=1e-6)
    assert (targets["labels"][0, n:] == -1).all() and (targets["boxes"][0, n:] == -1).all()
    assert GARMENT_SIZE == 128  # the pictures were resized to 64


def test_carve_validation_is_grouped_stratified_and_seeded():
    groups = [f"img{i // 2}" for i in range(200)]  # two objects per image
    strata = ["rare" if i < 20 else "common" for i in range(200)]
    held = data.carve_validation(groups, strata, 0.2, seed=1)
    assert np.array_equal(held, data.carve_validation(groups, strata, 0.2, seed=1))
    by_image = {}
    for g, h in zip(groups, held):
        by_image.setdefault(g, set()).add(h)
    assert all(len(v) == 1 for v in by_image.values()), "an image is never on both sides"
    assert held[:20].sum() == 4 and held[20:].sum() == 36  # 20 % of each label's images


def test_class_weights_and_oversampling():
    labels = np.array([0] * 6 + [1] * 2 + [3] * 4)
    weights = data.class_weights(labels, 4)
    assert weights == pytest.approx({0: 12 / 18, 1: 12 / 6, 2: 0.0, 3: 12 / 12})
    rows = data.oversample_indices(labels, seed=0)
    assert np.bincount(labels[rows]).tolist() == [6, 6, 0, 6]
    assert set(np.flatnonzero(labels == 1)) <= set(rows)


def test_batches_tf_data_and_pydataset_give_the_same_examples():
    keras_module()
    x = np.arange(10 * 2 * 2 * 3, dtype=np.uint8).reshape(10, 2, 2, 3)
    y = {"boxes": np.arange(10 * 4, dtype=np.float32).reshape(10, 1, 4), "labels": np.arange(10, dtype=np.float32).reshape(10, 1)}
    weights = np.linspace(0, 1, 10).astype(np.float32)
    seen = []
    for xb, yb, wb in data.batches(x, y, 4, True, 0, weights, tf_data=True):
        xb, labels, wb = np.asarray(xb), np.asarray(yb["labels"]), np.asarray(wb)
        assert np.array_equal(x[labels[:, 0].astype(int)], xb)
        assert np.allclose(weights[labels[:, 0].astype(int)], wb)
        seen += labels[:, 0].astype(int).tolist()
    assert sorted(seen) == list(range(10))
    py = data._array_batches_class()(x, y["labels"], 4, True, 0, None, None)  # the PyDataset path, on any backend
    assert len(py) == 3
    got = np.concatenate([py[i][1][:, 0] for i in range(len(py))]).astype(int)
    assert sorted(got.tolist()) == list(range(10))
    assert np.array_equal(py[0][0], x[py[0][1][:, 0].astype(int)])
