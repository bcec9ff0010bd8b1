import json
import os

import numpy as np
import pytest

from tsss_tf.transfer import pseudo_labels
from tsss_tf.transfer.pseudo_labels import PseudoLabelStore


def label(rng, h=13, w=17):
    return rng.choice(np.array([0, 1, 5, 255], np.uint8), size=(h, w))


def test_round_trip_resume_and_complete(tmp_path, rng):
    store = PseudoLabelStore(str(tmp_path), "fp-1")
    maps = {name: label(rng) for name in ("b", "a", "2007_000032")}
    for name, m in maps.items():
        store.write(name, m)
    store.write("int64", maps["a"].astype(np.int64))
    assert store.names() == ["2007_000032", "a", "b", "int64"]
    for name, m in maps.items():
        out = store.read(name)
        assert out.dtype == np.uint8 and out.shape == m.shape
        np.testing.assert_array_equal(out, m)
    assert not store.is_complete()
    store.mark_complete({"pseudo_miou": np.float32(0.5), "ignored": 0.1})
    # Resume: a new store on the same folder and fingerprint sees everything.
    again = PseudoLabelStore(str(tmp_path), "fp-1")
    assert again.is_complete() and again.has("a") and not again.has("c")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["fingerprint"] == "fp-1" and manifest["count"] == 4
    assert manifest["stats"]["pseudo_miou"] == pytest.approx(0.5)
    # Writing more labels makes the recorded count stale: no longer complete.
    again.write("c", maps["a"])
    assert not PseudoLabelStore(str(tmp_path), "fp-1").is_complete()


def test_fingerprint_mismatch_raises_unless_reset(tmp_path, rng):
    PseudoLabelStore(str(tmp_path), "old-fp").write("a", label(rng))
    with pytest.raises(ValueError) as err:
        PseudoLabelStore(str(tmp_path), "new-fp")
    msg = str(err.value)
    assert str(tmp_path) in msg and "old-fp" in msg and "new-fp" in msg
    store = PseudoLabelStore(str(tmp_path), "new-fp", reset=True)
    assert store.names() == [] and not store.is_complete()
    assert json.loads((tmp_path / "manifest.json").read_text())["fingerprint"] == "new-fp"


def test_labels_without_manifest_are_refused(tmp_path, rng):
    from tsss_tf.data.voc import write_palette_png
    write_palette_png(str(tmp_path / "x.png"), label(rng))
    with pytest.raises(ValueError, match="no manifest.json"):
        PseudoLabelStore(str(tmp_path), "fp")


def test_stray_tmp_files_are_not_listed(tmp_path, rng):
    store = PseudoLabelStore(str(tmp_path), "fp")
    store.write("a", label(rng))
    (tmp_path / "b.png.tmp").write_bytes(b"partial")
    (tmp_path / ".c.123.tmp.png").write_bytes(b"partial")
    assert store.names() == ["a"] and not store.has("b") and not store.has("c")
    assert len(PseudoLabelStore(str(tmp_path), "fp")) == 1


def test_write_is_atomic(tmp_path, rng, monkeypatch):
    store = PseudoLabelStore(str(tmp_path), "fp")
    real_writer = pseudo_labels.write_palette_png

    def crash_midway(dest, mask):  # dest: the open temporary file the store writes into
        dest.write(b"\x89PNG\r\n\x1a\n")  # a partial PNG, then the crash
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(pseudo_labels, "write_palette_png", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        store.write("a", label(rng))
    assert not store.has("a") and store.names() == []
    assert not (tmp_path / "a.png").exists()
    assert sorted(os.listdir(tmp_path)) == ["manifest.json"]  # the temporary is removed too
    # An existing label survives a crashed overwrite unchanged.
    monkeypatch.setattr(pseudo_labels, "write_palette_png", real_writer)
    first = label(rng)
    store.write("a", first)
    monkeypatch.setattr(pseudo_labels, "write_palette_png", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        store.write("a", label(rng))
    np.testing.assert_array_equal(store.read("a"), first)


def test_bad_inputs(tmp_path, rng):
    store = PseudoLabelStore(str(tmp_path), "fp")
    for name in ("", ".hidden", "a/b", "x.tmp"):
        with pytest.raises(ValueError, match="invalid pseudo-label name"):
            store.write(name, label(rng))
    with pytest.raises(ValueError, match=r"\[H, W\]"):
        store.write("a", np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ValueError, match="outside 0..255"):
        store.write("a", np.full((2, 2), 256, np.int32))
    with pytest.raises(FileNotFoundError):
        store.read("missing")
    with pytest.raises(ValueError, match="fingerprint"):
        PseudoLabelStore(str(tmp_path / "other"), "")
