"""`ASPPHead`: DeepLab v3's head, ASPP and a 1x1 classifier on the backbone's output."""

import keras

from tsss_tf.models.aspp import ASPP
from tsss_tf.models.layers import maybe_build


@keras.saving.register_keras_serializable(package="tsss_tf")
class ASPPHead(ASPP):
    """`ASPP` on the backbone's features, dropout, 1x1 classifier (DeepLab v3, no decoder).

    A subclass of `ASPP` rather than a wrapper of one, so that its variables keep the
    checkpoint keys of the P-Nets trained with it (head/branch_1x1/..., head/classifier/...).

    Example:
    >>> import numpy as np
    >>> head = ASPPHead(5, width=16, rates=(2, 4))
    >>> head(np.zeros((1, 6, 6, 8), "float32")).shape
    TensorShape([1, 6, 6, 5])
    """

    def __init__(self, num_outputs, width=128, rates=(2, 4, 6), dropout=0.1, norm="group",
                 groups=8, **kwargs):
        super().__init__(width=width, rates=rates, norm=norm, groups=groups, **kwargs)
        self.num_outputs, self.dropout = int(num_outputs), float(dropout)
        self.drop = keras.layers.Dropout(self.dropout, name="dropout")
        self.classifier = keras.layers.Conv2D(self.num_outputs, 1, name="classifier")

    def build(self, input_shape):
        super().build(input_shape)
        maybe_build(self.classifier, tuple(input_shape[:-1]) + (self.width,))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.num_outputs,)

    def call(self, x, training=False):
        context = super().call(x, training=training)
        return self.classifier(self.drop(context, training=training))

    def get_config(self):
        config = super().get_config()
        config.update(num_outputs=self.num_outputs, dropout=self.dropout)
        return config
