import gzip
import hashlib
import json
import struct

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from curate.cli.main import app
from curate.dataset import read_dataset
from curate.errors import CurateError
from curate.parallel import SerialExecutor
from curate.sources import fashion_mnist
from curate.sources.importer import import_to_dataset


def write_idx(path, array, gz=True):
    magic = 0x0800 | array.ndim
    data = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()
    if gz:
        with gzip.open(f"{path}.gz", "wb") as handle:
            handle.write(data)
    else:
        path.write_bytes(data)


@pytest.fixture
def fm_folder(tmp_path):
    """A miniature Fashion-MNIST: 10 train images (one per class), 3 test images."""
    folder = tmp_path / "fm"
    folder.mkdir()
    rng = np.random.default_rng(0)
    train_labels = np.arange(10, dtype=np.uint8)
    test_labels = np.array([8, 0, 9], dtype=np.uint8)
    write_idx(folder / "train-images-idx3-ubyte", rng.integers(0, 256, (10, 28, 28)))
    write_idx(folder / "train-labels-idx1-ubyte", train_labels)
    # one pair uncompressed: both forms are accepted
    write_idx(folder / "t10k-images-idx3-ubyte", rng.integers(0, 256, (3, 28, 28)), gz=False)
    write_idx(folder / "t10k-labels-idx1-ubyte", test_labels, gz=False)
    return folder


def test_import_writes_pngs_keeps_splits_and_reports_the_dropped_bag(fm_folder, tmp_path):
    out = tmp_path / "ds"
    report = import_to_dataset("fashion-mnist", fm_folder, out, executor=SerialExecutor())
    ds = read_dataset(out)
    assert len(ds.images) == 13 and report["images"] == 13
    assert ds.images["split"].value_counts().to_dict() == {"train": 10, "test": 3}
    assert report["dropped_by_rule"] == {"accessory": 2} and report["dropped_labels"] == {"Bag": 2}
    assert len(ds.objects) == 11 and "Bag" not in set(ds.objects["source_label"])
    by_label = dict(zip(ds.objects["source_label"], ds.objects["category"]))
    assert by_label["Ankle boot"] == "boots" and by_label["Sneaker"] == "trainers" and by_label["T-shirt/top"] == "t-shirts"
    assert ds.objects["x_min"].isna().all()  # whole-image labels
    # the PNG holds exactly the IDX pixels, and sha256 is the file's
    with gzip.open(fm_folder / "train-images-idx3-ubyte.gz") as handle:
        pixels = np.frombuffer(handle.read()[16:], np.uint8).reshape(10, 28, 28)
    row = ds.images[ds.images["source_id"] == "train/00003"].iloc[0]
    png = out / row["path"]
    assert np.array_equal(cv2.imread(str(png), cv2.IMREAD_UNCHANGED), pixels[3])
    assert hashlib.sha256(png.read_bytes()).hexdigest() == row["sha256"]
    saved = json.loads((out / "reports/import.json").read_text())
    assert saved["read"] == {"images": 13, "objects": 13} and saved["mapped"] == 11


def test_cli_import_prints_the_report(fm_folder, tmp_path):
    result = CliRunner().invoke(app, ["import", "fashion-mnist", str(fm_folder), "--out", str(tmp_path / "ds"), "--executor", "serial"])
    assert result.exit_code == 0, result.output
    assert "dropped by rule: accessory" in result.output and "dropped label Bag" in result.output and "images" in result.output


def test_missing_idx_file_is_one_clear_error(fm_folder, tmp_path):
    (fm_folder / "t10k-labels-idx1-ubyte").unlink()
    result = CliRunner().invoke(app, ["import", "fashion-mnist", str(fm_folder), "--out", str(tmp_path / "ds")])
    assert result.exit_code == 1
    assert "missing Fashion-MNIST files: t10k-labels-idx1-ubyte" in result.output
    assert not (tmp_path / "ds").exists()


def test_wrong_magic_number_names_the_file(fm_folder, tmp_path):
    write_idx(fm_folder / "train-labels-idx1-ubyte", np.zeros((10, 2)))  # 2-D: wrong magic
    with pytest.raises(CurateError, match="train-labels-idx1-ubyte.gz.*magic"):
        import_to_dataset("fashion-mnist", fm_folder, tmp_path / "ds", executor=SerialExecutor())


def test_fetch_offline_is_one_clear_error(tmp_path, monkeypatch):
    import urllib.request

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    result = CliRunner().invoke(app, ["fetch", "fashion-mnist", "--dest", str(tmp_path / "cache")])
    assert result.exit_code == 1
    assert "cannot download Fashion-MNIST train-images-idx3-ubyte.gz (offline" in result.output


def test_fetch_checks_md5_and_idx(fm_folder, tmp_path):
    mirror = fm_folder.as_uri() + "/"
    names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    sums = {n: hashlib.md5((fm_folder / n).read_bytes()).hexdigest() for n in names}
    dest = tmp_path / "cache"
    # the uncompressed test pair is already in place, so only the checked downloads are needed
    dest.mkdir()
    for n in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (dest / n).write_bytes((fm_folder / n).read_bytes())
    assert fashion_mnist.fetch_fashion_mnist(dest, mirrors=(mirror,), checksums=sums) == dest
    assert (dest / names[0]).read_bytes() == (fm_folder / names[0]).read_bytes()
    with pytest.raises(CurateError, match="MD5"):
        fashion_mnist.fetch_fashion_mnist(tmp_path / "other", mirrors=(mirror,), checksums={names[0]: "0" * 32})
