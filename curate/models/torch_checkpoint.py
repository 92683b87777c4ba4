"""PyTorch checkpoints read without PyTorch, and without running any code they contain.

A PyTorch checkpoint is a pickle, and unpickling runs whatever callables the file names. The
reader here allows exactly the names a state dict of tensors needs (the ordered dict, the
tensor-rebuild function and the typed storages) and refuses every other one, so a file that
asks for `os.system` or `builtins.eval` is rejected with its name before anything runs.

Both layouts PyTorch writes are read:

- the legacy one (`torch.save(..., _use_new_zipfile_serialization=False)`, and every file
  before PyTorch 1.6): a magic-number pickle, a protocol pickle, a system-info pickle, the
  state pickle, a pickle of storage keys, then each storage as an 8-byte element count and its
  raw little-endian bytes;
- the zip one: `<archive>/data.pkl` plus one `<archive>/data/<key>` entry per storage.

Storage sizes are checked against what the pickle declares, so a truncated file is an error
naming the file rather than a tensor of garbage.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from curate.errors import CurateError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
STORAGE_DTYPES: dict[str, np.dtype] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "BFloat16Storage": np.dtype("<u2"),  # kept as raw bits; converted by the caller if needed
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


@dataclass(frozen=True)
class _StorageType:
    name: str

    @property
    def dtype(self) -> np.dtype:
        return STORAGE_DTYPES[self.name]


@dataclass(frozen=True)
class _TensorRef:
    storage_key: str
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(storage_key, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    return _TensorRef(str(storage_key), int(storage_offset), tuple(int(s) for s in size), tuple(int(s) for s in stride))


class _StateDictUnpickler(pickle.Unpickler):
    """Unpickles a state dict of tensors and nothing else."""

    def __init__(self, handle: BinaryIO, path: Path):
        super().__init__(handle)
        self.path = path
        self.storages: dict[str, tuple[_StorageType, int]] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise CurateError.at(
            self.path,
            f"refused to load: the checkpoint asks for '{module}.{name}', which a state dict of tensors never needs "
            f"(only collections.OrderedDict, torch._utils._rebuild_tensor_v2 and torch.*Storage are allowed)",
        )

    def persistent_load(self, pid: Any) -> str:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            raise CurateError.at(self.path, f"refused to load: unexpected persistent id {pid!r:.80}")
        _, storage_type, key, _location, numel = pid[:5]
        self.storages[str(key)] = (storage_type, int(numel))
        return str(key)


def _tensor(ref: _TensorRef, data: np.ndarray, path: Path, name: str) -> np.ndarray:
    """The tensor `ref` describes, as a C-contiguous copy out of its storage."""
    needed = ref.offset + 1 + sum((s - 1) * st for s, st in zip(ref.shape, ref.stride)) if all(ref.shape) else 0
    if needed > len(data) or ref.offset < 0 or any(st < 0 for st in ref.stride):
        raise CurateError.at(path, f"tensor '{name}' reaches element {needed} of a storage of {len(data)}", field=name)
    strides = tuple(st * data.itemsize for st in ref.stride)
    view = np.lib.stride_tricks.as_strided(data[ref.offset :], shape=ref.shape, strides=strides, writeable=False)
    return np.ascontiguousarray(view)


def _state_tensors(state: Any, storages: dict[str, np.ndarray], path: Path) -> dict[str, np.ndarray]:
    if not isinstance(state, dict):
        raise CurateError.at(path, f"expected a state dict of tensors, found a {type(state).__name__}")
    out = {}
    for name, ref in state.items():
        if not isinstance(ref, _TensorRef):
            raise CurateError.at(path, f"expected a tensor, found a {type(ref).__name__}", field=str(name))
        out[str(name)] = _tensor(ref, storages[ref.storage_key], path, str(name))
    return out


def _read_legacy(handle: BinaryIO, path: Path) -> dict[str, np.ndarray]:
    header = _StateDictUnpickler(handle, path)
    if header.load() != LEGACY_MAGIC:
        raise CurateError.at(path, "not a PyTorch checkpoint (wrong magic number)")
    if (protocol := _StateDictUnpickler(handle, path).load()) != LEGACY_PROTOCOL:
        raise CurateError.at(path, f"unsupported checkpoint protocol {protocol!r}; expected {LEGACY_PROTOCOL}")
    info = _StateDictUnpickler(handle, path).load()
    if not (isinstance(info, dict) and info.get("little_endian", True)):
        raise CurateError.at(path, "big-endian checkpoints are not supported")
    reader = _StateDictUnpickler(handle, path)
    state = reader.load()
    keys = _StateDictUnpickler(handle, path).load()
    if not isinstance(keys, list) or set(map(str, keys)) != set(reader.storages):
        raise CurateError.at(path, "the storage list does not match the tensors' storages")
    data = {}
    for key in map(str, keys):
        storage_type, numel = reader.storages[key]
        count = handle.read(8)
        if len(count) < 8:
            raise CurateError.at(path, f"truncated: storage {key} is missing (file ends early)")
        (stored,) = struct.unpack("<q", count)
        if stored != numel:
            raise CurateError.at(path, f"storage {key} holds {stored} elements; the pickle declares {numel}")
        nbytes = numel * storage_type.dtype.itemsize
        raw = handle.read(nbytes)
        if len(raw) != nbytes:
            raise CurateError.at(path, f"truncated: storage {key} has {len(raw)} of its {nbytes} bytes")
        data[key] = np.frombuffer(raw, dtype=storage_type.dtype)
    return _state_tensors(state, data, path)


def _read_zip(path: Path) -> dict[str, np.ndarray]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise CurateError.at(path, f"truncated or damaged checkpoint archive ({exc})") from None
    with archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise CurateError.at(path, f"expected one data.pkl in the checkpoint archive, found {len(pickles)}")
        root = pickles[0][: -len("data.pkl")]
        reader = _StateDictUnpickler(io.BytesIO(archive.read(pickles[0])), path)
        state = reader.load()
        data = {}
        for key, (storage_type, numel) in reader.storages.items():
            try:
                raw = archive.read(f"{root}data/{key}")
            except (KeyError, zipfile.BadZipFile) as exc:
                raise CurateError.at(path, f"storage {key} is missing or damaged ({exc})") from None
            nbytes = numel * storage_type.dtype.itemsize
            if len(raw) < nbytes:
                raise CurateError.at(path, f"truncated: storage {key} has {len(raw)} of its {nbytes} bytes")
            data[key] = np.frombuffer(raw[:nbytes], dtype=storage_type.dtype)
    return _state_tensors(state, data, path)


def read_torch_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """name -> numpy array for every tensor of a PyTorch state-dict checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise CurateError.at(path, "checkpoint file not found")
    if zipfile.is_zipfile(path):
        return _read_zip(path)
    with open(path, "rb") as handle:
        try:
            return _read_legacy(handle, path)
        except (pickle.UnpicklingError, EOFError, ValueError, struct.error) as exc:
            raise CurateError.at(path, f"truncated or damaged checkpoint ({type(exc).__name__}: {exc})") from None
