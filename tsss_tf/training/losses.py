"""Per-example losses. Every function returns a [B] vector; the train steps reduce it with
`tf.nn.compute_average_loss(..., global_batch_size=G)` so that a step under N replicas makes
the same update as one replica with the whole batch (docs/tensorflow_notes.md)."""

import tensorflow as tf

from tsss_tf.data.voc import IGNORE_LABEL


def _masked_pixel_mean(per_pixel, valid):
    """Mean of per_pixel [B,H,W] over valid pixels of each example (0 where none)."""
    valid = tf.cast(valid, per_pixel.dtype)
    total = tf.reduce_sum(per_pixel * valid, axis=[1, 2])
    count = tf.reduce_sum(valid, axis=[1, 2])
    return tf.math.divide_no_nan(total, count)


def objectness_loss(objectness_logits, mask, strong, num_background=1):
    """Class-agnostic foreground BCE on strong images: [B].

    mask: int32 [B,H,W] experiment class ids; a pixel is foreground when its id is a category
    (>= num_background). Weak images (strong = 0) and ignore pixels contribute nothing.
    """
    logits = tf.cast(objectness_logits[..., 0], tf.float32)
    valid = (mask != IGNORE_LABEL) & (strong[:, None, None] > 0)
    target = tf.cast(mask >= num_background, tf.float32)
    per_pixel = tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=logits)
    return _masked_pixel_mean(per_pixel, valid)


def multilabel_loss(class_logits, labels):
    """Sigmoid BCE between image-level logits [B,K] and tags [B,K], averaged over K: [B]."""
    per = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels,
                                                  logits=tf.cast(class_logits, tf.float32))
    return tf.reduce_mean(per, axis=-1)


def cam_dense_loss(cams, mask, strong, num_background=1):
    """Per-pixel supervision of the CAMs on strong images: [B] ([ours], docs/method.md).

    cams [B,h,w,K] at feature resolution; mask int32 [B,H,W] (experiment class ids) is
    nearest-resized to h x w. Each valid pixel of a strong image is a K-way multi-label target:
    1 for the category it belongs to, 0 for every other (background pixels: all 0). Sigmoid BCE
    averaged over K and the valid pixels. Weak images (strong = 0) and ignore pixels contribute
    nothing, so a weak category's map is still learned from its image-level tags alone, on
    features that the dense strong supervision made discriminative.
    """
    cams = tf.cast(cams, tf.float32)
    small = tf.image.resize(mask[..., None], tf.shape(cams)[1:3], method="nearest")[..., 0]
    valid = (small != IGNORE_LABEL) & (strong[:, None, None] > 0)
    target = tf.one_hot(tf.where(valid, small, 0) - num_background, tf.shape(cams)[-1])
    per = tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=cams)
    return _masked_pixel_mean(tf.reduce_mean(per, axis=-1), valid)


def segmentation_loss(logits, mask):
    """Softmax cross-entropy per example over non-ignored pixels: [B]."""
    logits = tf.cast(logits, tf.float32)
    valid = mask != IGNORE_LABEL
    safe = tf.where(valid, mask, tf.zeros_like(mask))
    per_pixel = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=safe, logits=logits)
    return _masked_pixel_mean(per_pixel, valid)


def patch_bce(patch_logits, target: float):
    """BCE of a discriminator's patch logits [B,h,w,1] against a constant: [B]."""
    logits = tf.cast(patch_logits, tf.float32)
    per = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.fill(tf.shape(logits), target),
                                                  logits=logits)
    return tf.reduce_mean(per, axis=[1, 2, 3])


def real_label_map(mask, probs):
    """One-hot of a true mask [B,H,W,C]; ignore pixels take the (stopped) prediction, so the
    discriminator cannot tell real from fake by the ignore label."""
    num_classes = tf.shape(probs)[-1]
    onehot = tf.one_hot(tf.where(mask == IGNORE_LABEL, 0, mask), num_classes, dtype=probs.dtype)
    return tf.where((mask == IGNORE_LABEL)[..., None], tf.stop_gradient(probs), onehot)
