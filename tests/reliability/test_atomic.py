"""Outputs are written to a temporary name and renamed: a crash while writing leaves the old
file (or none) under the final name, never a partial one."""

import json
import os

import numpy as np
import pytest

from tsss_tf.evaluation import report
from tsss_tf.transfer.pseudo_labels import PseudoLabelStore


class Crash(Exception):
    pass


def test_results_json_crash_mid_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = str(tmp_path / "results.json")
    report.write_json(path, {"miou": 0.5})
    real_fsync = os.fsync

    def crash(fd):  # the new text is written but not yet durable: the process dies here
        raise Crash()
    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(Crash):
        report.write_json(path, {"miou": 0.9, "variants": {}})
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert json.load(open(path)) == {"miou": 0.5}
    assert os.listdir(tmp_path) == ["results.json"]


def test_results_json_is_never_seen_half_written(tmp_path, monkeypatch):
    """Until the rename, readers see no file at all under the final name."""
    path = str(tmp_path / "metrics.json")
    seen = []
    real_replace = os.replace

    def replace(src, dst):
        seen.append((os.path.basename(src), os.path.exists(dst)))
        real_replace(src, dst)
    monkeypatch.setattr(os, "replace", replace)
    report.write_json(path, {"a": 1})
    assert len(seen) == 1 and seen[0][0].startswith(".metrics.json.tmp-") and not seen[0][1]
    assert report.read_json(path) == {"a": 1}


def test_a_corrupt_json_output_is_reported_by_name(tmp_path):
    from tsss_tf.data.voc import DataError

    path = tmp_path / "metrics.json"
    path.write_text('{"last": ')
    with pytest.raises(DataError, match=r"metrics\.json: cannot read it as JSON"):
        report.read_json(str(path))
    path.write_text("[1, 2]")
    with pytest.raises(DataError, match=r"metrics\.json: holds a JSON list, not an object"):
        report.read_json(str(path))


def test_pseudo_label_crash_mid_write_leaves_no_label(tmp_path, monkeypatch):
    store = PseudoLabelStore(str(tmp_path / "pl"), fingerprint="f")
    store.write("a", np.zeros((4, 5), np.uint8))
    import tsss_tf.transfer.pseudo_labels as pl

    def crash(dest, mask, palette=None):  # dest: the open temporary file
        dest.write(b"\x89PNG half")
        raise Crash()
    monkeypatch.setattr(pl, "write_palette_png", crash)
    with pytest.raises(Crash):
        store.write("b", np.ones((4, 5), np.uint8))
    assert store.names() == ["a"] and not store.has("b")
    assert sorted(os.listdir(store.directory)) == ["a.png", "manifest.json"]


@pytest.mark.slow
def test_export_crash_leaves_no_version_folder(tmp_path, monkeypatch):
    from tsss_tf.config import load_config
    from tsss_tf.serving import exporter
    from tsss_tf.training.builders import build_pnet

    cfg = load_config("tiny")
    model = build_pnet(cfg.model, 3)
    model.build((None, None, None, 3))

    def crash(*args, **kwargs):
        raise Crash()
    monkeypatch.setattr(exporter, "write_warmup", crash)
    with pytest.raises(Crash):
        exporter.export_saved_model(model, ["background", "a", "b"], 1, 32, str(tmp_path / "e"))
    assert os.listdir(tmp_path / "e") == []
