"""Label refinement: a trained P-Net relabels the weak training images (ours, not the paper's).

The P-Net of the full model, trained on L-Net's transferred labels, segments the weak training
images better than those labels (embedded_0, seed 0: weak-class mIoU 53.3 for the transferred
labels, 69.9 for the P-Net's tag-restricted predictions). A refinement round turns those
predictions into the next round's labels:

    p = softmax(logits) over {background} and the image's tags only (other classes get -inf)
    label = argmax p, or 255 where max p < confidence

Only the image-level tags are used, as for L-Net's labels; a weak image's mask is never read.
The labels are written at the image's size on disk into a `PseudoLabelStore`, like L-Net's.

Better labels did not always make a better P-Net: refinement also amplifies what the first P-Net
misses (a category it calls background loses its remaining labels), and on val it helped only
the embedded_0 run with an under-trained L-Net, so it is off in every config (docs/results.md,
"The 0% setting").

>>> import numpy as np
>>> logits = np.zeros([1, 1, 2, 4], np.float32)
>>> logits[0, 0, 0] = [0.0, 3.0, 0.0, 9.0]   # class 3 wins, but is not a tag of the image
>>> logits[0, 0, 1] = [0.0, 0.1, 0.0, 0.0]   # no confident winner
>>> tags = np.array([[1.0, 1.0, 0.0]])       # categories 0 and 1: classes 1 and 2
>>> restricted_labels(logits, tags, confidence=0.6).numpy().tolist()
[[[1, 255]]]
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from tsss_tf.data.voc import IGNORE_LABEL
from tsss_tf.errors import DataError
from tsss_tf.transfer.cam import present_mask
from tsss_tf.transfer.fingerprint import digest, weights_id
from tsss_tf.transfer.pseudo_labels import PseudoLabelStore
from tsss_tf.transfer.stage import write_weak_labels

__all__ = ["restricted_labels", "relabel_weak_images", "refined_store"]


def restricted_labels(logits, tags, confidence: float) -> tf.Tensor:
    """Label maps uint8 [B, H, W] from P-Net logits [B, H, W, 1 + K] and tags [B, K].

    Only background (class 0) and the tagged categories (class k + 1 for tag k) can win; a
    pixel whose winning softmax probability (over those classes) is below `confidence` is 255.
    """
    if not 0.0 <= confidence < 1.0:
        raise ValueError(f"refine confidence must be in [0, 1), got {confidence}")
    logits = tf.cast(logits, tf.float32)
    pres = present_mask(tags, tf.bool)
    allowed = tf.concat([tf.ones_like(pres[:, :1]), pres], axis=-1)[:, None, None, :]
    masked = tf.where(allowed, logits, tf.fill(tf.shape(logits), -np.inf))
    prob = tf.nn.softmax(masked, axis=-1)
    label = tf.argmax(prob, axis=-1, output_type=tf.int32)
    label = tf.where(tf.reduce_max(prob, axis=-1) < confidence, IGNORE_LABEL, label)
    return tf.cast(label, tf.uint8)


def relabel_weak_images(model, data, store: PseudoLabelStore, confidence: float, size: int,
                        batch_size: int = 16, progress: bool = True) -> int:
    """Writes the restricted prediction of `model` (a P-Net) for every weak training image not
    yet in `store`, at the image's size on disk. Returns the number of labels written now."""

    @tf.function(reduce_retracing=True)
    def fn(images, tags):
        return restricted_labels(model(images, training=False), tags, confidence)

    return write_weak_labels(fn, data, store, size, batch_size, "refine", progress)


def refined_store(model_dir: str, cfg, base_fingerprint: str, round_: int,
                  pnet) -> PseudoLabelStore:
    """The store of round `round_`'s labels, written by `pnet` (the full model's P-Net of round
    `round_ - 1`) into model_dir/refine/round<round_>/pseudo_labels. Its fingerprint names the
    L-Net labels it started from, the round, the P-Net settings and weights; a folder of
    another is a DataError that says what to delete."""
    pnet_cfg = {k: v for k, v in cfg.pnet.__dict__.items() if k != "refine_rounds"}
    fingerprint = digest({"base": base_fingerprint, "round": round_, "pnet": pnet_cfg,
                          "size": cfg.data.eval_size, "pnet_weights": weights_id(pnet)})
    directory = os.path.join(model_dir, "refine", f"round{round_}", "pseudo_labels")
    try:
        return PseudoLabelStore(directory, fingerprint)
    except ValueError as e:
        raise DataError(f"{e}. Delete {os.path.dirname(directory)} to relabel the weak "
                        "images from this P-Net.") from None
