"""P-Net, the segmentation network G: a backbone and a LargeFOV, ASPP or DeepLab v3+ head."""

import keras
import tensorflow as tf

from tsss_tf.models.aspp_head import ASPPHead
from tsss_tf.models.backbone_model import BackboneModel
from tsss_tf.models.deeplab_head import DeepLabV3PlusHead
from tsss_tf.models.layers import LargeFOVHead, maybe_build, resize_to

HEADS = {"largefov": LargeFOVHead, "aspp": ASPPHead, "deeplabv3plus": DeepLabV3PlusHead}
DECODER_HEADS = ("deeplabv3plus",)  # heads that also read the backbone's stride-4 feature


@keras.saving.register_keras_serializable(package="tsss_tf")
class PNet(BackboneModel):
    """Segmentation network over all categories plus background (class 0).

    `call(images, training=False)` takes float32 RGB in [0, 255] of shape [B, H, W, 3], any H and
    W, and returns float32 logits [B, H, W, num_classes] (also under a mixed precision policy),
    bilinearly upsampled from the head's stride to exactly the input size.

    Args:
        num_classes: number of classes, background included.
        backbone: a registered backbone name, or a backbone layer (see `BackboneModel`).
        backbone_kwargs: kwargs of the named backbone.
        head: "largefov" (`LargeFOVHead`, default dilation 4, sized for ~100-300 px inputs at
            stride 8; DeepLab-LargeFOV used 12 on 321 px crops), "aspp" (`ASPPHead`) or
            "deeplabv3plus" (`DeepLabV3PlusHead`: ASPP and a decoder over the backbone's
            stride-4 feature; logits at stride 4).
        head_width: channels of the head.
        head_kwargs: more kwargs of the head (e.g. dilation_rate, rates, dropout).

    Example:
    >>> import numpy as np
    >>> pnet = PNet(4, backbone_kwargs={"width": 8}, head_width=16)
    >>> pnet(np.zeros((1, 203, 317, 3), "float32")).shape
    TensorShape([1, 203, 317, 4])
    """

    def __init__(self, num_classes, backbone="simple", backbone_kwargs=None, head="largefov",
                 head_width=128, head_kwargs=None, **kwargs):
        if head not in HEADS:
            raise ValueError(f"head must be one of {sorted(HEADS)}, got {head!r}")
        super().__init__(backbone, backbone_kwargs, **kwargs)
        self.num_classes, self.head_name, self.head_width = int(num_classes), head, int(head_width)
        self.head_kwargs = dict(head_kwargs or {})
        self.head = HEADS[head](self.num_classes, width=self.head_width, name="head",
                                **{"norm": self.backbone_norm, **self.head_kwargs})

    def build(self, input_shape):
        features_shape = self.build_backbone_for(input_shape)
        if self.head_name in DECODER_HEADS:
            if not self.head.built:
                self.head.build(features_shape, self.backbone.low_level_shape(input_shape))
        else:
            maybe_build(self.head, features_shape)
        self.built = True

    def call(self, images, training=False):
        if self.head_name in DECODER_HEADS:
            low_level, features = self.backbone(images, training=training, return_low_level=True)
            logits = self.head(features, low_level, training=training)
        else:
            logits = self.head(self.backbone(images, training=training), training=training)
        return tf.cast(resize_to(logits, images), tf.float32)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "head": self.head_name, "head_width": self.head_width,
                "head_kwargs": self.head_kwargs}
