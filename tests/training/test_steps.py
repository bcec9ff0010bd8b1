"""Train steps: the same update on 1 and 2 replicas; a GAN step moves G and D the right way."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import one_cpu_strategy, two_cpu_strategy
from tsss_tf.config import load_config
from tsss_tf.training import losses
from tsss_tf.training.gan_loop import PNetTrainer
from tsss_tf.training.lnet_loop import LNetTrainer

NUM_CLASSES, SIZE, BATCH = 4, 32, 4


def _cfg(*overrides):
    # No dropout: its masks are drawn per replica, so they legitimately differ.
    return load_config("tiny", [f"data.crop_size={SIZE}", f"global_batch_size={BATCH}",
                                "model.head_dropout=0.0", *overrides])


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    mask = rng.integers(0, NUM_CLASSES, size=(BATCH, SIZE, SIZE)).astype(np.int32)
    mask[:, :3, :3] = 255
    image = rng.uniform(0, 255, size=(BATCH, SIZE, SIZE, 3)).astype(np.float32)
    image[..., 0] += 30 * mask  # images carry some signal about the mask
    labels = np.zeros((BATCH, NUM_CLASSES - 1), np.float32)
    labels[:, :2] = 1
    return {"image": np.clip(image, 0, 255), "mask": mask, "labels": labels,
            "strong": np.array([1, 1, 0, 0], np.float32)}


def _run_one_step(strategy, trainer, batch):
    ds = tf.data.Dataset.from_tensor_slices(batch).batch(BATCH, drop_remainder=True)
    dist_batch = next(iter(strategy.experimental_distribute_dataset(ds)))

    @tf.function
    def step(b):
        per = strategy.run(trainer.replica_step, args=(b,))
        return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in
                per.items()}

    return {k: float(v) for k, v in step(dist_batch).items()}


def _weights(model):
    return [np.array(w) for w in model.get_weights()]


@pytest.mark.parametrize("variant", ["tsss", "full"])
def test_pnet_step_same_update_on_one_and_two_replicas(variant):
    cfg, batch = _cfg(), _batch()
    results = []
    init = None
    for strategy in (one_cpu_strategy(), two_cpu_strategy()):
        keras.utils.set_random_seed(0)
        t = PNetTrainer(cfg, NUM_CLASSES, strategy, variant)
        if init is None:
            init = (_weights(t.gen), _weights(t.disc) if t.disc else None)
        else:
            t.gen.set_weights(init[0])
            if t.disc:
                t.disc.set_weights(init[1])
        metrics = _run_one_step(strategy, t, batch)
        results.append((metrics, _weights(t.gen), _weights(t.disc) if t.disc else []))
    (m1, g1, d1), (m2, g2, d2) = results
    # Reported losses are global means: a per-replica mean summed over 2 replicas would double.
    for k in m1:
        np.testing.assert_allclose(m1[k], m2[k], rtol=1e-4, atol=1e-6, err_msg=k)
    for a, b in zip(g1 + d1, g2 + d2):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    changed = [not np.allclose(a, b) for a, b in zip(init[0], g1)]
    assert sum(changed) > len(changed) // 2


def test_lnet_step_same_update_on_one_and_two_replicas():
    cfg, batch = _cfg(), _batch()
    out, init = [], None
    for strategy in (one_cpu_strategy(), two_cpu_strategy()):
        keras.utils.set_random_seed(0)
        t = LNetTrainer(cfg, NUM_CLASSES - 1, 1, strategy)
        if init is None:
            init = _weights(t.model)
        else:
            t.model.set_weights(init)
        out.append((_run_one_step(strategy, t, batch), _weights(t.model)))
    for k in out[0][0]:
        np.testing.assert_allclose(out[0][0][k], out[1][0][k], rtol=1e-4, atol=1e-6)
    for a, b in zip(out[0][1], out[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_one_gan_step_moves_generator_and_discriminator_the_right_way():
    cfg = _cfg("pnet.lambda_adv=100.0", "pnet.lambda_weak=0.0", "pnet.learning_rate=1e-3",
               "pnet.disc_learning_rate=1e-3")
    batch = _batch(1)
    strategy = one_cpu_strategy()
    keras.utils.set_random_seed(0)
    t = PNetTrainer(cfg, NUM_CLASSES, strategy, "tsss")
    x, mask = tf.constant(batch["image"]), tf.constant(batch["mask"])
    strong = tf.constant(batch["strong"])
    probs_old = tf.nn.softmax(t.gen(x))
    real = losses.real_label_map(mask, probs_old)

    def d_scores(probs):
        """(mean D(real) on strong images, mean D(fake) on all, L_D as the step computes it)."""
        dr, df = t.disc((x, real)), t.disc((x, probs))
        r = tf.reduce_mean(tf.sigmoid(dr), axis=[1, 2, 3])
        f = tf.reduce_mean(tf.sigmoid(df), axis=[1, 2, 3])
        l_d = tf.reduce_mean(losses.patch_bce(dr, 1.0) * strong + losses.patch_bce(df, 0.0))
        return (float(tf.reduce_sum(r * strong) / tf.reduce_sum(strong)), float(tf.reduce_mean(f)),
                float(l_d))

    def adv_loss(probs):  # what G minimises on weak images: BCE(D(x_w, G(x_w)), 1)
        per = losses.patch_bce(t.disc((x, probs)), 1.0)
        return float(tf.reduce_sum(per * (1 - strong)) / tf.reduce_sum(1 - strong))

    real0, fake0, ld0 = d_scores(probs_old)
    adv_before = adv_loss(probs_old)
    d_old = _weights(t.disc)
    _run_one_step(strategy, t, batch)
    # D: on the same pairs its loss falls and real pairs move away from the fake ones.
    real1, fake1, ld1 = d_scores(probs_old)
    assert ld1 < ld0
    assert real1 - fake1 > real0 - fake0
    # G: judged by the discriminator it was trained against, its weak predictions look more real.
    d_new = _weights(t.disc)
    t.disc.set_weights(d_old)
    adv_after = adv_loss(tf.nn.softmax(t.gen(x)))
    t.disc.set_weights(d_new)
    assert adv_after < adv_before


def test_segmentation_loss_ignores_255_and_objectness_uses_strong_only():
    logits = tf.zeros([2, 2, 2, 3])
    mask = tf.constant([[[0, 255], [1, 2]], [[255, 255], [255, 255]]], tf.int32)
    seg = losses.segmentation_loss(logits, mask).numpy()
    np.testing.assert_allclose(seg, [np.log(3.0), 0.0], rtol=1e-6)
    obj = losses.objectness_loss(tf.zeros([2, 2, 2, 1]), mask, tf.constant([1.0, 0.0])).numpy()
    np.testing.assert_allclose(obj, [np.log(2.0), 0.0], rtol=1e-6)


@pytest.mark.parametrize("variant", ["tsss", "full"])
def test_steps_run_under_mixed_bfloat16(variant):
    """bfloat16 compute (a CPU with AVX512_BF16, or a GPU): losses stay float32 and finite and
    the float32 weights are updated."""
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        strategy = one_cpu_strategy()
        t = PNetTrainer(_cfg(), NUM_CLASSES, strategy, variant)
        before = _weights(t.gen)
        metrics = _run_one_step(strategy, t, _batch())
        lnet = LNetTrainer(_cfg(), NUM_CLASSES - 1, 1, strategy)
        lnet_metrics = _run_one_step(strategy, lnet, _batch())
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert all(np.isfinite(v) for v in {**metrics, **lnet_metrics}.values())
    assert t.gen.trainable_variables[0].dtype == tf.float32
    assert sum(not np.allclose(a, b) for a, b in zip(before, _weights(t.gen))) > 0
