"""`DeepLabV3PlusHead`: ASPP on the backbone's output and a decoder that fuses a stride-4
feature (DeepLab v3+)."""

import keras
import tensorflow as tf

from tsss_tf.models.aspp import ASPP
from tsss_tf.models.layers import ConvNormAct, build_chain, maybe_build


@keras.saving.register_keras_serializable(package="tsss_tf")
class DeepLabV3PlusHead(keras.layers.Layer):
    """The DeepLab v3+ head (Chen et al., ECCV 2018): `ASPP` on the backbone's output (stride 8
    or 16), upsampled bilinearly to the backbone's stride-4 feature, concatenated with a 1x1
    projection of that feature to `low_level_width` channels (48 in the paper: few, so the
    context dominates), two 3x3 convs (depthwise-separable, as in the paper, with `separable`:
    at stride 4 they are the largest maps of the model), dropout and a 1x1 classifier. The logits come out at
    stride 4, which is what draws thin and small objects (poles, signs, people) that a stride-16
    head loses.

    `call(features, low_level, training=False)`: features [B, h, w, C], low_level
    [B, H4, W4, C4]; returns logits [B, H4, W4, num_outputs].

    Args:
        num_outputs: classes.
        width: channels of the ASPP and of the decoder convs.
        rates: the ASPP's dilation rates (see `ASPP`).
        low_level_width: channels of the projected stride-4 feature.
        dropout: dropout before the classifier.
        separable: depthwise-separable 3x3 convs in the decoder.
        norm: normalisation of the convs ("batch", "group", "layer" or "none").
        groups: GroupNorm groups.

    Example:
    >>> import numpy as np
    >>> head = DeepLabV3PlusHead(5, width=16, rates=(2,), low_level_width=8)
    >>> head(np.zeros((1, 4, 5, 32), "float32"), np.zeros((1, 16, 20, 12), "float32")).shape
    TensorShape([1, 16, 20, 5])
    """

    def __init__(self, num_outputs, width=128, rates=(2, 4, 6), low_level_width=48,
                 dropout=0.1, separable=True, norm="group", groups=8, **kwargs):
        super().__init__(**kwargs)
        self.num_outputs, self.width = int(num_outputs), int(width)
        self.rates, self.low_level_width = tuple(int(r) for r in rates), int(low_level_width)
        self.dropout, self.norm, self.groups = float(dropout), norm, int(groups)
        self.separable = bool(separable)
        common = dict(norm=norm, groups=groups)
        self.aspp = ASPP(self.width, self.rates, name="aspp", **common)
        self.low_level_project = ConvNormAct(self.low_level_width, 1, name="low_level_project",
                                             **common)
        self.fuse1 = ConvNormAct(self.width, 3, separable=self.separable, name="fuse1", **common)
        self.fuse2 = ConvNormAct(self.width, 3, separable=self.separable, name="fuse2", **common)
        self.drop = keras.layers.Dropout(self.dropout, name="dropout")
        self.classifier = keras.layers.Conv2D(self.num_outputs, 1, name="classifier")

    def build(self, features_shape, low_level_shape):
        maybe_build(self.aspp, features_shape)
        maybe_build(self.low_level_project, low_level_shape)
        fused = tuple(low_level_shape[:-1]) + (self.width + self.low_level_width,)
        shape = build_chain([self.fuse1, self.fuse2], fused)
        maybe_build(self.classifier, shape)
        self.built = True

    def compute_output_shape(self, features_shape, low_level_shape):
        return tuple(low_level_shape[:-1]) + (self.num_outputs,)

    def call(self, features, low_level, training=False):
        context = self.aspp(features, training=training)
        context = tf.image.resize(context, tf.shape(low_level)[1:3], method="bilinear")
        context = tf.cast(context, self.compute_dtype)
        x = tf.concat([context, self.low_level_project(low_level, training=training)], axis=-1)
        x = self.fuse2(self.fuse1(x, training=training), training=training)
        return self.classifier(self.drop(x, training=training))

    def get_config(self):
        config = super().get_config()
        config.update(num_outputs=self.num_outputs, width=self.width, rates=list(self.rates),
                      low_level_width=self.low_level_width, dropout=self.dropout,
                      separable=self.separable, norm=self.norm, groups=self.groups)
        return config
