"""ModelOptimizer: the config's backbone options (model.*, and lnet.* for the L-Net) reach the
training step."""

import numpy as np
import pytest
import tensorflow as tf

from tsss_tf.config import ModelConfig, load_config
from tsss_tf.training.builders import ModelOptimizer, build_lnet, build_pnet
from tsss_tf.training.lnet_loop import lnet_model_config


def _step(**model_kw):
    cfg = ModelConfig(backbone_width=8, head_width=16, head_dropout=0.0, **model_kw)
    tf.keras.utils.set_random_seed(0)
    pnet = build_pnet(cfg, 3)
    x = tf.random.stateless_uniform([2, 32, 32, 3], [1, 2], 0, 255)
    y = tf.random.stateless_uniform([2, 32, 32], [3, 4], 0, 3, dtype=tf.int32)
    pnet(x)
    opt = ModelOptimizer(pnet, cfg, 1e-2, 0.0, 10)
    before = [v.numpy() for v in pnet.trainable_variables]
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, pnet(x, training=True)))
    opt.apply(tape.gradient(loss, opt.variables))
    # Keyed by position: two models built in one test get different name prefixes.
    bb = {id(v) for v in pnet.backbone.trainable_variables}
    moved = [(id(v) in bb, np.abs(v.numpy() - b).max())
             for v, b in zip(pnet.trainable_variables, before)]
    return (opt, {i: d for i, (is_bb, d) in enumerate(moved) if is_bb},
            {i: d for i, (is_bb, d) in enumerate(moved) if not is_bb})


def test_default_is_one_optimizer_on_everything():
    opt, bb, heads = _step()
    assert opt.backbone_opt is None and list(opt.checkpoint_parts("o")) == ["o"]
    assert min(bb.values()) > 0 and min(heads.values()) > 0


def test_freeze_backbone_leaves_it_unchanged():
    opt, bb, heads = _step(freeze_backbone=True)
    assert max(bb.values()) == 0.0
    assert min(heads.values()) > 0
    assert len(opt.variables) == len(heads)


@pytest.mark.parametrize("mult", [0.0, 0.1])
def test_backbone_lr_mult_scales_the_backbone_step(mult):
    opt, bb, heads = _step(backbone_lr_mult=mult)
    _, bb_ref, heads_ref = _step()
    assert sorted(opt.checkpoint_parts("g")) == ["g", "g_backbone"]
    # Adam's first step moves each weight by about lr: the backbone's by about lr * mult.
    ratio = np.median([bb[p] / bb_ref[p] for p in bb if bb_ref[p] > 0])
    assert ratio == pytest.approx(mult, abs=0.02)
    for p in heads:
        np.testing.assert_allclose(heads[p], heads_ref[p], rtol=1e-5, atol=1e-8)


def test_negative_multiplier_is_refused():
    # the config's check (ExperimentConfig.validate), run before any optimizer is built
    for field in ("model", "lnet"):
        with pytest.raises(ValueError, match=f"'{field}.backbone_lr_mult' is -1"):
            load_config("tiny", [f"{field}.backbone_lr_mult=-1"]).validate()


def test_lnet_options_override_the_models_for_the_lnet_only():
    cfg = load_config("tiny", ["model.freeze_backbone=true", "model.backbone_lr_mult=1.0"])
    assert lnet_model_config(cfg) == cfg.model  # unset: the model's options
    cfg = load_config("tiny", ["model.freeze_backbone=true", "lnet.freeze_backbone=false",
                               "lnet.backbone_lr_mult=0.1"])
    lm = lnet_model_config(cfg)
    assert (lm.freeze_backbone, lm.backbone_lr_mult) == (False, 0.1)
    assert (cfg.model.freeze_backbone, cfg.model.backbone_lr_mult) == (True, 1.0)
    # The L-Net's optimizer trains its backbone at 0.1x; the P-Nets' (cfg.model) leave it frozen.
    lnet = build_lnet(cfg.model, 3)
    lnet(tf.zeros([1, 32, 32, 3]))
    lnet_opt = ModelOptimizer(lnet, lm, 1e-3, 0.0, 10)
    assert lnet_opt.backbone_opt is not None
    assert len(lnet_opt.variables) == len(lnet.trainable_variables)
    pnet = build_pnet(cfg.model, 3)
    pnet(tf.zeros([1, 32, 32, 3]))
    assert ModelOptimizer(pnet, cfg.model, 1e-3, 0.0, 10).backbone_opt is None
