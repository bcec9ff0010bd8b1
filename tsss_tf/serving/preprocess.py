"""In-graph pre- and post-processing of the exported P-Net.

The same steps as `python -m tsss_tf.evaluate` (`tsss_tf.data.pipeline.eval_dataset`): the
image's longer side is resized (bilinear) to `size`, the result is zero-padded at the bottom and
right to a `size` x `size` square, and P-Net runs on that square. Here the logits of the valid
(unpadded) region are then resized (bilinear) back to the image's own size, so that a served
class map has one label per input pixel.

Encoded images are checked before anything is decoded: the batch is a vector, every element
starts like a JPEG or a PNG, and the size each one's header declares (a PNG's IHDR chunk read
with tf.strings.substr / tf.io.decode_raw, a JPEG's frame header with
tf.image.extract_jpeg_shape) is within the export's limits (tsss_tf.image_limits: by default
50 megapixels and 20000 px a side). A larger image is refused with an InvalidArgument error
that says so ("image_bytes: ... larger than this model accepts"), so a small file that
declares a huge image (a 25 KB PNG of 10000 x 10000 pixels) costs no memory; with
`resize_large_images` a larger JPEG is decoded at 1/2, 1/4 or 1/8 scale instead, and its maps
come at that size (image_size says it).

Everything is TensorFlow ops on symbolic shapes: it runs inside the exported signatures. Checks
of the rank and width of an input use `tf.raw_ops.Rank` / `Shape`, which are not folded to
constants from the signature's declared shapes: TF Serving feeds a request's tensor as it comes.
"""

import tensorflow as tf

from tsss_tf.image_limits import (DEFAULT_LIMITS, JPEG_MAGIC, JPEG_SCALES, PNG_MAGIC,
                                  ImageLimits)


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


def checked_rank(tensor, rank: int, message: str):
    """`tensor`, after an assertion that its rank at run time is `rank` (message, then the
    shape). The checked tensor is returned: ops that read it run after the check."""
    shape = tf.raw_ops.Shape(input=tensor)
    ok = tf.equal(tf.raw_ops.Rank(input=tensor), rank)
    with tf.control_dependencies([tf.debugging.Assert(ok, [message, "got shape", shape])]):
        return tf.identity(tensor)


def checked_bytes(image_bytes):
    """image_bytes after the assertion that it is a vector [batch] (a scalar or a matrix is
    refused with a named error, not an op's own)."""
    return checked_rank(image_bytes, 1, "image_bytes: wants a vector [batch] of encoded JPEG "
                                        "or PNG images;")


def checked_tags(tags, batch, num_classes: int):
    """tags after the assertion that it is [batch, num_classes]."""
    shape = tf.concat([tf.raw_ops.Shape(input=tags), [-1, -1]], 0)  # padded: any rank reads
    ok = (tf.equal(tf.raw_ops.Rank(input=tags), 2) & tf.equal(shape[0], batch)
          & tf.equal(shape[1], num_classes))
    check = tf.debugging.Assert(ok, [
        f"tags: wants int32 [batch, {num_classes}] (one row per image, one 0/1 column per "
        "class of assets/class_names.txt); batch", batch, "got shape",
        tf.raw_ops.Shape(input=tags)])
    with tf.control_dependencies([check]):
        return tf.identity(tags)


def _be_uint32(raw):
    """int64 of 4 big-endian bytes (int64 [4])."""
    return ((raw[0] * 256 + raw[1]) * 256 + raw[2]) * 256 + raw[3]


