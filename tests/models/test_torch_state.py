"""The restricted reader of PyTorch state dicts: reads torch.save files without torch and runs no
code from them."""

import collections
import io
import os
import pickle

import numpy as np
import pytest

from tests.models import torch_files as tf_
from tsss_tf.models.backbones.torch_state import StateDictUnpickler, load_torch_state_dict


def _state(rng):
    conv = rng.normal(size=(8, 3, 3, 3)).astype("float32")
    shared = tf_.Storage("shared", np.arange(20, dtype="float32"))
    base = rng.normal(size=(4, 6)).astype("float32")
    state = collections.OrderedDict()
    state["conv.weight"] = tf_.tensor(conv, "0")
    state["bn.running_var"] = tf_.tensor(rng.uniform(size=8).astype("float32"), "1")
    state["bn.num_batches_tracked"] = tf_.Tensor(tf_.Storage("2", np.array([7], "int64")), 0,
                                                 (), ())
    # Two tensors on one storage, at offsets, and a transposed (non-contiguous) one.
    state["a"] = tf_.Tensor(shared, 2, (3, 2), (2, 1))
    state["b"] = tf_.Tensor(shared, 10, (5,), (2,))
    state["t"] = tf_.Tensor(tf_.Storage("3", base), 0, (6, 4), (1, 6))
    state["half"] = tf_.tensor(np.array([1.5, -2.0], "float16"), "4")
    expected = {"conv.weight": conv, "bn.running_var": state["bn.running_var"].storage.data,
                "bn.num_batches_tracked": np.array(7, "int64"),
                "a": np.arange(2, 8, dtype="float32").reshape(3, 2),
                "b": np.arange(10, 20, 2, dtype="float32"), "t": base.T,
                "half": np.array([1.5, -2.0], "float16")}
    return state, expected


def _check(loaded, expected):
    assert list(loaded) == list(expected)
    for k, v in expected.items():
        assert loaded[k].dtype == v.dtype, k
        assert loaded[k].shape == v.shape, k
        np.testing.assert_array_equal(loaded[k], v, err_msg=k)
        assert loaded[k].flags.writeable


def test_reads_legacy_format(tmp_path, rng):
    state, expected = _state(rng)
    path = tmp_path / "legacy.pth"
    tf_.write_legacy(path, state)
    _check(load_torch_state_dict(path), expected)


def test_reads_legacy_storage_views_and_nesting(tmp_path):
    root = tf_.Storage("root", np.arange(12, dtype="float32"))
    view = tf_.Tensor(root, 1, (2, 2), (2, 1), view=("root_view", 4, 6))  # root[4:10]
    path = tmp_path / "views.pth"
    tf_.write_legacy(path, {"state_dict": collections.OrderedDict(w=view), "epoch": 3})
    loaded = load_torch_state_dict(path)
    assert loaded["epoch"] == 3
    np.testing.assert_array_equal(loaded["state_dict"]["w"], [[5, 6], [7, 8]])


def test_reads_zip_format(tmp_path, rng):
    state, expected = _state(rng)
    path = tmp_path / "zip.pth"
    tf_.write_zip(path, state)
    _check(load_torch_state_dict(path), expected)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("where", ["object", "header"])
def test_refuses_a_pickle_that_calls_a_function(tmp_path, where):
    marker = tmp_path / "was_run"
    path = tmp_path / "evil.pth"
    if where == "object":  # a valid legacy header, then the attack in the object pickle
        tf_.write_pickles(path, tf_.LEGACY_MAGIC, 1001, {"little_endian": True},
                          {"w": _Evil(marker)}, [])
    else:
        tf_.write_pickles(path, _Evil(marker))
    with pytest.raises(pickle.UnpicklingError) as info:
        load_torch_state_dict(path)
    message = str(info.value)
    assert "refusing to load global" in message and "system'" in message
    assert str(path) in message
    assert not marker.exists()


def test_refuses_other_callables():
    for payload in (pickle.dumps(eval, protocol=2), pickle.dumps(np.ones, protocol=4),
                    pickle.dumps(collections.Counter(a=1), protocol=2)):
        with pytest.raises(pickle.UnpicklingError, match="refusing to load global"):
            StateDictUnpickler(io.BytesIO(payload), source="x.pth").load()


def test_rejects_files_that_are_not_torch_saves(tmp_path):
    path = tmp_path / "plain.pkl"
    tf_.write_pickles(path, {"w": 1})
    with pytest.raises(ValueError, match="wrong magic number"):
        load_torch_state_dict(path)
    path.write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match="not a legacy torch.save file"):
        load_torch_state_dict(path)
    with pytest.raises(FileNotFoundError):
        load_torch_state_dict(tmp_path / "missing.pth")


def test_rejects_truncated_data(tmp_path, rng):
    state, _ = _state(rng)
    path = tmp_path / "short.pth"
    tf_.write_legacy(path, state, raw_tail=False)
    with pytest.raises(ValueError, match="truncated"):
        load_torch_state_dict(path)
    tf_.write_legacy(path, state)
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(ValueError, match="truncated"):
        load_torch_state_dict(path)
