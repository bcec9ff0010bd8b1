"""The inverted residual (MBConv) block of EfficientNet-Lite: no squeeze-excitation, ReLU6."""

import keras

from tsss_tf.models.layers import maybe_build

BN_EPSILON = 1e-3  # EfficientNet's batch_norm_epsilon (TF reference and lukemelas PyTorch port)
BN_MOMENTUM = 0.99  # Keras convention; PyTorch momentum 0.01


def batch_norm(name, freeze):
    """A BatchNormalization with EfficientNet's epsilon, synchronized across replicas (see
    docs/tensorflow_notes.md); `freeze`: moving statistics always and gamma / beta not trainable."""
    bn = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM,
                                         synchronized=True, name=name)
    if freeze:
        bn.trainable = False
    return bn


@keras.saving.register_keras_serializable(package="tsss_tf")
class MBConvBlock(keras.layers.Layer):
    """EfficientNet-Lite inverted residual block.

    1x1 expansion conv + BN + ReLU6 (left out when `expand_ratio` is 1), k x k depthwise conv
    ("same" padding, strided or dilated) + BN + ReLU6, 1x1 projection conv + BN, and the identity
    shortcut when the stride is 1 and `input_filters == filters` (no stochastic depth). Convs have
    no bias; BatchNormalization uses epsilon 1e-3 and, in training, the statistics of the global
    batch (`synchronized=True`) unless `freeze_bn`.

    Args:
        input_filters: channels of the input.
        filters: channels of the output.
        kernel_size: depthwise kernel size.
        strides: depthwise stride (1 or 2).
        expand_ratio: expansion factor of the hidden channels.
        dilation_rate: depthwise dilation (only with strides=1).
        freeze_bn: BatchNormalization always uses its moving statistics and its gamma / beta are
            not trainable (the usual choice when fine-tuning with small batches).

    Example:
    >>> import numpy as np
    >>> block = MBConvBlock(16, 24, kernel_size=3, strides=2, expand_ratio=6)
    >>> block(np.zeros((2, 9, 9, 16), "float32")).shape
    TensorShape([2, 5, 5, 24])
    """

    def __init__(self, input_filters, filters, kernel_size=3, strides=1, expand_ratio=6,
                 dilation_rate=1, freeze_bn=True, **kwargs):
        super().__init__(**kwargs)
        self.input_filters, self.filters = int(input_filters), int(filters)
        self.kernel_size, self.strides = int(kernel_size), int(strides)
        self.expand_ratio, self.dilation_rate = int(expand_ratio), int(dilation_rate)
        self.freeze_bn = bool(freeze_bn)
        if self.strides not in (1, 2):
            raise ValueError(f"tsss_tf/models/backbones/mbconv.py: strides must be 1 or 2, got "
                             f"{strides}")
        if self.strides > 1 and self.dilation_rate > 1:
            raise ValueError("tsss_tf/models/backbones/mbconv.py: a block is either strided or "
                             f"dilated, got strides={strides}, dilation_rate={dilation_rate}")
        hidden = self.input_filters * self.expand_ratio
        self.expand_conv = self.expand_bn = None
        if self.expand_ratio != 1:
            self.expand_conv = keras.layers.Conv2D(hidden, 1, use_bias=False, name="expand_conv")
            self.expand_bn = batch_norm("expand_bn", self.freeze_bn)
        self.depthwise_conv = keras.layers.DepthwiseConv2D(
            self.kernel_size, strides=self.strides, dilation_rate=self.dilation_rate,
            padding="same", use_bias=False, name="depthwise_conv")
        self.depthwise_bn = batch_norm("depthwise_bn", self.freeze_bn)
        self.project_conv = keras.layers.Conv2D(self.filters, 1, use_bias=False,
                                                name="project_conv")
        self.project_bn = batch_norm("project_bn", self.freeze_bn)
        self.use_skip = self.strides == 1 and self.input_filters == self.filters

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if input_shape[-1] is not None and input_shape[-1] != self.input_filters:
            raise ValueError(f"tsss_tf/models/backbones/mbconv.py: block {self.name} expects "
                             f"{self.input_filters} input channels, got {input_shape[-1]}")
        hidden_shape = input_shape[:-1] + (self.input_filters * self.expand_ratio,)
        if self.expand_conv is not None:
            maybe_build(self.expand_conv, input_shape)
            maybe_build(self.expand_bn, hidden_shape)
        maybe_build(self.depthwise_conv, hidden_shape)
        out_shape = self.depthwise_conv.compute_output_shape(hidden_shape)
        maybe_build(self.depthwise_bn, out_shape)
        maybe_build(self.project_conv, out_shape)
        maybe_build(self.project_bn, tuple(out_shape[:-1]) + (self.filters,))
        self.built = True

    def compute_output_shape(self, input_shape):
        shape = self.depthwise_conv.compute_output_shape(tuple(input_shape))
        return tuple(shape[:-1]) + (self.filters,)

    def _bn(self, layer, x, training):
        return layer(x, training=bool(training) and not self.freeze_bn)

    def call(self, x, training=False):
        y = x
        if self.expand_conv is not None:
            y = keras.ops.relu6(self._bn(self.expand_bn, self.expand_conv(y), training))
        y = keras.ops.relu6(self._bn(self.depthwise_bn, self.depthwise_conv(y), training))
        y = self._bn(self.project_bn, self.project_conv(y), training)
        return x + y if self.use_skip else y

    def get_config(self):
        config = super().get_config()
        config.update(input_filters=self.input_filters, filters=self.filters,
                      kernel_size=self.kernel_size, strides=self.strides,
                      expand_ratio=self.expand_ratio, dilation_rate=self.dilation_rate,
                      freeze_bn=self.freeze_bn)
        return config
