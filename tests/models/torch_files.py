"""Writes PyTorch `torch.save` files of numpy arrays without torch, for the tests of the
restricted state dict reader (tsss_tf.models.backbones.torch_state).

The pickles name `torch._utils._rebuild_tensor_v2` and `torch.FloatStorage` etc. exactly as
torch does; to pickle those names, stand-in `torch` modules are put into `sys.modules` only while
writing (and removed again, even when torch is installed).
"""

import collections
import contextlib
import io
import pickle
import struct
import sys
import types
import zipfile

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
STORAGE_NAMES = {np.dtype("float32"): "FloatStorage", np.dtype("float64"): "DoubleStorage",
                 np.dtype("float16"): "HalfStorage", np.dtype("int64"): "LongStorage",
                 np.dtype("int32"): "IntStorage", np.dtype("uint8"): "ByteStorage",
                 np.dtype("bool"): "BoolStorage"}


def _rebuild_tensor_v2(*args):  # never called: only its name is pickled
    raise AssertionError("stand-in")


@contextlib.contextmanager
def _fake_torch():
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")
    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", \
        "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    for name in STORAGE_NAMES.values():
        setattr(torch, name, type(name, (), {"__module__": "torch", "__qualname__": name}))
    saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
    sys.modules["torch"], sys.modules["torch._utils"] = torch, utils
    try:
        yield torch
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


class Storage:
    """A flat storage: one key, one dtype, its elements."""

    def __init__(self, key, data):
        self.key, self.data = str(key), np.ascontiguousarray(data).ravel()


class Tensor:
    """A tensor view of a Storage: offset, size, stride (in elements), as torch pickles it."""

    def __init__(self, storage, offset, size, stride, view=None):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride
        self.view = view  # legacy view_metadata (view_key, offset, size) or None

    def __reduce_ex__(self, protocol):
        torch = sys.modules["torch"]
        storage = self.storage if self.view is None else ("view", self)
        return (torch._utils._rebuild_tensor_v2,
                (storage, self.offset, tuple(self.size), tuple(self.stride), False,
                 collections.OrderedDict()))


def tensor(array, key):
    """A contiguous Tensor holding `array` in its own storage `key`."""
    array = np.ascontiguousarray(array)
    stride, acc = [], 1
    for n in reversed(array.shape):
        stride.insert(0, acc)
        acc *= n
    return Tensor(Storage(key, array), 0, array.shape, stride)


class _Pickler(pickle.Pickler):
    def __init__(self, file, storages, zip_format):
        super().__init__(file, protocol=2)
        self.storages, self.zip_format = storages, zip_format

    def persistent_id(self, obj):
        torch = sys.modules["torch"]
        if isinstance(obj, Storage):
            self.storages[obj.key] = obj
            pid = ("storage", getattr(torch, STORAGE_NAMES[obj.data.dtype]), obj.key, "cpu",
                   obj.data.size)
            return pid if self.zip_format else pid + (None,)
        if isinstance(obj, tuple) and len(obj) == 2 and obj[0] == "view":
            t = obj[1]
            self.storages[t.storage.key] = t.storage
            view_key, view_offset, view_size = t.view
            return ("storage", getattr(torch, STORAGE_NAMES[t.storage.data.dtype]),
                    t.storage.key, "cpu", t.storage.data.size, (view_key, view_offset, view_size))
        return None


def write_legacy(path, obj, raw_tail=True):
    """Writes `obj` (dicts / lists of Tensor) in torch's legacy (non-zip) format."""
    storages = {}
    with _fake_torch():
        buf = io.BytesIO()
        for header in (LEGACY_MAGIC, 1001,
                       {"protocol_version": 1001, "little_endian": True,
                        "type_sizes": {"short": 2, "int": 4, "long": 4}}):
            pickle.dump(header, buf, protocol=2)
        _Pickler(buf, storages, zip_format=False).dump(obj)
    keys = sorted(storages)
    pickle.dump(keys, buf, protocol=2)
    if raw_tail:
        for key in keys:
            data = storages[key].data
            buf.write(struct.pack("<q", data.size))
            buf.write(data.astype(data.dtype.newbyteorder("<")).tobytes())
    with open(path, "wb") as f:
        f.write(buf.getvalue())


def write_zip(path, obj, archive="archive"):
    """Writes `obj` in torch's zip format (ARCHIVE/data.pkl and ARCHIVE/data/KEY)."""
    storages = {}
    with _fake_torch():
        buf = io.BytesIO()
        _Pickler(buf, storages, zip_format=True).dump(obj)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{archive}/data.pkl", buf.getvalue())
        for key, storage in storages.items():
            z.writestr(f"{archive}/data/{key}", storage.data.astype(
                storage.data.dtype.newbyteorder("<")).tobytes())
        z.writestr(f"{archive}/version", "3\n")


def write_pickles(path, *objects):
    """Writes plain pickles one after another (e.g. a legacy header followed by anything)."""
    with open(path, "wb") as f:
        for obj in objects:
            pickle.dump(obj, f, protocol=2)
