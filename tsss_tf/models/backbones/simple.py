"""A small, CPU-friendly residual backbone (trained from scratch)."""

import keras
import tensorflow as tf

from tsss_tf.models.backbones.base import Backbone
from tsss_tf.models.backbones.registry import register_backbone
from tsss_tf.models.layers import ConvNormAct, ResidualBlock, build_chain, track_by_name

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


@register_backbone("simple")
@keras.saving.register_keras_serializable(package="tsss_tf")
class SimpleBackbone(Backbone):
    """Small residual CNN, output stride 8 (dilated last stage) or 16.

    Layout for width w (channels, stride):
    stem 3x3 conv + ReLU (w/2, /2, no norm) -> residual block (w, /4) -> residual block (2w, /8) ->
    `stage3_blocks` residual blocks with 2w channels, dilated 2, 4, ... to keep stride 8 with a
    large receptive field (output_stride=8), or the first one strided to /16 (output_stride=16).
    `output_channels` is 2w; the stride-4 feature (`return_low_level`) is stage1's, w channels. Input: float32 RGB in [0, 255], normalised here with the ImageNet
    mean and std. Spatial output size is ceil(H / s) x ceil(W / s) for any H, W.

    Args:
        width: base width w (even).
        output_stride: 8 or 16.
        stage3_blocks: residual blocks after stride 8 (at least 1).
        norm: "group", "layer" or "none" (see `tsss_tf.models.layers.make_norm`).
        groups: GroupNorm groups.
        weights: must be None (there are no pretrained weights for this backbone).

    Example:
    >>> import numpy as np
    >>> backbone = SimpleBackbone(width=8)
    >>> backbone(np.zeros((2, 50, 70, 3), "float32")).shape
    TensorShape([2, 7, 9, 16])
    """

    def __init__(self, width=32, output_stride=8, stage3_blocks=2, norm="group", groups=8,
                 weights=None, **kwargs):
        super().__init__(**kwargs)
        if output_stride not in (8, 16):
            raise ValueError(f"output_stride must be 8 or 16, got {output_stride}")
        if int(width) < 2 or int(width) % 2:
            raise ValueError(f"width must be an even integer >= 2, got {width}")
        if int(stage3_blocks) < 1:
            raise ValueError(f"stage3_blocks must be >= 1, got {stage3_blocks}")
        if weights is not None:
            raise ValueError("SimpleBackbone has no pretrained weights: weights must be None")
        self.width, self.output_stride = int(width), int(output_stride)
        self.stage3_blocks, self.norm, self.groups = int(stage3_blocks), norm, int(groups)
        self.output_channels, self.low_level_channels = 2 * self.width, self.width
        w = self.width
        common = dict(norm=norm, groups=self.groups)
        # No normalisation in the stem (the input is already standardised): GroupNorm on the
        # largest feature map cost ~10% of a P-Net training step for no measured benefit.
        self.stem = ConvNormAct(w // 2, 3, strides=2, norm="none", name="stem")
        self.stage1 = ResidualBlock(w, strides=2, name="stage1", **common)
        self.stage2 = ResidualBlock(2 * w, strides=2, name="stage2", **common)
        self.stage3 = []
        for i in range(self.stage3_blocks):
            if self.output_stride == 16:
                strides, dilation = (2, 1) if i == 0 else (1, 2 ** i)
            else:
                strides, dilation = 1, 2 ** (i + 1)
            self.stage3.append(ResidualBlock(2 * w, strides=strides, dilation_rate=dilation,
                                             name=f"stage3_{i}", **common))
        track_by_name(self, self.stage3)
        self._mean = tf.constant(IMAGENET_MEAN, tf.float32)
        self._inv_std = tf.constant([1.0 / s for s in IMAGENET_STD], tf.float32)

    def build(self, input_shape):
        build_chain([self.stem, self.stage1, self.stage2] + self.stage3, input_shape)
        self.built = True

    def call(self, images, training=False, return_low_level=False):
        x = (tf.cast(images, tf.float32) - self._mean) * self._inv_std
        x = tf.cast(x, self.compute_dtype)  # bfloat16 / float16 under mixed precision
        low_level = self.stage1(self.stem(x))
        x = self.stage2(low_level)
        for block in self.stage3:
            x = block(x)
        return (low_level, x) if return_low_level else x

    def get_config(self):
        config = super().get_config()
        config.update(width=self.width, stage3_blocks=self.stage3_blocks, norm=self.norm,
                      groups=self.groups)
        return config
