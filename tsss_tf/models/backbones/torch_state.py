"""Reads a PyTorch state dict (`torch.save` of a dict of tensors) into numpy arrays, without torch.

A `.pth` file is a pickle, and a plain `pickle.load` of a file from elsewhere can run any code.
`StateDictUnpickler` resolves only the few globals a state dict needs (an `OrderedDict`, the tensor
rebuild functions, the typed storage classes) to harmless local stand-ins, and refuses every other
global with `pickle.UnpicklingError` naming it.

Both `torch.save` formats are read:
- the legacy format (torch < 1.6, or `_use_new_zipfile_serialization=False`): five pickles one after
  the other (magic number, protocol version, system info, the object, the sorted storage keys), then
  for each key an int64 element count and the storage's raw bytes;
- the zip format (torch >= 1.6): `ARCHIVE/data.pkl` and one `ARCHIVE/data/KEY` file per storage.

See `StateDictUnpickler` for an example.
"""

import collections
import io
import os
import pickle
import struct
import zipfile

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

# torch's typed storage classes as pickled by torch.save (module "torch") -> numpy dtype.
STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class _StorageType:
    """Stand-in for torch.FloatStorage etc.: only carries the numpy dtype."""

    def __init__(self, name):
        self.name, self.dtype = name, np.dtype(STORAGE_DTYPES[name]).newbyteorder("<")


class _Storage:
    """A storage named in the pickle; its data is filled in once the raw bytes are read."""

    def __init__(self, key, dtype, numel):
        self.key, self.dtype, self.numel = key, dtype, int(numel)
        self.data = None


class _StorageView:
    """Legacy `view_metadata`: a tensor whose storage is a slice of another storage."""

    def __init__(self, root, offset, size):
        self.root, self.offset, self.size = root, int(offset), int(size)


