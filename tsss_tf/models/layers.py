"""Shared building blocks of the tsss_tf models.

Every block is a serializable Keras 3 layer. Normalisation is "batch" (a BatchNormalization
with `synchronized=True`: in training it uses the statistics of the global batch across the
replicas of a `tf.distribute.MirroredStrategy`, so 1 and N replicas make the same update),
"group" / "layer" (`keras.layers.GroupNormalization`: no batch statistics) or none.

Measured on the embedded set (session 3): with GroupNorm the CAM classifier of L-Net did not
learn image-level tags at all in 400 steps (val recall 0), with BatchNorm the same network did;
"batch" is the default of the configs.
"""

import math

import keras
import tensorflow as tf

_PACKAGE = "tsss_tf"
NORMS = ("batch", "group", "layer", "none")
BN_MOMENTUM = 0.9  # short schedules (hundreds of steps): moving statistics must settle fast


def make_norm(norm, channels, groups=8, name=None, dtype=None):
    """A normalisation layer for `channels` channels: "batch", "group", "layer" or "none"
    (returns None).

    For "group" the number of groups is the largest divisor of `channels` not above `groups`.
    """
    if norm == "batch":
        return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=1e-5,
                                               synchronized=True, name=name, dtype=dtype)
    if norm == "group":
        return keras.layers.GroupNormalization(groups=math.gcd(int(groups), int(channels)),
                                               epsilon=1e-5, name=name, dtype=dtype)
    if norm == "layer":  # one group = LayerNorm over (H, W, C), as in GroupNorm(groups=1)
        return keras.layers.GroupNormalization(groups=1, epsilon=1e-5, name=name, dtype=dtype)
    if norm == "none":
        return None
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


def base_config(model):
    """The base config entries (name, trainable, dtype policy) of a subclassed model."""
    return {"name": model.name, "trainable": model.trainable,
            "dtype": keras.dtype_policies.serialize(model.dtype_policy)}


def maybe_build(layer, input_shape):
    """Builds `layer` for `input_shape` unless it is already built (e.g. a deserialized child)."""
    if not layer.built:
        layer.build(tuple(input_shape))


def track_by_name(owner, layers):
    """Makes each of `layers` an attribute of `owner` under its own name as well (for a list of
    layers kept in `owner`): tf.train.Checkpoint does not follow a Keras 3 list of layers
    (keras-team/keras#18398), so checkpoints would silently lack them. The attribute names are
    the checkpoint keys: keep the layer names stable."""
    for layer in layers:
        setattr(owner, layer.name, layer)


def build_chain(layers, input_shape):
    """Builds `layers` applied one after the other; returns the output shape of the last."""
    shape = tuple(input_shape)
    for layer in layers:
        maybe_build(layer, shape)
        shape = tuple(layer.compute_output_shape(shape))
    return shape


