"""Mixed precision (`config.mixed_precision`): the models of a training stage compute in
bfloat16 / float16 with float32 variables, the losses stay finite, and the trained P-Net exports
a float32 SavedModel whose serving signatures answer."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import one_cpu_strategy
from tsss_tf.config import ConfigError, apply_overrides, load_config
from tsss_tf.training.builders import ModelOptimizer, build_pnet, build_variables
from tsss_tf.training.gan_loop import PNetTrainer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _batch(size=32, classes=11):
    rng = np.random.default_rng(0)
    return {"image": tf.constant(rng.uniform(0, 255, (2, size, size, 3)), tf.float32),
            "mask": tf.constant(rng.integers(0, classes, (2, size, size)), tf.int32),
            "strong": tf.constant([1.0, 0.0]), "labels": tf.ones([2, classes - 1])}


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_gan_step_computes_in_low_precision_with_float32_variables(policy):
    cfg = apply_overrides(load_config("tiny"), [f"mixed_precision={policy}",
                                                "model.pnet_head=deeplabv3plus",
                                                "data.crop_size=32", "global_batch_size=2"])
    strategy = one_cpu_strategy()
    trainer = PNetTrainer(cfg, 11, strategy, "tsss")
    low = policy.split("_")[1]
    assert trainer.gen.backbone.compute_dtype == low and trainer.disc.compute_dtype == low
    assert all(v.dtype == "float32" for v in trainer.gen.weights + trainer.disc.weights)
    before = [v.numpy().copy() for v in trainer.gen.trainable_variables]
    step = tf.function(lambda b: strategy.run(trainer.replica_step, args=(b,)))
    for _ in range(3):
        metrics = step(_batch())
    assert all(np.isfinite(float(v)) for v in metrics.values())
    # the logged norm is of the unscaled gradients (the loss scale starts at 2**15)
    assert 0 < float(metrics["grad_norm"]) < 1000 and float(metrics["disc_grad_norm"]) < 1000
    moved = [not np.array_equal(a, v.numpy())
             for a, v in zip(before, trainer.gen.trainable_variables)]
    assert sum(moved) > len(moved) // 2  # the loss scale does not swallow the updates
    scaled = isinstance(trainer.g_opt.main, keras.optimizers.LossScaleOptimizer)
    assert scaled == (policy == "mixed_float16")  # float16 gradients need loss scaling
    assert isinstance(trainer.d_opt, keras.optimizers.LossScaleOptimizer) == scaled


def test_float16_refuses_two_optimizers_by_name():
    cfg = apply_overrides(load_config("tiny"), ["mixed_precision=mixed_float16",
                                                "model.backbone_lr_mult=0.1"])
    with pytest.raises(ConfigError, match="model.backbone_lr_mult.*mixed_bfloat16"):
        cfg.validate()
    pnet = build_pnet(cfg.model, 4)
    build_variables(pnet, 32)
    with pytest.raises(ValueError, match="one optimizer per model"):
        ModelOptimizer(pnet, cfg.model, 1e-3, 0.0, 10, loss_scale=True)
    with pytest.raises(ConfigError, match="'mixed_precision' is 'float16'"):
        apply_overrides(load_config("tiny"), ["mixed_precision=float16"]).validate()


@pytest.mark.slow
def test_bfloat16_training_exports_a_served_float32_model(tmp_path):
    """`python -m tsss_tf.train` with mixed_bfloat16 and the DeepLab v3+ head, then
    `python -m tsss_tf.export`: the SavedModel's class_map signature answers an image."""
    run, export = str(tmp_path / "run"), str(tmp_path / "export")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    subprocess.run([sys.executable, "-m", "tsss_tf.train", "--config=tiny", "--stage=full",
                    f"--model_dir={run}", "--progress=false",
                    "--set=mixed_precision=mixed_bfloat16", "--set=model.pnet_head=deeplabv3plus",
                    "--set=pnet.steps=6"], cwd=REPO, env=env, check=True, timeout=600)
    subprocess.run([sys.executable, "-m", "tsss_tf.export", f"--model_dir={run}",
                    f"--export_dir={export}", "--variant=full"], cwd=REPO, env=env,
                   check=True, timeout=600)
    loaded = tf.saved_model.load(os.path.join(export, "1"))
    png = tf.io.encode_png(tf.constant(np.full((40, 56, 3), 90, np.uint8))).numpy()
    out = loaded.signatures["serving_default"](image_bytes=tf.constant([png]))
    assert out["probabilities"].dtype == tf.float32
    assert tuple(out["class_map"].shape)[1:3] == (40, 56)
    np.testing.assert_allclose(out["probabilities"].numpy().sum(-1), 1.0, atol=1e-3)
