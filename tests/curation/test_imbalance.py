import json
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from typer.testing import CliRunner

from curate.cli.main import app
from curate.curation.imbalance import cvir, dataset_reports, imbalance_report, ir_per_label, mean_ir, scumble
from curate.dataset import images_frame, objects_frame, save_tables


def scumble_loop(y: np.ndarray) -> float:
    """Charte et al. 2014 written out instance by instance (the reference for the vectorised one)."""
    counts = [sum(int(row[j]) for row in y) for j in range(y.shape[1])]
    top = max(counts)
    ir = [top / c if c else None for c in counts]
    total = 0.0
    for row in y:
        irs = [ir[j] for j in range(len(row)) if row[j] and ir[j] is not None]
        if not irs:
            continue
        mean = sum(irs) / len(irs)
        product = 1.0
        for value in irs:
            product *= value
        total += 1 - product ** (1 / len(irs)) / mean
    return total / len(y)


def test_mean_ir_of_deepfashion2_training_counts_matches_table_4_3():
    counts = np.array([139_789, 122_838, 49_559])
    assert abs(mean_ir(counts) - 1.6528) < 1e-4
    assert ir_per_label(counts)[0] == 1.0
    assert math.isclose(ir_per_label(counts)[2], 139_789 / 49_559)


def test_balanced_set_has_mean_ir_one_and_scumble_zero():
    y = np.zeros((126, 3), dtype=bool)
    y[np.arange(126), np.arange(126) % 3] = True
    y[::7] = True  # some instances carry every label: still no imbalance to mix
    report = imbalance_report(y, ["upper-body", "lower-body", "full-body"])
    assert report.mean_ir == 1.0 and report.max_ir == 1.0
    assert report.scumble == 0.0
    assert report.cvir == 0.0


def test_scumble_positive_when_rare_label_always_cooccurs_with_frequent_one():
    y = np.zeros((100, 2), dtype=bool)
    y[:, 0] = True
    y[:10, 1] = True  # the rare label only ever appears with the frequent one
    value = scumble(y)
    assert value > 0
    # by hand: 10 instances with IRs (1, 10): 1 - sqrt(10) / 5.5
    assert math.isclose(value, 0.1 * (1 - math.sqrt(10) / 5.5), rel_tol=1e-5)


def test_cardinality_density_labelsets_and_cooccurrence():
    y = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 0], [0, 0, 1]], dtype=bool)
    report = imbalance_report(y, ["a", "b", "c"])
    assert report.cardinality == 6 / 4
    assert report.density == 6 / 12
    assert report.distinct_labelsets == 3
    assert report.cooccurrence.tolist() == [[3, 2, 0], [2, 2, 0], [0, 0, 1]]
    assert report.ir.tolist() == [1.0, 1.5, 3.0]
    assert math.isclose(report.cvir, np.std([1, 1.5, 3], ddof=1) / np.mean([1, 1.5, 3]))


label_matrices = arrays(np.bool_, st.tuples(st.integers(1, 40), st.integers(1, 8)))


@settings(max_examples=60, deadline=None)
@given(label_matrices)
def test_properties_mean_ir_at_least_one_scumble_in_unit_interval(y):
    counts = y.sum(axis=0)
    if counts.max() > 0:
        assert mean_ir(counts) >= 1.0
    value = scumble(y)
    assert 0.0 <= value <= 1.0
    assert math.isclose(value, scumble_loop(y), abs_tol=1e-5)


@settings(max_examples=40, deadline=None)
@given(label_matrices, st.randoms(use_true_random=False))
def test_measures_do_not_depend_on_row_order(y, random):
    order = list(range(len(y)))
    random.shuffle(order)
    a, b = imbalance_report(y, [str(i) for i in range(y.shape[1])]), imbalance_report(y[order], [str(i) for i in range(y.shape[1])])
    assert math.isclose(a.scumble, b.scumble, abs_tol=1e-6)
    assert (a.counts == b.counts).all()
    assert a.distinct_labelsets == b.distinct_labelsets
    if y.any():
        assert a.mean_ir == b.mean_ir and cvir(a.counts) == cvir(b.counts)


def _tiny_dataset(root, upper=6, footwear=2):
    images, objects = [], []
    for n in range(upper + footwear):
        image_id = f"img{n}"
        images.append({"image_id": image_id, "path": f"/nowhere/{n}.jpg", "source": "t", "source_id": str(n), "flat_lay": n % 2 == 0, "split": "train"})
        ot, cat = ("upper-body", "t-shirts") if n < upper else ("footwear", "boots")
        objects.append({"object_id": f"o{n}", "image_id": image_id, "object_type": ot, "category": cat, "pattern": "striped" if n % 3 == 0 else None, "attributes": ["sleeve style:long sleeve"] if n < upper else [], "source_label": cat})
        if n == 0:
            objects.append({"object_id": "o-extra", "image_id": image_id, "object_type": "lower-body", "category": "jeans", "source_label": "jeans"})
    save_tables(root, images_frame(images), objects_frame(objects))
    return root


def test_dataset_views_per_object_type_category_and_attribute_key(tmp_path):
    from curate.dataset import read_dataset

    ds = read_dataset(_tiny_dataset(tmp_path / "ds"))
    reports = dataset_reports(ds.images, ds.objects)
    assert set(reports) == {"object_type", "category", "object_type x image_type", "attribute pattern", "attribute sleeve style"}
    ot = reports["object_type"]
    assert dict(zip(ot.labels, ot.counts.tolist())) == {"footwear": 2, "lower-body": 1, "upper-body": 6}
    assert ot.cooccurrence[ot.labels.index("lower-body"), ot.labels.index("upper-body")] == 1
    assert reports["object_type x image_type"].labels == ["footwear x flat-lay", "footwear x on-model", "lower-body x flat-lay", "upper-body x flat-lay", "upper-body x on-model"]


def test_report_command_writes_json_markdown_png_and_compares(tmp_path):
    after = _tiny_dataset(tmp_path / "after", upper=6, footwear=6)
    before = _tiny_dataset(tmp_path / "before", upper=6, footwear=2)
    result = CliRunner().invoke(app, ["report", str(after), "--before", str(before), "--split", "train"])
    assert result.exit_code == 0, result.output
    assert "MeanIR" in result.output and "before / after" in result.output
    document = json.loads((after / "reports" / "imbalance.json").read_text())
    compared = document["comparison"]["object_type"]["mean_ir"]
    assert compared["before"] == (3 + 1 + 6) / 3 and compared["after"] == (1 + 1 + 6) / 3
    assert "| object_type |" in (after / "reports" / "imbalance.md").read_text()
    pngs = sorted(p.name for p in (after / "reports").glob("*.png"))
    assert "imbalance-object_type.png" in pngs
    assert (after / "reports" / "imbalance-object_type.png").read_bytes()[:4] == b"\x89PNG"
