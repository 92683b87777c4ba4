"""The embedded Fashion-MNIST subset and the loader that prefers the full set."""

import gzip
import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.errors import CurateError
from curate.sources import fashion_mnist as fm


def test_embedded_subset_is_stratified_small_and_credited():
    sizes = {name: (fm.EMBEDDED_DIR / name).stat().st_size for pair in fm.IDX_FILES.values() for name in pair}
    assert sum(sizes.values()) < 3_000_000
    for split, per_class in fm.EMBEDDED_PER_CLASS.items():
        images, labels = fm.read_split(fm.EMBEDDED_DIR, split)
        assert images.shape == (10 * per_class, 28, 28) and images.dtype == np.uint8
        assert np.bincount(labels, minlength=10).tolist() == [per_class] * 10
    licence = (fm.EMBEDDED_DIR / "LICENSE-fashion-mnist.txt").read_text()
    assert "Zalando SE" in licence and "MIT" in licence


def test_embedded_subset_is_a_fixed_point_of_write_subset(tmp_path):
    # Drawing the same counts from the embedded files reproduces them byte for byte, which is
    # what makes the subset drawn from the full set identical to the embedded one.
    fm.write_subset(fm.EMBEDDED_DIR, tmp_path, fm.EMBEDDED_PER_CLASS, fm.EMBEDDED_SEED)
    for pair in fm.IDX_FILES.values():
        for name in pair:
            assert hashlib.sha256((tmp_path / name).read_bytes()).digest() == hashlib.sha256((fm.EMBEDDED_DIR / name).read_bytes()).digest()


@settings(max_examples=40, deadline=None)
@given(
    counts=st.lists(st.integers(0, 30), min_size=2, max_size=6),
    per_class=st.integers(1, 12),
    seed=st.integers(0, 2**16),
    extra=st.integers(0, 20),
)
def test_stratified_choice_survives_adding_other_items(counts, per_class, seed, extra):
    labels = np.repeat(np.arange(len(counts)), counts)
    rng = np.random.default_rng(seed)
    labels = rng.permutation(labels)
    chosen = fm.stratified_indices(labels, per_class, seed)
    assert np.bincount(labels[chosen], minlength=len(counts)).tolist() == [min(c, per_class) for c in counts]
    # Re-drawing from the subset keeps all of it, in the same order.
    again = fm.stratified_indices(labels[chosen], per_class, seed)
    assert again.tolist() == list(range(len(chosen)))


def test_idx_round_trip_is_byte_stable(tmp_path):
    array = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    fm.write_idx(tmp_path / "a.gz", array)
    fm.write_idx(tmp_path / "b.gz", array)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()
    assert np.array_equal(fm.read_idx(tmp_path / "a.gz"), array)


def test_bad_idx_files_name_the_file(tmp_path):
    bad = tmp_path / "bad.gz"
    with gzip.open(bad, "wb") as handle:
        handle.write(b"PK\x03\x04 not idx")
    with pytest.raises(CurateError, match="bad.gz: not an IDX file"):
        fm.read_idx(bad)
    short = tmp_path / "short.gz"
    with gzip.open(short, "wb") as handle:
        handle.write(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + b"\x00" * 3)
    with pytest.raises(CurateError, match="short.gz: IDX body has 3 bytes"):
        fm.read_idx(short)


def test_locate_prefers_full_copies_then_falls_back_to_embedded(tmp_path, monkeypatch):
    monkeypatch.setattr(fm, "DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert fm.locate_fashion_mnist("auto") == fm.FashionMnistLocation(fm.EMBEDDED_DIR, "embedded")
    with pytest.raises(CurateError, match="dataset-fashion-mnist"):
        fm.locate_fashion_mnist("full")
    cached = tmp_path / "cache" / "curate" / "fashion-mnist"
    fm.write_subset(fm.EMBEDDED_DIR, cached, {"train": 1, "test": 1}, 0)
    assert fm.locate_fashion_mnist("auto") == fm.FashionMnistLocation(cached, "full")
    assert fm.locate_fashion_mnist("embedded").kind == "embedded"
