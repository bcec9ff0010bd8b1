import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import two_cpu_strategy
from tests.models.harness import run_layer_test
from tsss_tf.models import PNet

TINY = {"width": 8, "stage3_blocks": 1}


def _images(b, h, w, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, size=(b, h, w, 3)).astype("float32")


@pytest.mark.parametrize("head", ["largefov", "aspp", "deeplabv3plus"])
def test_pnet_layer_test(head):
    run_layer_test(PNet, {"num_classes": 4, "backbone_kwargs": TINY, "head": head,
                          "head_width": 8, "head_kwargs": {"dropout": 0.5}},
                   _images(2, 48, 40), (2, 48, 40, 4))


def test_pnet_exact_output_size_for_odd_input():
    pnet = PNet(3, backbone_kwargs={**TINY, "output_stride": 16}, head_width=8)
    assert tuple(pnet(_images(1, 203, 317)).shape) == (1, 203, 317, 3)
    assert tuple(pnet(_images(1, 17, 9)).shape) == (1, 17, 9, 3)


def test_pnet_all_variables_get_gradients():
    pnet = PNet(4, backbone_kwargs=TINY, head="aspp", head_width=8)
    images = _images(2, 32, 32)
    labels = np.random.default_rng(0).integers(0, 4, size=(2, 32, 32))
    pnet(images)
    with tf.GradientTape() as tape:
        logits = pnet(images, training=True)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
    grads = tape.gradient(loss, pnet.trainable_variables)
    assert len(grads) == len(pnet.trainable_variables) > 0
    missing = [v.path for v, g in zip(pnet.trainable_variables, grads) if g is None]
    assert not missing, missing
    assert all(np.all(np.isfinite(g.numpy())) for g in grads)


def test_pnet_dropout_only_in_training():
    pnet = PNet(3, backbone_kwargs=TINY, head_width=8, head_kwargs={"dropout": 0.5})
    images = _images(1, 24, 24)
    np.testing.assert_array_equal(pnet(images).numpy(), pnet(images, training=False).numpy())
    assert not np.allclose(pnet(images).numpy(), pnet(images, training=True).numpy())


def test_pnet_replicas_match_single_device():
    strategy = two_cpu_strategy()
    with strategy.scope():
        pnet = PNet(3, backbone_kwargs=TINY, head_width=8)
        pnet.build((None, None, None, 3))
        n_weights = len(pnet.weights)
    images = _images(4, 24, 24)
    single = pnet(images).numpy()
    assert len(pnet.weights) == n_weights  # build() created every variable
    dist = strategy.experimental_distribute_values_from_function(
        lambda ctx: images[2 * ctx.replica_id_in_sync_group:2 * ctx.replica_id_in_sync_group + 2])
    per_replica = strategy.run(tf.function(lambda x: pnet(x)), args=(dist,))
    got = np.concatenate([t.numpy() for t in strategy.experimental_local_results(per_replica)])
    np.testing.assert_allclose(got, single, atol=1e-4)


def test_pnet_traces_with_unknown_height_and_width():
    pnet = PNet(3, backbone_kwargs=TINY, head_width=8)
    serve = tf.function(lambda x: pnet(x), input_signature=[tf.TensorSpec([None, None, None, 3])])
    assert tuple(serve(_images(1, 203, 317)).shape) == (1, 203, 317, 3)
    assert tuple(serve(_images(2, 31, 20)).shape) == (2, 31, 20, 3)


@pytest.mark.parametrize("backbone,kwargs", [
    ("simple", TINY), ("efficientnet_lite0", {"output_stride": 16}),
    ("vgg16", {"output_stride": 16})])
def test_deeplabv3plus_pnet_reads_the_stride4_feature(backbone, kwargs):
    pnet = PNet(3, backbone=backbone, backbone_kwargs=kwargs, head="deeplabv3plus",
                head_width=8, head_kwargs={"low_level_width": 4})
    images = _images(1, 37, 53)
    low, features = pnet.backbone(images, return_low_level=True)
    assert tuple(low.shape) == (1, 10, 14, pnet.backbone.low_level_channels)
    assert tuple(low.shape) == pnet.backbone.low_level_shape((1, 37, 53, 3))
    assert tuple(features.shape) == tuple(pnet.backbone.compute_output_shape((1, 37, 53, 3)))
    out = pnet(images)
    assert tuple(out.shape) == (1, 37, 53, 3) and out.dtype == tf.float32


def test_pnet_outputs_float32_under_mixed_precision():
    from tsss_tf.training.precision import dtype_policy
    with dtype_policy("mixed_bfloat16"):
        pnet = PNet(3, backbone_kwargs=TINY, head="deeplabv3plus", head_width=8)
    out = pnet(_images(2, 32, 32))
    assert pnet.backbone.compute_dtype == "bfloat16" and out.dtype == tf.float32
    assert all(v.dtype == "float32" for v in pnet.weights)  # float32 master weights
