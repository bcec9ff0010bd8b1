"""L-Net, the label transfer network: one backbone, an objectness head and a CAM head."""

import keras
import tensorflow as tf

from tsss_tf.models.backbone_model import BackboneModel
from tsss_tf.models.layers import ConvNormAct, maybe_build, resize_to

POOLINGS = ("gap", "lse")


def pool_cams(cams, pooling="lse", lse_r=5.0):
    """Multi-label logits [B, K] pooled over the spatial axes of cams [B, h, w, K].

    "gap": global average. "lse": log-sum-exp, (1/r) log(mean(exp(r x))), computed stably as
    (logsumexp(r x) - log(h w)) / r; it goes from the mean (r -> 0) to the max (r -> inf).
    """
    if pooling == "gap":
        return tf.reduce_mean(cams, axis=[1, 2])
    if pooling == "lse":
        shape = tf.shape(cams)
        log_n = tf.math.log(tf.cast(shape[1] * shape[2], cams.dtype))
        return (tf.reduce_logsumexp(lse_r * cams, axis=[1, 2]) - log_n) / lse_r
    raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")


@keras.saving.register_keras_serializable(package="tsss_tf")
class LNet(BackboneModel):
    """Label transfer network.

    A shared backbone with two heads:
    - objectness: 3x3 ConvNormAct + 1x1 conv to one foreground logit per pixel, bilinearly upsampled
      to the input size (class-agnostic, trained on strong images);
    - classification: a 1x1 conv of the features to one class activation map (CAM) per category
      (background excluded), pooled ("gap" or "lse") to multi-label logits.

    `call(images, training=False)` takes float32 RGB in [0, 255] of shape [B, H, W, 3] and returns
    a dict: "objectness_logits" [B, H, W, 1], "cams" [B, h, w, K], "class_logits" [B, K] and
    "features" [B, h, w, C], with h = ceil(H / s), w = ceil(W / s), s the backbone output stride.

    Args:
        num_categories: K, the number of categories (background not counted).
        backbone: a registered backbone name, or a backbone layer (see `BackboneModel`).
        backbone_kwargs: kwargs of the named backbone.
        pooling: "lse" or "gap".
        lse_r: r of the log-sum-exp pooling.
        objectness_width: channels of the objectness head's hidden conv.

    Example:
    >>> import numpy as np
    >>> lnet = LNet(3, backbone_kwargs={"width": 8})
    >>> out = lnet(np.zeros((2, 50, 70, 3), "float32"))
    >>> [tuple(out[k].shape) for k in ("objectness_logits", "cams", "class_logits", "features")]
    [(2, 50, 70, 1), (2, 7, 9, 3), (2, 3), (2, 7, 9, 16)]
    """

    def __init__(self, num_categories, backbone="simple", backbone_kwargs=None, pooling="lse",
                 lse_r=5.0, objectness_width=64, **kwargs):
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if not lse_r > 0:
            raise ValueError(f"lse_r must be > 0, got {lse_r}")
        super().__init__(backbone, backbone_kwargs, **kwargs)
        self.num_categories, self.pooling, self.lse_r = int(num_categories), pooling, float(lse_r)
        self.objectness_width = int(objectness_width)
        self.objectness_hidden = ConvNormAct(self.objectness_width, 3, norm=self.backbone_norm,
                                             name="objectness_hidden")
        self.objectness_out = keras.layers.Conv2D(1, 1, name="objectness_out")
        self.cam_conv = keras.layers.Conv2D(self.num_categories, 1, name="cam_conv")

    def build(self, input_shape):
        features_shape = self.build_backbone_for(input_shape)
        maybe_build(self.objectness_hidden, features_shape)
        maybe_build(self.objectness_out, features_shape[:-1] + (self.objectness_width,))
        maybe_build(self.cam_conv, features_shape)
        self.built = True

    def call(self, images, training=False):
        features = self.backbone(images, training=training)
        objectness = self.objectness_out(self.objectness_hidden(features))
        cams = self.cam_conv(features)
        f32 = (lambda t: tf.cast(t, tf.float32))  # float32 under a mixed precision policy too
        cams = f32(cams)
        return {
            "objectness_logits": f32(resize_to(objectness, images)),
            "cams": cams,
            "class_logits": pool_cams(cams, self.pooling, self.lse_r),
            "features": f32(features),
        }

    def get_config(self):
        return {**super().get_config(), "num_categories": self.num_categories,
                "pooling": self.pooling, "lse_r": self.lse_r,
                "objectness_width": self.objectness_width}
