"""In-graph pre- and post-processing of the exported P-Net.

The same steps as `python -m tsss_tf.evaluate` (`tsss_tf.data.pipeline.eval_dataset`): the
image's longer side is resized (bilinear) to `size`, the result is zero-padded at the bottom and
right to a `size` x `size` square, and P-Net runs on that square. Here the logits of the valid
(unpadded) region are then resized (bilinear) back to the image's own size, so that a served
class map has one label per input pixel.

Everything is TensorFlow ops on symbolic shapes: it runs inside the exported signatures.
"""

import tensorflow as tf

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"


def scaled_size(height, width, size: int):
    """(h, w) int32 after resizing the longer side of (height, width) to `size` (at least 1)."""
    hw = tf.cast(tf.stack([height, width]), tf.float32)
    scale = size / tf.reduce_max(hw)
    return tf.maximum(tf.cast(tf.round(hw * scale), tf.int32), 1)


def resize_and_pad(images, size: int):
    """uint8 images [B, H, W, 3] (one size) -> (float32 [B, size, size, 3], valid (h, w) int32).

    `valid` is the size of the resized image inside the padded square."""
    shape = tf.shape(images)
    valid = scaled_size(shape[1], shape[2], size)
    resized = tf.image.resize(tf.cast(images, tf.float32), valid, method="bilinear")
    padded = tf.pad(resized, [[0, 0], [0, size - valid[0]], [0, size - valid[1]], [0, 0]])
    return tf.ensure_shape(padded, [None, size, size, 3]), valid


def check_encoded(image_bytes):
    """Asserts a non-empty batch whose every element starts like a JPEG or a PNG file."""
    n = tf.size(image_bytes)
    is_png = tf.equal(tf.strings.substr(image_bytes, 0, len(PNG_MAGIC)), PNG_MAGIC)
    is_jpeg = tf.equal(tf.strings.substr(image_bytes, 0, len(JPEG_MAGIC)), JPEG_MAGIC)
    bad = tf.where(tf.logical_not(is_png | is_jpeg))[:, 0]
    return [
        tf.debugging.assert_positive(n, message="image_bytes: the batch is empty"),
        tf.debugging.Assert(tf.equal(tf.size(bad), 0),
                            ["image_bytes: these batch elements are neither a JPEG nor a PNG "
                             "image:", bad], summarize=16),
    ]


def decode_and_pad(image_bytes, size: int):
    """Encoded JPEG/PNG images [B] -> (float32 [B, size, size, 3], valid [B, 2], original [B, 2]).

    Each image is decoded to RGB (grey and RGBA images too), resized and padded on its own, so a
    batch may mix sizes."""
    with tf.control_dependencies(check_encoded(image_bytes)):
        image_bytes = tf.identity(image_bytes)

    def one(encoded):
        image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
        image = tf.ensure_shape(image, [None, None, 3])
        padded, valid = resize_and_pad(image[None], size)
        return padded[0], valid, tf.shape(image)[:2]

    return tf.map_fn(one, image_bytes, fn_output_signature=(
        tf.TensorSpec([size, size, 3], tf.float32), tf.TensorSpec([2], tf.int32),
        tf.TensorSpec([2], tf.int32)))


def check_images(images):
    """Asserts a non-empty batch of non-empty RGB images [batch, height, width, 3]."""
    shape = tf.shape(images)
    return [
        tf.debugging.assert_equal(tf.size(shape), 4, message="images: wants the shape "
                                  "[batch, height, width, 3]"),
        tf.debugging.assert_equal(shape[-1], 3, message="images: wants 3 channels (RGB)"),
        tf.debugging.assert_positive(shape[0], message="images: the batch is empty"),
        tf.debugging.assert_positive(shape[1] * shape[2],
                                     message="images: height and width must be at least 1"),
    ]


def allowed_classes(tags, num_background: int):
    """bool [B, K]: the classes a tags row allows (its 1s, and background always).

    Asserts that tags holds only 0 and 1 and that each row allows at least one class."""
    checks = [
        tf.debugging.Assert(tf.reduce_all((tags == 0) | (tags == 1)),
                            ["tags: values must be 0 or 1"]),
    ]
    with tf.control_dependencies(checks):
        allowed = tf.cast(tags, tf.bool)
    if num_background:
        keep = tf.concat([tf.ones([num_background], tf.bool),
                          tf.zeros([tf.shape(tags)[1] - num_background], tf.bool)], 0)
        allowed = allowed | keep[None]
    check = tf.debugging.Assert(tf.reduce_all(tf.reduce_any(allowed, axis=1)),
                                ["tags: a row allows no class at all"])
    with tf.control_dependencies([check]):
        return tf.identity(allowed)


def restrict(logits, allowed):
    """Logits [B, H, W, K] with the classes not allowed ([B, K] bool) set to -inf."""
    mask = allowed[:, None, None, :]
    return tf.where(mask, logits, tf.constant(-float("inf"), logits.dtype))


def crop_and_resize(logits, valid, original):
    """Logits of one padded square [S, S, K] -> the valid region resized to `original` (h, w)."""
    cropped = logits[:valid[0], :valid[1]]
    return tf.image.resize(cropped, original, method="bilinear")


def outputs_from_logits(logits, with_probabilities: bool):
    """{"class_map": int32 argmax, "probabilities": softmax (if asked)} of [B, H, W, K] logits."""
    out = {"class_map": tf.argmax(logits, axis=-1, output_type=tf.int32)}
    if with_probabilities:
        out["probabilities"] = tf.nn.softmax(logits, axis=-1)
    return out


def pad_maps(out: dict, height, width):
    """Pads one image's maps to (height, width): class_map with -1, probabilities with 0."""
    h, w = tf.shape(out["class_map"])[0], tf.shape(out["class_map"])[1]
    pads = [[0, height - h], [0, width - w]]
    padded = {"class_map": tf.pad(out["class_map"], pads, constant_values=-1)}
    if "probabilities" in out:
        padded["probabilities"] = tf.pad(out["probabilities"], pads + [[0, 0]])
    return padded
