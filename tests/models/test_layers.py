import keras
import numpy as np
import pytest

from tests.models.harness import run_layer_test
from tsss_tf.models import backbone_names, get_backbone, register_backbone
from tsss_tf.models.backbones import SimpleBackbone, build_backbone
from tsss_tf.models.aspp import ASPP
from tsss_tf.models.aspp_head import ASPPHead
from tsss_tf.models.deeplab_head import DeepLabV3PlusHead
from tsss_tf.models.layers import ConvNormAct, LargeFOVHead, ResidualBlock, make_norm


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _images(b, h, w, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, size=(b, h, w, 3)).astype("float32")


@pytest.mark.parametrize("norm", ["batch", "group", "layer", "none"])
def test_conv_norm_act(norm):
    run_layer_test(ConvNormAct, {"filters": 6, "strides": 2, "norm": norm, "groups": 4},
                   _x((2, 9, 7, 3)), (2, 5, 4, 6), run_saving=(norm == "group"))


def test_separable_conv_norm_act_is_depthwise_then_pointwise():
    layer = run_layer_test(ConvNormAct, {"filters": 6, "separable": True, "dilation_rate": 2},
                           _x((2, 9, 7, 4)), (2, 9, 7, 6))
    assert isinstance(layer.conv, keras.layers.SeparableConv2D)
    # 3x3 depthwise over 4 channels + 1x1 from 4 to 6 (no bias before a norm): 36 + 24 weights
    assert sum(int(np.prod(w.shape)) for w in layer.conv.weights) == 3 * 3 * 4 + 4 * 6
    # a 1x1 kernel has nothing to separate
    assert not isinstance(ConvNormAct(6, kernel_size=1, separable=True).conv,
                          keras.layers.SeparableConv2D)


def test_make_norm_groups_divide_channels():
    assert make_norm("group", 12, groups=8).groups == 4
    assert make_norm("none", 12) is None
    bn = make_norm("batch", 12)
    assert isinstance(bn, keras.layers.BatchNormalization)
    # Global-batch statistics under MirroredStrategy (docs/tensorflow_notes.md), fast-settling
    # moving statistics.
    assert bn.synchronized and bn.momentum == 0.9
    with pytest.raises(ValueError, match="norm must be one of"):
        make_norm("instance", 12)


def test_residual_block_projection_and_identity():
    run_layer_test(ResidualBlock, {"filters": 8, "strides": 2}, _x((2, 9, 9, 4)), (2, 5, 5, 8))
    block = run_layer_test(ResidualBlock, {"filters": 4, "dilation_rate": 2}, _x((1, 6, 6, 4)),
                           (1, 6, 6, 4), run_saving=False)
    assert block.shortcut is None


def test_largefov_head():
    run_layer_test(LargeFOVHead, {"num_outputs": 5, "width": 8, "dilation_rate": 2},
                   _x((2, 6, 5, 4)), (2, 6, 5, 5))


def test_aspp_head():
    run_layer_test(ASPPHead, {"num_outputs": 5, "width": 8, "rates": (1, 2)},
                   _x((2, 6, 5, 4)), (2, 6, 5, 5))


def test_aspp_context_module():
    aspp = run_layer_test(ASPP, {"width": 8, "rates": (1, 2, 3)}, _x((2, 6, 5, 4)),
                          (2, 6, 5, 8))
    # one branch per rate, tracked under its name (tf.train.Checkpoint reaches each)
    assert [b.name for b in aspp.branches] == ["branch_rate1", "branch_rate2", "branch_rate3"]
    assert aspp.branch_rate3 is aspp.branches[2]


@pytest.mark.parametrize("separable", [True, False])
def test_deeplabv3plus_head_fuses_the_stride4_feature(separable):
    low = _x((2, 12, 10, 6), seed=1)
    head = run_layer_test(
        DeepLabV3PlusHead, {"num_outputs": 5, "width": 8, "rates": (1, 2),
                            "low_level_width": 4, "separable": separable},
        _x((2, 3, 3, 16)), (2, 12, 10, 5), call_kwargs={"low_level": low}, run_saving=False)
    assert isinstance(head.fuse1.conv, keras.layers.SeparableConv2D) == separable
    # the logits depend on the stride-4 feature, not only on the context
    feats = _x((2, 3, 3, 16))
    a = head(feats, low_level=low).numpy()
    b = head(feats, low_level=_x((2, 12, 10, 6), seed=2)).numpy()
    assert np.abs(a - b).max() > 1e-4


@pytest.mark.parametrize("output_stride,h,w", [(8, 50, 70), (16, 33, 47)])
def test_simple_backbone(output_stride, h, w):
    backbone = run_layer_test(
        SimpleBackbone, {"width": 8, "output_stride": output_stride, "stage3_blocks": 2},
        _images(2, h, w), (2, -(-h // output_stride), -(-w // output_stride), 16))
    assert backbone.output_stride == output_stride and backbone.output_channels == 16


def test_simple_backbone_rejects_bad_args():
    with pytest.raises(ValueError):
        SimpleBackbone(output_stride=4)
    with pytest.raises(ValueError):
        SimpleBackbone(weights="imagenet")


def test_registry():
    assert "simple" in backbone_names()
    backbone = get_backbone("simple", width=4)
    assert isinstance(backbone, SimpleBackbone) and backbone.output_channels == 8
    assert build_backbone(backbone) is backbone
    with pytest.raises(ValueError, match="unknown backbone"):
        get_backbone("nope")
    with pytest.raises(ValueError, match="already registered"):
        register_backbone("simple")(type("Other", (), {}))


@pytest.mark.parametrize("h,w", [(9, 7), (8, 10)])
def test_strided_pointwise_conv_matches_strided_conv(h, w):
    """A strided 1x1 ConvNormAct is a subsample + stride-1 conv: the same function as
    tf.nn.conv2d with that stride and "same" padding, odd and even sizes."""
    import tensorflow as tf
    layer = ConvNormAct(5, kernel_size=1, strides=2, norm="none", activation=None)
    x = _x((2, h, w, 3))
    y = layer(x)
    expected = tf.nn.conv2d(x, layer.conv.kernel, 2, "SAME") + layer.conv.bias
    assert tuple(y.shape) == tuple(layer.compute_output_shape(x.shape)) == (2, -(-h // 2),
                                                                            -(-w // 2), 5)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_strided_pointwise_conv_gradient_runs():
    """TF 2.21's oneDNN Conv2DBackpropFilter of a strided 1x1 conv kills the process at this
    shape (the simple backbone's stage-1 shortcut at crop 160). ConvNormAct avoids that op;
    run in a child process so that a crash fails this test instead of killing pytest."""
    import subprocess
    import sys
    code = (
        "import numpy as np, tensorflow as tf\n"
        "from tsss_tf.models.layers import ConvNormAct\n"
        "layer = ConvNormAct(24, kernel_size=1, strides=2, norm='batch')\n"
        "x = tf.random.normal([16, 80, 80, 12])\n"
        "@tf.function\n"
        "def step():\n"
        "    with tf.GradientTape() as tape:\n"
        "        loss = tf.reduce_sum(tf.square(layer(x, training=True)))\n"
        "    return tape.gradient(loss, layer.trainable_variables)\n"
        "for _ in range(3):\n"
        "    grads = step()\n"
        "print('ok', all(bool(tf.reduce_all(tf.math.is_finite(g))) for g in grads))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("ok True"), proc.stdout
