"""The `tf.Module` that is saved as the served P-Net.

TF Serving and `saved_model_cli run` load a SavedModel with the TF1 session loader, which cannot
find the variables of a Keras 3 model tracked through the model object ("Could not find
variable ...", keras #20095, serving #2250; see docs/tensorflow_notes.md). This module
therefore tracks the P-Net's underlying `tf.Variable`s itself (one copy of each weight) and
reaches the Keras model only through a closure, so the model object is not part of the saved
object graph.
"""

import tensorflow as tf

from tsss_tf.image_limits import DEFAULT_LIMITS, ImageLimits
from tsss_tf.serving import preprocess
from tsss_tf.serving.signatures import (BYTES, CLASS_MAP, IMAGE_SIZE, PROBABILITIES, SIGNATURES,
                                        TAGS, TENSOR)


class SegmenterModule(tf.Module):
    """P-Net with in-graph pre- and post-processing, and its class names as an asset.

    Args:
        model: a built P-Net (float32 RGB [B, H, W, 3] in [0, 255] -> logits at input size).
        num_classes: classes of the model, background included.
        num_background: 1 if class 0 is background, else 0.
        eval_size: the longer side an image is resized to before P-Net (the config's
            data.eval_size, as `python -m tsss_tf.evaluate` does).
        class_names_file: a text file, one class name per line in class-id order; saved as
            `assets/class_names.txt` of the SavedModel.
        image_limits: the largest encoded image accepted (tsss_tf.image_limits.ImageLimits),
            checked from its header before decoding; with its `resize` a larger JPEG is decoded
            at a reduced scale.

    `signatures()` gives the concrete functions to save (see `tsss_tf.serving.signatures`).
    """

    def __init__(self, model, num_classes: int, num_background: int, eval_size: int,
                 class_names_file: str, image_limits: ImageLimits = DEFAULT_LIMITS):
        super().__init__(name="tsss_pnet")
        self.num_classes, self.num_background = int(num_classes), int(num_background)
        self.eval_size = int(eval_size)
        self._image_limits = image_limits
        self.pnet_variables = [getattr(w, "value", w) for w in model.weights]
        self.class_names = tf.saved_model.Asset(class_names_file)
        size = self.eval_size
        # A closure, not an attribute: the Keras model must stay out of the object graph.
        self._logits = tf.function(lambda x: model(x, training=False), input_signature=[
            tf.TensorSpec([None, size, size, 3], tf.float32, name="padded_images")])

    # -- signature bodies ------------------------------------------------------------------
    def _allowed(self, tags, batch):
        if tags is None:
            return None
        tags = preprocess.checked_tags(tags, batch, self.num_classes)
        return preprocess.allowed_classes(tags, self.num_background)

    def from_bytes(self, image_bytes, tags=None, probabilities=True):
        image_bytes = preprocess.checked_bytes(image_bytes)
        padded, valid, original = preprocess.decode_and_pad(image_bytes, self.eval_size,
                                                            self._image_limits)
        logits = self._logits(padded)
        allowed = self._allowed(tags, tf.shape(image_bytes)[0])
        if allowed is None:
            allowed = tf.ones([tf.shape(logits)[0], self.num_classes], tf.bool)
        height, width = tf.reduce_max(original[:, 0]), tf.reduce_max(original[:, 1])

        def one(args):
            lg, v, o, a = args
            full = preprocess.crop_and_resize(lg, v, o)
            full = preprocess.restrict(full[None], a[None])[0]
            out = preprocess.outputs_from_logits(full, probabilities)
            return preprocess.pad_maps(out, height, width)

        spec = {CLASS_MAP: tf.TensorSpec([None, None], tf.int32)}
        if probabilities:
            spec[PROBABILITIES] = tf.TensorSpec([None, None, self.num_classes], tf.float32)
        out = tf.map_fn(one, (logits, valid, original, allowed), fn_output_signature=spec)
        out[IMAGE_SIZE] = original
        return out

    def from_tensor(self, images, tags=None, probabilities=True):
        with tf.control_dependencies(preprocess.check_images(images)):
            images = tf.identity(images)
        padded, valid = preprocess.resize_and_pad(images, self.eval_size)
        logits = self._logits(padded)[:, :valid[0], :valid[1]]
        full = tf.image.resize(logits, tf.shape(images)[1:3], method="bilinear")
        allowed = self._allowed(tags, tf.shape(images)[0])
        if allowed is not None:
            full = preprocess.restrict(full, allowed)
        return preprocess.outputs_from_logits(full, probabilities)

    # -- concrete functions ----------------------------------------------------------------
    def _spec(self, name):
        return {BYTES: tf.TensorSpec([None], tf.string, name=BYTES),
                TENSOR: tf.TensorSpec([None, None, None, 3], tf.uint8, name=TENSOR),
                TAGS: tf.TensorSpec([None, self.num_classes], tf.int32, name=TAGS)}[name]

    def _concrete(self, name):
        sig = SIGNATURES[name]
        body = self.from_bytes if BYTES in sig.inputs else self.from_tensor
        specs = [self._spec(n) for n in sig.inputs]
        if TAGS in sig.inputs:
            fn = tf.function(lambda x, tags: body(x, tags, sig.probabilities),
                             input_signature=specs)
        else:
            fn = tf.function(lambda x: body(x, None, sig.probabilities), input_signature=specs)
        return fn.get_concrete_function()

    def signatures(self) -> dict:
        """{signature name: concrete function} for `tf.saved_model.save(signatures=...)`."""
        return {name: self._concrete(name) for name in SIGNATURES}
