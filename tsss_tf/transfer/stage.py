"""Stage `transfer`: run a trained L-Net over the weak training images and cache L_w.

Resumable: images already in the store are skipped; the store is marked complete at the end.
Weak images are read without their masks (the masks stay withheld).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from PIL import Image
from tqdm.auto import tqdm

from tsss_tf.data.pipeline import eval_dataset, weak_records
from tsss_tf.transfer.diffusion import transfer_labels
from tsss_tf.transfer.pseudo_labels import PseudoLabelStore

TRANSFER_KEYS = ("fg_high", "fg_low", "cam_threshold", "alpha", "steps", "radius",
                 "sigma_color", "sigma_feat", "confidence", "scale", "min_mass", "cam_objectness")


def transfer_kwargs(tcfg) -> dict:
    """The keyword arguments of `transfer_labels` from a TransferConfig."""
    return {k: getattr(tcfg, k) for k in TRANSFER_KEYS}


def make_transfer_fn(lnet, tcfg):
    """A tf.function: (images, tags) -> label maps int32 [B,H,W] at the input size."""
    params = transfer_kwargs(tcfg)

    @tf.function(reduce_retracing=True)
    def fn(images, tags):
        out = lnet(images, training=False)
        prob = tf.sigmoid(tf.cast(out["objectness_logits"][..., 0], tf.float32))
        return transfer_labels(images, prob, out["cams"], out["features"], tags, **params)

    return fn


def to_original_size(label_map: np.ndarray, valid_size, original_size) -> np.ndarray:
    """Undo the eval resize/pad: crop the valid region and resize (nearest) to disk size."""
    vh, vw = (int(v) for v in valid_size)
    oh, ow = (int(v) for v in original_size)
    crop = np.asarray(label_map[:vh, :vw], np.uint8)
    if (vh, vw) == (oh, ow):
        return crop
    return np.asarray(Image.fromarray(crop).resize((ow, oh), Image.NEAREST))


def write_weak_labels(fn, data, store: PseudoLabelStore, size: int, batch_size: int,
                      desc: str, progress: bool = True) -> int:
    """Writes `fn(images, tags)` (label maps [B, H, W] at `size`) for every weak training image
    not yet in the store, at the image's size on disk; the weak images are read without their
    masks. Returns the number of labels written now."""
    todo = [r for r in weak_records(data) if not store.has(r.name)]
    if not todo:
        return 0
    ds = eval_dataset(data, recs=todo, batch_size=batch_size, size=size, with_masks=False)
    written = 0
    with tqdm(total=len(todo), desc=desc, unit="img", disable=not progress,
              mininterval=2.0) as bar:
        for batch in ds:
            maps = fn(batch["image"], batch["labels"]).numpy()
            for i, name in enumerate(batch["name"].numpy()):
                label = to_original_size(maps[i], batch["valid_size"][i].numpy(),
                                         batch["original_size"][i].numpy())
                store.write(name.decode("utf-8"), label)
                written += 1
            bar.update(len(maps))
    return written


def run_transfer(lnet, data, store: PseudoLabelStore, tcfg, size: int,
                 progress: bool = True) -> int:
    """Writes the transferred label of every weak training image not yet in the store.

    Returns the number of labels written now."""
    return write_weak_labels(make_transfer_fn(lnet, tcfg), data, store, size, tcfg.batch_size,
                             "transfer", progress)