def resize_to(x, like):
    """Bilinear resize of `x` [B,h,w,C] to the exact height and width of `like` [B,H,W,...]."""
    size = tf.shape(like)[1:3]
    return tf.image.resize(x, size, method="bilinear")


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ConvNormAct(keras.layers.Layer):
    """Convolution ("same" padding), optional normalisation, optional activation.

    With `separable=True` (and a kernel over 1) the convolution is depthwise-separable
    (`keras.layers.SeparableConv2D`: a depthwise k x k, then a 1x1), as in DeepLab v3+'s decoder:
    about k^2 times fewer multiply-adds for wide layers.

    A strided 1x1 convolution is computed as a subsample (`x[:, ::s, ::s]`) followed by a
    stride-1 convolution with the same kernel: the same function and the same variables, but
    TF 2.21's oneDNN filter gradient of a strided 1x1 convolution crashes the process (double
    free / segfault) at some shapes, e.g. [16, 80, 80, 12] -> 24 channels
    (tests/models/test_layers.py::test_strided_pointwise_conv_gradient_runs).

    Example:
    >>> import numpy as np
    >>> layer = ConvNormAct(8, kernel_size=3, strides=2)
    >>> layer(np.zeros((1, 9, 9, 3), "float32")).shape
    TensorShape([1, 5, 5, 8])
    """

    def __init__(self, filters, kernel_size=3, strides=1, dilation_rate=1, norm="group",
                 groups=8, activation="relu", separable=False, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.strides = int(filters), int(kernel_size), int(strides)
        self.dilation_rate, self.norm, self.groups = int(dilation_rate), norm, int(groups)
        self.activation, self.separable = activation, bool(separable)
        self._subsample = self.kernel_size == 1 and self.strides > 1
        # The sublayers take this layer's dtype policy (the global one when it was made; the
        # one it was given when it is made inside a `build`).
        common = dict(strides=1 if self._subsample else self.strides, padding="same",
                      dilation_rate=self.dilation_rate, use_bias=(norm == "none"), name="conv",
                      dtype=self.dtype_policy)
        if self.separable and self.kernel_size > 1:
            self.conv = keras.layers.SeparableConv2D(
                self.filters, self.kernel_size, pointwise_initializer="he_normal", **common)
        else:
            self.conv = keras.layers.Conv2D(self.filters, self.kernel_size,
                                            kernel_initializer="he_normal", **common)
        self.norm_layer = make_norm(norm, self.filters, self.groups, name="norm",
                                    dtype=self.dtype_policy)
        self.act = keras.layers.Activation(activation, name="act") if activation else None

    def build(self, input_shape):
        maybe_build(self.conv, input_shape)
        if self.norm_layer is not None:
            maybe_build(self.norm_layer, self.compute_output_shape(input_shape))
        self.built = True

    def compute_output_shape(self, input_shape):
        if self._subsample:
            s = self.strides
            input_shape = tuple(input_shape[:1]) + tuple(
                None if d is None else -(-d // s) for d in input_shape[1:3]) + tuple(
                input_shape[3:])
        return self.conv.compute_output_shape(input_shape)

    def call(self, x, training=False):
        if self._subsample:
            x = x[:, ::self.strides, ::self.strides, :]
        x = self.conv(x)
        if self.norm_layer is not None:
            # GroupNormalization returns float32 under a mixed policy; the next layer wants
            # the compute dtype (a no-op in float32)
            x = tf.cast(self.norm_layer(x), self.compute_dtype)
        if self.act is not None:
            x = self.act(x)
        return x

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, strides=self.strides,
                      dilation_rate=self.dilation_rate, norm=self.norm, groups=self.groups,
                      activation=self.activation, separable=self.separable)
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ResidualBlock(keras.layers.Layer):
    """Basic residual block: two 3x3 ConvNormAct (the second dilated and without activation),
    a 1x1 projection shortcut when the shape changes, ReLU after the sum.

    Example:
    >>> import numpy as np
    >>> block = ResidualBlock(16, strides=2)
    >>> block(np.zeros((2, 7, 7, 8), "float32")).shape
    TensorShape([2, 4, 4, 16])
    """

    def __init__(self, filters, strides=1, dilation_rate=1, norm="group", groups=8, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.strides = int(filters), int(strides)
        self.dilation_rate, self.norm, self.groups = int(dilation_rate), norm, int(groups)
        self.conv1 = ConvNormAct(self.filters, 3, strides=self.strides, norm=norm, groups=groups,
                                 name="conv1")
        self.conv2 = ConvNormAct(self.filters, 3, dilation_rate=self.dilation_rate, norm=norm,
                                 groups=groups, activation=None, name="conv2")
        self.shortcut = None

    def build(self, input_shape):
        if self.strides != 1 or input_shape[-1] != self.filters:
            # made here, so it takes this block's dtype policy, not the global one of now
            self.shortcut = ConvNormAct(self.filters, 1, strides=self.strides, norm=self.norm,
                                        groups=self.groups, activation=None, name="shortcut",
                                        dtype=self.dtype_policy)
            maybe_build(self.shortcut, input_shape)
        build_chain([self.conv1, self.conv2], input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        return self.conv1.compute_output_shape(input_shape)

    def call(self, x, training=False):
        skip = x if self.shortcut is None else self.shortcut(x)
        y = self.conv2(self.conv1(x))
        return tf.nn.relu(y + skip)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, strides=self.strides,
                      dilation_rate=self.dilation_rate, norm=self.norm, groups=self.groups)
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class LargeFOVHead(keras.layers.Layer):
    """DeepLab-LargeFOV head: 3x3 conv with a large dilation, 1x1 conv, dropout, 1x1 classifier.

    The default dilation 4 suits ~100-300 px inputs at output stride 8 (DeepLab-LargeFOV used 12
    on 321 px crops).

    Example:
    >>> import numpy as np
    >>> head = LargeFOVHead(5, width=16, dilation_rate=4)
    >>> head(np.zeros((1, 6, 6, 8), "float32")).shape
    TensorShape([1, 6, 6, 5])
    """

    def __init__(self, num_outputs, width=128, dilation_rate=4, dropout=0.1, norm="group",
                 groups=8, **kwargs):
        super().__init__(**kwargs)
        self.num_outputs, self.width = int(num_outputs), int(width)
        self.dilation_rate, self.dropout, self.norm, self.groups = (
            int(dilation_rate), float(dropout), norm, int(groups))
        self.fov = ConvNormAct(self.width, 3, dilation_rate=self.dilation_rate, norm=norm,
                               groups=groups, name="fov")
        self.mix = ConvNormAct(self.width, 1, norm=norm, groups=groups, name="mix")
        self.drop = keras.layers.Dropout(self.dropout, name="dropout")
        self.classifier = keras.layers.Conv2D(self.num_outputs, 1, name="classifier")

    def build(self, input_shape):
        shape = build_chain([self.fov, self.mix], input_shape)
        maybe_build(self.classifier, shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.num_outputs,)

    def call(self, x, training=False):
        x = self.mix(self.fov(x))
        return self.classifier(self.drop(x, training=training))

    def get_config(self):
        config = super().get_config()
        config.update(num_outputs=self.num_outputs, width=self.width,
                      dilation_rate=self.dilation_rate, dropout=self.dropout, norm=self.norm,
                      groups=self.groups)
        return config
