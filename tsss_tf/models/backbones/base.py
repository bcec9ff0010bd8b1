"""`Backbone`, the base class of the backbones."""

import keras


class Backbone(keras.layers.Layer):
    """A layer that maps images, float32 RGB in [0, 255] of shape [B, H, W, 3], to features
    [B, ceil(H / s), ceil(W / s), C]. It normalises its input itself.

    A subclass sets, in `__init__`, the attributes

    - `output_stride` (s, 8 or 16; 32 where a backbone allows it),
    - `output_channels` (C) and
    - `low_level_channels` (the channels of its stride-4 feature, for a decoder),

    and implements `build(input_shape)` (building every variable, so that
    `model.build((None, None, None, 3))` works, e.g. inside a `tf.distribute` strategy scope) and
    `call(images, training=False, return_low_level=False)`, which with `return_low_level`
    returns (stride-4 feature [B, ceil(H / 4), ceil(W / 4), low_level_channels], features).
    This class gives `compute_output_shape` and `low_level_shape` (the models build their heads
    from them) and a `get_config` with `output_stride` and `weights=None`, to which a subclass
    adds its own arguments.

    A pretrained backbone takes a `weights` argument (None for random initialisation; a path or
    a tag such as "imagenet" to load pretrained weights at construction). Its config reports
    `weights=None`: a saved `.keras` model carries the trained weights itself, and reloading it
    must not fetch or read the pretrained ones again.
    """

    def compute_output_shape(self, input_shape):
        s = self.output_stride
        ceil = (lambda n: None if n is None else -(-n // s))
        return (input_shape[0], ceil(input_shape[1]), ceil(input_shape[2]), self.output_channels)

    def low_level_shape(self, input_shape):
        """The shape of the stride-4 feature for images of `input_shape`."""
        ceil = (lambda n: None if n is None else -(-n // 4))
        return (input_shape[0], ceil(input_shape[1]), ceil(input_shape[2]),
                self.low_level_channels)

    def get_config(self):
        config = super().get_config()
        config.update(output_stride=self.output_stride, weights=None)
        return config
