"""A damaged newest checkpoint (data file cut short, empty index, garbled `checkpoint` state
file) is named; a resumed training falls back to the newest intact checkpoint and says so in the
log, and ends as an uninterrupted run; evaluate and export say "damaged checkpoint FILE", not
"another architecture"."""

import logging
import os

import numpy as np
import pytest
import tensorflow as tf

from tests.reliability.conftest import voc_config
from tests.reliability.toy_loop import train_one_weight
from tsss_tf.serving.errors import ExportError
from tsss_tf.training.builders import build_pnet, build_variables
from tsss_tf.training.restore import (DamagedCheckpointError, checkpoint_damage, load_trained,
                                      resume_checkpoint)


def _train(directory, total):
    """The one-weight toy fitted to a stream of ones, saved every 10 steps: (w, step)."""
    _, w, step = train_one_weight(directory, total, np.ones(60))
    return float(w.numpy()), int(step.numpy())


def _truncate_data(prefix):
    data = prefix + ".data-00000-of-00001"
    with open(data, "r+b") as f:
        f.truncate(os.path.getsize(data) // 2)


def _empty_index(prefix):
    open(prefix + ".index", "wb").close()


def _garble_state(prefix):
    with open(os.path.join(os.path.dirname(prefix), "checkpoint"), "wb") as f:
        f.write(b"model_checkpoint_path: \"ckpt-20\"\n\x00\xff garbage {{{")


DAMAGE = {"truncated_data": _truncate_data, "empty_index": _empty_index,
          "garbled_state": _garble_state}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_a_resumed_run_falls_back_to_the_newest_intact_checkpoint(kind, tmp_path, caplog):
    _train(tmp_path, 20)  # ckpt-10 and ckpt-20
    ckpt = os.path.join(tmp_path, "ckpt")
    DAMAGE[kind](os.path.join(ckpt, "ckpt-20"))
    with caplog.at_level(logging.WARNING):
        w, step = _train(tmp_path, 30)
    assert step == 30
    assert w == pytest.approx(1 - 0.8 ** 30, rel=1e-5)  # as an uninterrupted run
    if kind == "garbled_state":  # the checkpoint files themselves are intact: ckpt-20 is used
        assert f"damaged checkpoint state file {ckpt}/checkpoint" in caplog.text
    else:
        assert f"damaged checkpoint '{ckpt}/ckpt-20'" in caplog.text
        assert f"resuming from '{ckpt}/ckpt-10', the newest intact checkpoint" in caplog.text
    assert tf.train.latest_checkpoint(ckpt).endswith("ckpt-30")
    assert checkpoint_damage(tf.train.latest_checkpoint(ckpt)) is None


def test_the_damage_is_named(tmp_path):
    _train(tmp_path, 20)
    prefix = os.path.join(tmp_path, "ckpt", "ckpt-20")
    assert checkpoint_damage(prefix) is None
    _truncate_data(prefix)
    assert checkpoint_damage(prefix).startswith("its data file is cut short")
    _empty_index(prefix)
    assert checkpoint_damage(prefix).startswith("its index file is damaged")


def test_every_checkpoint_damaged_is_an_error_not_a_silent_restart(tmp_path):
    _train(tmp_path, 20)
    ckpt = os.path.join(tmp_path, "ckpt")
    for n in (10, 20):
        _truncate_data(os.path.join(ckpt, f"ckpt-{n}"))
    with pytest.raises(DamagedCheckpointError, match=rf"toy: every checkpoint in {ckpt} is "
                       rf"damaged .*; delete {ckpt} to train this stage again"):
        resume_checkpoint(ckpt, "toy")


def _pnet_run(tmp_path):
    """A run folder with two checkpoints of a P-Net variant (the layout evaluate reads)."""
    cfg = voc_config("/unused")
    model = build_pnet(cfg.model, 5)
    build_variables(model, 32)
    ckpt = os.path.join(tmp_path, "run", "tsss", "ckpt")
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(generator=model), ckpt,
                                         max_to_keep=3)
    for n in (2, 4):
        manager.save(checkpoint_number=n)
    return cfg, ckpt


def test_evaluate_names_a_damaged_checkpoint_and_the_newest_intact_one(tmp_path):
    cfg, ckpt = _pnet_run(tmp_path)
    _truncate_data(os.path.join(ckpt, "ckpt-4"))
    with pytest.raises(DamagedCheckpointError) as info:
        load_trained("pnet", cfg.model, 5, ckpt, 32, "the P-Net 'tsss'")
    msg = str(info.value)
    assert msg.startswith(f"damaged checkpoint '{ckpt}/ckpt-4': its data file is cut short")
    assert f"the newest intact checkpoint is '{ckpt}/ckpt-2': delete {ckpt}/ckpt-4.index, " \
           f"{ckpt}/ckpt-4.data-* to use it" in msg
    assert "another architecture" not in msg


def test_evaluate_names_a_garbled_state_file_rather_than_no_checkpoint(tmp_path):
    cfg, ckpt = _pnet_run(tmp_path)
    _garble_state(os.path.join(ckpt, "ckpt-4"))
    with pytest.raises(DamagedCheckpointError, match=rf"damaged checkpoint state file "
                       rf"{ckpt}/checkpoint .*the newest intact checkpoint there is "
                       rf"'{ckpt}/ckpt-4'"):
        load_trained("pnet", cfg.model, 5, ckpt, 32, "the P-Net 'tsss'")


def test_export_says_damaged_checkpoint(tmp_path):
    from tsss_tf.serving.trained_pnet import checkpoint_path, load_trained_pnet

    cfg, ckpt = _pnet_run(tmp_path)
    _empty_index(os.path.join(ckpt, "ckpt-4"))
    latest = checkpoint_path(os.path.join(tmp_path, "run"), "tsss")
    with pytest.raises(ExportError) as info:
        load_trained_pnet(cfg, 5, latest)
    msg = str(info.value)
    assert msg.startswith(f"damaged checkpoint '{ckpt}/ckpt-4': its index file is damaged")
    assert "another architecture" not in msg and "retrain that variant" not in msg