def header_sizes(image_bytes):
    """int64 [B, 2]: the (height, width) each encoded PNG or JPEG declares in its header, read
    without decoding; (0, 0) for a PNG whose header is cut short (its decoding then fails)."""

    def one(encoded):
        def png():
            head = tf.strings.substr(tf.strings.join([encoded, tf.constant(b"\0" * 24)]), 12, 12)
            raw = tf.cast(tf.io.decode_raw(head, tf.uint8), tf.int64)
            ok = tf.equal(tf.strings.substr(head, 0, 4), b"IHDR")
            size = tf.stack([_be_uint32(raw[8:12]), _be_uint32(raw[4:8])])
            return tf.where(ok, size, tf.zeros([2], tf.int64))

        def jpeg():
            return tf.cast(tf.image.extract_jpeg_shape(encoded)[:2], tf.int64)

        is_png = tf.equal(tf.strings.substr(encoded, 0, len(PNG_MAGIC)), PNG_MAGIC)
        return tf.cond(is_png, png, jpeg)

    return tf.map_fn(one, image_bytes, fn_output_signature=tf.TensorSpec([2], tf.int64))


def _fits(sizes, limits: ImageLimits, scale: int = 1):
    h = (sizes[:, 0] + scale - 1) // scale
    w = (sizes[:, 1] + scale - 1) // scale
    return (h * w <= limits.max_pixels) & (tf.maximum(h, w) <= limits.max_side)


def decode_scales(image_bytes, sizes, limits: ImageLimits):
    """(int32 [B] scale each image is decoded at, 1 or with limits.resize 2/4/8 for a larger
    JPEG; the assertion that every image is accepted)."""
    fits = _fits(sizes, limits)
    scale = tf.ones_like(sizes[:, 0], tf.int32)
    accepted = fits
    if limits.resize:
        is_jpeg = tf.equal(tf.strings.substr(image_bytes, 0, len(JPEG_MAGIC)), JPEG_MAGIC)
        for s in reversed(JPEG_SCALES[1:]):  # the smallest reduction that fits wins
            ok = is_jpeg & tf.logical_not(fits) & _fits(sizes, limits, s)
            scale = tf.where(ok, s, scale)
            accepted = accepted | ok
    bad = tf.where(tf.logical_not(accepted))[:, 0]
    how = ("; larger JPEGs are decoded at a reduced scale, up to 8 times smaller a side"
           if limits.resize else "")
    check = tf.debugging.Assert(tf.equal(tf.size(bad), 0), [
        f"image_bytes: images larger than this model accepts ({limits.describe()}{how}); "
        "batch elements", bad, "heights", tf.gather(sizes[:, 0], bad), "widths",
        tf.gather(sizes[:, 1], bad)], summarize=16)
    return scale, check


def _decode(encoded, scale, resize: bool):
    def plain():
        return tf.ensure_shape(tf.io.decode_image(encoded, channels=3, expand_animations=False),
                               [None, None, 3])

    if not resize:
        return plain()

    def reduced():
        branches = [lambda r=r: tf.io.decode_jpeg(encoded, channels=3, ratio=r)
                    for r in JPEG_SCALES[1:]]
        index = tf.argmax(tf.equal(scale, JPEG_SCALES[1:]), output_type=tf.int32)
        return tf.ensure_shape(tf.switch_case(index, branches), [None, None, 3])

    return tf.cond(scale > 1, reduced, plain)


def decode_and_pad(image_bytes, size: int, limits: ImageLimits = DEFAULT_LIMITS):
    """Encoded JPEG/PNG images [B] -> (float32 [B, size, size, 3], valid [B, 2], original [B, 2]).

    Each image is decoded to RGB (grey and RGBA images too), resized and padded on its own, so a
    batch may mix sizes. Nothing is decoded before every element passed the checks (a JPEG or
    PNG, its header's size within `limits`); `original` is the decoded size (reduced for a large
    JPEG with limits.resize)."""
    image_bytes = checked_bytes(image_bytes)
    with tf.control_dependencies(check_encoded(image_bytes)):
        image_bytes = tf.identity(image_bytes)
    sizes = header_sizes(image_bytes)
    scales, check = decode_scales(image_bytes, sizes, limits)
    with tf.control_dependencies([check]):
        image_bytes, scales = tf.identity(image_bytes), tf.identity(scales)

    def one(args):
        encoded, scale = args
        image = _decode(encoded, scale, limits.resize)
        padded, valid = resize_and_pad(image[None], size)
        return padded[0], valid, tf.shape(image)[:2]

    return tf.map_fn(one, (image_bytes, scales), fn_output_signature=(
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
