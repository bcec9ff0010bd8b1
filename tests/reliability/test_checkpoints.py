"""Checkpoints: one of another architecture is refused by name (never restored partially
over random weights), a damaged one too (as damaged: test_checkpoint_recovery.py), and a
half-written one is never taken as the latest."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import one_cpu_strategy
from tests.reliability import cli
from tests.reliability.conftest import voc_config
from tsss_tf.experiment import Experiment
from tsss_tf.training.builders import build_lnet, build_pnet, build_variables
from tsss_tf.training.restore import CheckpointError, restore_model


def _lnet(cfg, width=None, categories=4):
    model_cfg = cfg.model if width is None else type(cfg.model)(
        **dict(cfg.model.__dict__, backbone_width=width))
    model = build_lnet(model_cfg, categories)
    build_variables(model, cfg.data.crop_size)
    return model


def _save(root, directory, step=1):
    manager = tf.train.CheckpointManager(root, directory, max_to_keep=2)
    return manager.save(checkpoint_number=step)


def test_a_matching_checkpoint_restores_every_weight(voc, tmp_path):
    cfg = voc_config(voc)
    saved = _lnet(cfg)
    path = _save(tf.train.Checkpoint(model=saved, step=tf.Variable(3)), str(tmp_path / "c"))
    fresh = _lnet(cfg)
    restore_model(tf.train.Checkpoint(model=fresh), fresh, path, "the L-Net")
    for a, b in zip(saved.weights, fresh.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("change", ["width", "classes", "pnet"])
def test_a_checkpoint_of_another_architecture_is_refused(change, voc, tmp_path):
    cfg = voc_config(voc)
    if change == "width":
        other = _lnet(cfg, width=16)
    elif change == "classes":
        other = _lnet(cfg, categories=7)
    else:
        other = build_pnet(cfg.model, 5)
        build_variables(other, 32)
    path = _save(tf.train.Checkpoint(model=other), str(tmp_path / "c"))
    model = _lnet(cfg)
    before = [w.numpy().copy() for w in model.weights]
    pattern = (r"checkpoint '.*/c/ckpt-1' does not hold the L-Net of this config"
               + (r".*weights of the model are not in it" if change == "pnet" else
                  r".*incompatible tensor with shape"))
    with pytest.raises(CheckpointError, match=pattern):
        restore_model(tf.train.Checkpoint(model=model), model, path, "the L-Net")
    del before


def test_a_damaged_checkpoint_is_refused_by_name(voc, tmp_path):
    cfg = voc_config(voc)
    model = _lnet(cfg)
    path = _save(tf.train.Checkpoint(model=model), str(tmp_path / "c"))
    data = path + ".data-00000-of-00001"
    with open(data, "r+b") as f:
        f.truncate(os.path.getsize(data) // 2)
    with pytest.raises(CheckpointError, match=r"^damaged checkpoint '.*/c/ckpt-1': its data "
                       r"file is cut short \(Read less bytes than requested\); no older intact "
                       r"checkpoint: retrain$"):
        restore_model(tf.train.Checkpoint(model=model), model, path, "the L-Net")


def test_lnet_reload_refuses_another_width_and_transfers_nothing(voc, tmp_path):
    cfg = voc_config(voc)
    model_dir = str(tmp_path / "run")
    exp = Experiment(cfg, model_dir, strategy=one_cpu_strategy(), progress=False)
    _save(tf.train.Checkpoint(model=_lnet(cfg, width=16)),
          os.path.join(model_dir, "lnet", "ckpt"), step=4)
    with open(os.path.join(model_dir, "lnet", "metrics.json"), "w") as f:
        json.dump({"last": {}}, f)
    with pytest.raises(CheckpointError, match=r"lnet/ckpt/ckpt-4' does not hold the L-Net"):
        exp.run_stage("transfer")
    assert not os.path.exists(os.path.join(model_dir, "transfer"))


def test_a_half_written_checkpoint_is_never_taken_as_the_latest(tmp_path):
    """What a kill during a save can leave (TF writes `<prefix>_temp/` then the final files,
    and only then names the new checkpoint in the `checkpoint` state file, atomically): the
    latest checkpoint stays the previous complete one, and the next save replaces the debris."""
    directory = str(tmp_path / "ckpt")
    v = tf.Variable([1.0, 2.0])
    root = tf.train.Checkpoint(v=v)
    manager = tf.train.CheckpointManager(root, directory, max_to_keep=2)
    manager.save(checkpoint_number=10)
    os.makedirs(os.path.join(directory, "ckpt-20_temp"))
    with open(os.path.join(directory, "ckpt-20_temp", "part-00000-of-00001.data-00000-of-00001"),
              "wb") as f:
        f.write(b"\0" * 7)
    with open(os.path.join(directory, "ckpt-20.index"), "wb") as f:
        f.write(b"half")
    assert tf.train.latest_checkpoint(directory).endswith("ckpt-10")
    v.assign([5.0, 6.0])
    root.restore(tf.train.latest_checkpoint(directory)).assert_existing_objects_matched()
    np.testing.assert_array_equal(v.numpy(), [1.0, 2.0])
    v.assign([7.0, 8.0])
    manager = tf.train.CheckpointManager(root, directory, max_to_keep=2)
    assert manager.save(checkpoint_number=20).endswith("ckpt-20")
    v.assign([0.0, 0.0])
    root.restore(tf.train.latest_checkpoint(directory)).assert_existing_objects_matched()
    np.testing.assert_array_equal(v.numpy(), [7.0, 8.0])


@pytest.mark.slow
def test_evaluate_cli_refuses_a_checkpoint_of_another_width(voc, tmp_path):
    cfg = voc_config(voc)
    model_dir = tmp_path / "run"
    (model_dir / "tsss").mkdir(parents=True)
    (model_dir / "config.json").write_text(cfg.to_json())
    pnet = build_pnet(cfg.model, 5)
    build_variables(pnet, 32)
    _save(tf.train.Checkpoint(generator=pnet), str(model_dir / "tsss" / "ckpt"), step=4)
    base = [sys.executable, "-m", "tsss_tf.evaluate", f"--model_dir={model_dir}",
            "--eval_set=val"]
    bad = subprocess.run(base + ["--set=model.backbone_width=16"], capture_output=True,
                         text=True, timeout=300, env=cli.environment(), cwd=cli.REPO)
    assert bad.returncode == 2, bad.stderr[-2000:]
    assert "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines()[-1].startswith(
        f"error: checkpoint '{model_dir}/tsss/ckpt/ckpt-4' does not hold the P-Net 'tsss'")
    good = subprocess.run(base, capture_output=True, text=True, timeout=300,
                          env=cli.environment(), cwd=cli.REPO)
    assert good.returncode == 0, good.stderr[-2000:]
    assert json.loads(good.stdout[good.stdout.index("{"):])["num_images"] == 2


def test_load_trained_builds_and_restores_or_names_the_missing_checkpoint(voc, tmp_path):
    from tsss_tf.training.restore import load_trained

    cfg = voc_config(voc)
    saved = build_pnet(cfg.model, 5)
    build_variables(saved, cfg.data.crop_size)
    _save(tf.train.Checkpoint(generator=saved, step=tf.Variable(1)), str(tmp_path / "p"))
    loaded = load_trained("pnet", cfg.model, 5, str(tmp_path / "p"), cfg.data.crop_size,
                          "the P-Net")
    for a, b in zip(saved.weights, loaded.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(CheckpointError, match=r"no checkpoint of the L-Net in .*empty"):
        load_trained("lnet", cfg.model, 4, str(tmp_path / "empty"), cfg.data.crop_size,
                     "the L-Net")
    with pytest.raises(CheckpointError, match="does not hold the L-Net"):  # a P-Net's file
        load_trained("lnet", cfg.model, 4, str(tmp_path / "p"), cfg.data.crop_size,
                     "the L-Net")
