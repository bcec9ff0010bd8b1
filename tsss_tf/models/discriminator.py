"""The fully convolutional (PatchGAN-like) discriminator D of P-Net's adversarial training."""

import keras
import tensorflow as tf

from tsss_tf.models.layers import base_config, maybe_build, track_by_name


@keras.saving.register_keras_serializable(package="tsss_tf")
class Discriminator(keras.Model):
    """Scores (image, label map) pairs per patch: real (a true mask) or fake (a prediction).

    `call(inputs, training=False)` takes `inputs = (images, label_maps)`: images float32 RGB in
    [0, 255] [B, H, W, 3] and label_maps [B, H, W, num_classes] (one-hot of a true mask, or the
    softmax of a prediction). It returns real/fake logits [B, ceil(H/8), ceil(W/8), 1].

    Layout: three 3x3 stride-2 convs (width/2, width, 2*width channels) with LeakyReLU(0.2), then a
    3x3 conv to one logit. No normalisation (nothing replica- or batch-dependent).

    Args:
        num_classes: channels of the label maps (background included).
        use_image: False gives the "map only" variant, which ignores the images.
        width: base width.
        input_noise: standard deviation of Gaussian noise added to the label maps in training
            only (0 = off). A one-hot map is trivially told from a softmax by its peakiness (a
            known issue of adversarial segmentation); noise blurs that cue. Keep D small either way.

    Example:
    >>> import numpy as np
    >>> d = Discriminator(4, width=8)
    >>> images, maps = np.zeros((2, 50, 70, 3), "float32"), np.zeros((2, 50, 70, 4), "float32")
    >>> d((images, maps)).shape
    TensorShape([2, 7, 9, 1])
    """

    def __init__(self, num_classes, use_image=True, width=64, input_noise=0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_classes, self.use_image = int(num_classes), bool(use_image)
        self.width, self.input_noise = int(width), float(input_noise)
        channels = (max(1, self.width // 2), self.width, 2 * self.width)
        self.convs = [keras.layers.Conv2D(c, 3, strides=2, padding="same",
                                          kernel_initializer="he_normal", name=f"conv{i}")
                      for i, c in enumerate(channels)]
        track_by_name(self, self.convs)
        self.act = keras.layers.LeakyReLU(negative_slope=0.2, name="leaky_relu")
        self.out = keras.layers.Conv2D(1, 3, padding="same", name="logits")
        self.noise = (keras.layers.GaussianNoise(self.input_noise, name="input_noise")
                      if self.input_noise > 0 else None)

    def build(self, input_shape):
        images_shape, maps_shape = input_shape
        channels = maps_shape[-1] + (images_shape[-1] if self.use_image else 0)
        shape = tuple(maps_shape[:-1]) + (channels,)
        for conv in self.convs:
            maybe_build(conv, shape)
            shape = tuple(conv.compute_output_shape(shape))
        maybe_build(self.out, shape)
        self.built = True

    def call(self, inputs, training=False):
        images, label_maps = inputs
        x = tf.cast(label_maps, tf.float32)
        if self.noise is not None:
            x = self.noise(x, training=training)
        if self.use_image:
            x = tf.concat([tf.cast(images, tf.float32) / 127.5 - 1.0, x], axis=-1)
        for conv in self.convs:
            x = self.act(conv(x))
        return self.out(x)

    def get_config(self):
        return {**base_config(self), "num_classes": self.num_classes,
                "use_image": self.use_image, "width": self.width,
                "input_noise": self.input_noise}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