class _PendingTensor:
    """What `_rebuild_tensor_v2` gives: made into a numpy array after the storages are read."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset = storage, int(offset)
        self.size, self.stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)

    def to_numpy(self, where):
        storage, offset = self.storage, self.offset
        if isinstance(storage, _StorageView):
            offset += storage.offset
            storage = storage.root
        if storage.data is None:
            raise ValueError(f"{where}: the data of storage {storage.key!r} is missing")
        flat = storage.data
        if not self.size:
            return flat[offset:offset + 1].reshape(()).astype(flat.dtype.newbyteorder("="))
        last = offset + sum((n - 1) * s for n, s in zip(self.size, self.stride))
        if offset < 0 or last >= flat.size or any(s < 0 for s in self.stride):
            raise ValueError(f"{where}: a tensor of size {self.size} and stride {self.stride} at "
                             f"offset {offset} does not fit its storage of {flat.size} elements")
        view = np.lib.stride_tricks.as_strided(
            flat[offset:], shape=self.size, strides=[s * flat.itemsize for s in self.stride],
            writeable=False)
        return np.array(view, dtype=flat.dtype.newbyteorder("="))


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    del requires_grad, backward_hooks, metadata
    if not isinstance(storage, (_Storage, _StorageView)):
        raise pickle.UnpicklingError("_rebuild_tensor_v2 was given no storage")
    return _PendingTensor(storage, storage_offset, size, stride)


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _rebuild_tensor_v2(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    del requires_grad, backward_hooks
    return data


class StateDictUnpickler(pickle.Unpickler):
    """A `pickle.Unpickler` for PyTorch state dicts that can call nothing else.

    `find_class` allows only `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`,
    `_rebuild_tensor` and `_rebuild_parameter` (mapped to local functions that build lazy numpy
    tensors) and the typed storage classes `torch.FloatStorage` etc. (mapped to dtype markers);
    any other global raises `pickle.UnpicklingError` naming it. `persistent_load` turns torch's
    storage references into `_Storage` placeholders, collected in `self.storages` by key; their
    bytes are read afterwards (see `load_torch_state_dict`).

    Args:
        file: a binary file object positioned at the pickle.
        source: a name for error messages (e.g. the file path).

    Example:
    >>> import io, os, pickle
    >>> class Evil:
    ...     def __reduce__(self):
    ...         return (os.system, ("echo hacked",))
    >>> StateDictUnpickler(io.BytesIO(pickle.dumps(Evil())), source="evil.pth").load()
    Traceback (most recent call last):
    ...
    _pickle.UnpicklingError: evil.pth: refusing to load global '...system': a PyTorch ...
    >>> import collections
    >>> data = pickle.dumps(collections.OrderedDict(step=3), protocol=2)
    >>> dict(StateDictUnpickler(io.BytesIO(data)).load())
    {'step': 3}
    """

    ALLOWED = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    }

    def __init__(self, file, source="<state dict>"):
        super().__init__(file)
        self.source = source
        self.storages = {}
        self.refused = None  # the global refused, if any

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return self.ALLOWED[(module, name)]
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        if module == "torch" and name.endswith("Storage"):
            raise pickle.UnpicklingError(f"{self.source}: tensors of torch.{name} are not "
                                         "supported (no numpy dtype); save them as float32")
        self.refused = f"{module}.{name}"
        raise pickle.UnpicklingError(
            f"{self.source}: refusing to load global '{module}.{name}': a PyTorch state dict "
            "needs only collections.OrderedDict, torch._utils._rebuild_* and torch.*Storage "
            "(is this file really a state dict?)")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            raise pickle.UnpicklingError(
                f"{self.source}: unsupported persistent id {pid!r:.80} (expected a torch storage)")
        storage_type, key, _location, numel = pid[1:5]
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"{self.source}: storage {key!r} has no storage type")
        key = str(key)
        storage = self.storages.get(key)
        if storage is None:
            storage = self.storages[key] = _Storage(key, storage_type.dtype, numel)
        view = pid[5] if len(pid) == 6 else None
        if view is not None:  # (view_key, offset, view_size), legacy format only
            return _StorageView(storage, view[1], view[2])
        return storage


def _resolve(obj, where):
    """Replaces each _PendingTensor in nested dicts / lists / tuples by its numpy array."""
    if isinstance(obj, _PendingTensor):
        return obj.to_numpy(where)
    if isinstance(obj, dict):
        out = collections.OrderedDict()
        for k, v in obj.items():
            out[k] = _resolve(v, f"{where}[{k!r}]")
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_resolve(v, where) for v in obj)
    return obj


def _load_legacy(f, source):
    def header_pickle(what):
        unpickler = StateDictUnpickler(f, source)
        try:
            return unpickler.load()
        except (EOFError, pickle.UnpicklingError, ValueError, TypeError) as e:
            if unpickler.refused:
                raise
            raise ValueError(f"{source}: not a legacy torch.save file ({what}: {e})") from e

    if header_pickle("magic number") != LEGACY_MAGIC:
        raise ValueError(f"{source}: not a torch.save file (wrong magic number)")
    protocol = header_pickle("protocol version")
    if protocol != LEGACY_PROTOCOL:
        raise ValueError(f"{source}: unsupported legacy torch.save protocol {protocol!r}")
    sys_info = header_pickle("system info")
    if isinstance(sys_info, dict) and sys_info.get("little_endian") is False:
        raise ValueError(f"{source}: big-endian torch.save files are not supported")
    unpickler = StateDictUnpickler(f, source)
    obj = unpickler.load()
    keys = StateDictUnpickler(f, source).load()
    if not isinstance(keys, list):
        raise ValueError(f"{source}: the storage key list is missing")
    for key in keys:
        key = str(key)
        head = f.read(8)
        if len(head) != 8:
            raise ValueError(f"{source}: truncated before the data of storage {key!r}")
        (numel,) = struct.unpack("<q", head)
        storage = unpickler.storages.get(key)
        if storage is None:
            raise ValueError(f"{source}: data for storage {key!r} that no tensor uses")
        if numel != storage.numel:
            raise ValueError(f"{source}: storage {key!r} has {numel} elements, its tensors "
                             f"say {storage.numel}")
        nbytes = numel * storage.dtype.itemsize
        raw = f.read(nbytes)
        if len(raw) != nbytes:
            raise ValueError(f"{source}: truncated in the data of storage {key!r}")
        storage.data = np.frombuffer(raw, dtype=storage.dtype)
    return _resolve(obj, source)


def _load_zip(path, source):
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise ValueError(f"{source}: a zip file without one ARCHIVE/data.pkl is not a "
                             "torch.save file")
        prefix = pkl[0][: -len("data.pkl")]
        unpickler = StateDictUnpickler(io.BytesIO(archive.read(pkl[0])), source)
        obj = unpickler.load()
        for key, storage in unpickler.storages.items():
            name = f"{prefix}data/{key}"
            if name not in names:
                raise ValueError(f"{source}: the data of storage {key!r} ({name}) is missing")
            raw = archive.read(name)
            if len(raw) != storage.numel * storage.dtype.itemsize:
                raise ValueError(f"{source}: storage {key!r} has {len(raw)} bytes, expected "
                                 f"{storage.numel * storage.dtype.itemsize}")
            storage.data = np.frombuffer(raw, dtype=storage.dtype)
    return _resolve(obj, source)


def load_torch_state_dict(path):
    """The object saved by `torch.save` at `path` (normally a dict of tensors), with every tensor
    as a numpy array, read without torch and without running any code from the file.

    Raises `pickle.UnpicklingError` for a pickle that names anything a state dict does not need,
    `ValueError` for a file that is not a `torch.save` file or is truncated.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"torch state dict file {path!r} does not exist")
    if zipfile.is_zipfile(path):
        return _load_zip(path, path)
    with open(path, "rb") as f:
        return _load_legacy(f, path)
