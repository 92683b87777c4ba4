"""The PyTorch checkpoint reader (no torch, no code run) and the ImageNet EfficientNet-Lite0 port."""

from __future__ import annotations

import os
import pickle
import struct

import cv2
import numpy as np
import pytest
import skimage.data

from curate.errors import CurateError
from curate.models.lite0 import CHECKPOINT_SHA256, cached_weights_path, checkpoint_path, imagenet_weights_file, lite0_architecture
from curate.models.torch_checkpoint import LEGACY_MAGIC, LEGACY_PROTOCOL, read_torch_state_dict

# ImageNet class ids: 281 tabby, 282 tiger cat, 285 Egyptian cat, 967 espresso.
CATS = {281, 282, 285}
ESPRESSO = 967


class _CallsSystem:
    """Pickles as a call of os.system, the way a malicious checkpoint would."""

    def __reduce__(self):
        return (os.system, ("echo this must never run",))


def legacy_checkpoint(payload: bytes) -> bytes:
    """A legacy-format checkpoint whose state pickle is `payload`."""
    head = pickle.dumps(LEGACY_MAGIC, protocol=2) + pickle.dumps(LEGACY_PROTOCOL, protocol=2)
    head += pickle.dumps({"protocol_version": LEGACY_PROTOCOL, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2)
    return head + payload + pickle.dumps([], protocol=2)


@pytest.fixture(scope="module")
def state():
    return read_torch_state_dict(checkpoint_path())


def test_reads_the_published_checkpoint(state):
    assert len(state) == 296
    assert sum(v.size for k, v in state.items() if not k.endswith("num_batches_tracked")) == 4_694_024  # 4.69 M parameters
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3) and state["_conv_stem.weight"].dtype == np.float32
    assert state["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert np.isfinite(state["_fc.weight"]).all() and state["_fc.weight"].std() > 0.01


def test_refuses_a_pickle_that_calls_os_system(tmp_path):
    bad = tmp_path / "evil.pth"
    bad.write_bytes(legacy_checkpoint(pickle.dumps({"weight": _CallsSystem()}, protocol=2)))
    with pytest.raises(CurateError) as err:
        read_torch_state_dict(bad)
    assert str(bad) in str(err.value)
    assert "refused to load" in str(err.value) and "system" in str(err.value)


def test_refuses_other_callables_in_zip_checkpoints(tmp_path):
    import zipfile

    bad = tmp_path / "evil.pt"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"w": _CallsSystem()}, protocol=2))
    with pytest.raises(CurateError, match="refused to load"):
        read_torch_state_dict(bad)


@pytest.mark.parametrize("keep", [0.5, 0.999])
def test_truncated_checkpoint_is_refused_with_its_name(tmp_path, keep):
    source = checkpoint_path().read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(source[: int(len(source) * keep)])
    with pytest.raises(CurateError) as err:
        read_torch_state_dict(cut)
    assert str(cut) in str(err.value) and "truncated" in str(err.value)


class _Storage:
    """Stands for a typed torch storage while pickling (persistent id, raw data after the pickles)."""

    def __init__(self, key: str, data: np.ndarray, declared: int | None = None):
        self.key, self.data, self.declared = key, data, declared


def write_legacy_checkpoint(path, tensors: dict, monkeypatch, declared: dict | None = None) -> None:
    """Write `tensors` (name -> (flat storage array, offset, shape, stride)) the way
    torch.save(..., _use_new_zipfile_serialization=False) lays them out, without torch."""
    import collections
    import io
    import sys
    import types

    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # only its name is pickled
        raise AssertionError

    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    FloatStorage = type("FloatStorage", (), {"__module__": "torch"})
    torch.FloatStorage, torch._utils = FloatStorage, utils
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)

    class Tensor:
        def __init__(self, storage, offset, shape, stride):
            self.args = (storage, offset, shape, stride, False, collections.OrderedDict())

        def __reduce__(self):
            return (_rebuild_tensor_v2, self.args)

    storages = {}

    class Writer(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _Storage):
                storages[obj.key] = obj
                return ("storage", FloatStorage, obj.key, "cpu", obj.declared if obj.declared is not None else obj.data.size)
            return None

    state = collections.OrderedDict()
    for name, (data, offset, shape, stride) in tensors.items():
        state[name] = Tensor(_Storage(name, data.astype("<f4"), (declared or {}).get(name)), offset, shape, stride)
    buffer = io.BytesIO()
    Writer(buffer, protocol=2).dump(state)
    out = legacy_checkpoint(b"")[: -len(pickle.dumps([], protocol=2))] + buffer.getvalue() + pickle.dumps(list(storages), protocol=2)
    for storage in storages.values():
        out += struct.pack("<q", storage.data.size) + storage.data.tobytes()
    path.write_bytes(out)


def test_strided_views_and_offsets_come_back_exactly(tmp_path, monkeypatch):
    flat = np.arange(24, dtype=np.float32)
    path = tmp_path / "small.pth"
    # a 4x3 matrix stored transposed (stride 1, 4) and a vector starting at element 5
    write_legacy_checkpoint(path, {"w": (flat[:12], 0, (4, 3), (1, 4)), "b": (flat, 5, (3,), (1,))}, monkeypatch)
    state = read_torch_state_dict(path)
    np.testing.assert_array_equal(state["w"], flat[:12].reshape(3, 4).T)
    np.testing.assert_array_equal(state["b"], [5, 6, 7])


def test_storage_size_mismatch_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "lying.pth"
    write_legacy_checkpoint(path, {"w": (np.ones(6, np.float32), 0, (2, 3), (3, 1))}, monkeypatch, declared={"w": 60})
    with pytest.raises(CurateError) as err:
        read_torch_state_dict(path)
    assert str(path) in str(err.value) and "60" in str(err.value)


def test_a_tensor_reaching_past_its_storage_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "overrun.pth"
    write_legacy_checkpoint(path, {"w": (np.ones(6, np.float32), 4, (2, 3), (3, 1))}, monkeypatch)
    with pytest.raises(CurateError, match="field 'w'"):
        read_torch_state_dict(path)


def imagenet_top1(model, image: np.ndarray) -> int:
    x = cv2.resize(image, (224, 224), interpolation=cv2.INTER_AREA).astype(np.float32)
    return int(np.argmax(model.predict(((x - 127.5) / 128.0)[None], verbose=0)[0]))


@pytest.mark.slow
def test_ported_lite0_classifies_imagenet_photos(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = imagenet_weights_file()
    assert path == cached_weights_path() and path.is_file()
    meta = (path.parent / (path.name + ".json")).read_text()
    assert CHECKPOINT_SHA256 in meta
    model = lite0_architecture(224, include_top=True)
    model.load_weights(path)
    assert imagenet_top1(model, skimage.data.chelsea()) in CATS
    assert imagenet_top1(model, skimage.data.coffee()) == ESPRESSO
    # converted once: a second call reuses the file; a damaged cache file is converted again
    stamp = path.stat().st_mtime_ns
    assert imagenet_weights_file().stat().st_mtime_ns == stamp
    path.write_bytes(b"damaged")
    assert imagenet_weights_file().read_bytes() != b"damaged"
