"""ModelOptimizer: the config's backbone options reach the training step."""

import numpy as np
import pytest
import tensorflow as tf

from tsss_tf.config import ModelConfig
from tsss_tf.training.builders import ModelOptimizer, build_pnet


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
    with pytest.raises(ValueError, match="backbone_lr_mult"):
        _step(backbone_lr_mult=-1.0)
