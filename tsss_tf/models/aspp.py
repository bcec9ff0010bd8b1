"""`ASPP`, the atrous spatial pyramid pooling context module of DeepLab v3."""

import keras
import tensorflow as tf

from tsss_tf.models.layers import ConvNormAct, maybe_build


@keras.saving.register_keras_serializable(package="tsss_tf")
class ASPP(keras.layers.Layer):
    """Atrous spatial pyramid pooling (Chen et al., DeepLab v3): a 1x1 branch, one dilated 3x3
    branch per rate and an image-pooling branch, concatenated and projected by a 1x1 conv to
    `width` channels. The heads (`ASPPHead`, `DeepLabV3PlusHead`) classify its output.

    The rates are in cells of the feature map: DeepLab's (6, 12, 18) are for output stride 16 on
    513 px crops (33 cells); on 240-320 px crops at stride 16 (15-20 cells) a third of those
    covers the same share of the image.

    Args:
        width: channels of every branch and of the output.
        rates: dilation rates of the 3x3 branches.
        norm: normalisation of the branches ("batch", "group", "layer" or "none"); the pooled
            branch has none (a GroupNorm over one cell is degenerate).
        groups: GroupNorm groups.

    Example:
    >>> import numpy as np
    >>> aspp = ASPP(width=16, rates=(2, 4))
    >>> aspp(np.zeros((1, 6, 6, 8), "float32")).shape
    TensorShape([1, 6, 6, 16])
    """

    def __init__(self, width=128, rates=(2, 4, 6), norm="group", groups=8, **kwargs):
        super().__init__(**kwargs)
        self.width, self.rates = int(width), tuple(int(r) for r in rates)
        self.norm, self.groups = norm, int(groups)
        self.branch_1x1 = ConvNormAct(self.width, 1, norm=norm, groups=groups, name="branch_1x1")
        self.branches = [ConvNormAct(self.width, 3, dilation_rate=r, norm=norm, groups=groups,
                                     name=f"branch_rate{r}") for r in self.rates]
        for r, branch in zip(self.rates, self.branches):
            # tf.train.Checkpoint does not follow a Keras 3 list of layers (keras#18398).
            setattr(self, f"branch_rate{r}", branch)
        self.branch_pool = ConvNormAct(self.width, 1, norm="none", name="branch_pool")
        self.project = ConvNormAct(self.width, 1, norm=norm, groups=groups, name="project")

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        for branch in [self.branch_1x1] + self.branches:
            maybe_build(branch, input_shape)
        maybe_build(self.branch_pool, (input_shape[0], 1, 1, input_shape[-1]))
        maybe_build(self.project, input_shape[:-1] + (self.width * (len(self.branches) + 2),))
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.width,)

    def call(self, x, training=False):
        pooled = self.branch_pool(tf.reduce_mean(x, axis=[1, 2], keepdims=True))
        pooled = tf.broadcast_to(pooled, tf.concat([tf.shape(x)[:3], [self.width]], 0))
        outs = [self.branch_1x1(x)] + [b(x) for b in self.branches] + [pooled]
        return self.project(tf.concat(outs, axis=-1))

    def get_config(self):
        config = super().get_config()
        config.update(width=self.width, rates=list(self.rates), norm=self.norm,
                      groups=self.groups)
        return config
