"""Stage `transfer`: run a trained L-Net over the weak training images and cache L_w.

Resumable: images already in the store are skipped; the store is marked complete at the end.
Weak images are read without their masks (the masks stay withheld).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow as tf
from PIL import Image
from tqdm.auto import tqdm

from tsss_tf.config import TransferConfig, transfer_image_size
from tsss_tf.data.pipeline import eval_dataset, weak_records
from tsss_tf.errors import DataError
from tsss_tf.transfer.diffusion import transfer_labels
from tsss_tf.transfer.fingerprint import data_fields, digest, weights_id
from tsss_tf.transfer.pseudo_labels import PseudoLabelStore

# The TransferConfig fields that are keyword arguments of `transfer_labels` (the others say
# where and how the L-Net is run: image_size, scales, flip, batch_size).
TRANSFER_KEYS = tuple(f.name for f in dataclasses.fields(TransferConfig)
                      if f.name not in ("image_size", "scales", "flip", "batch_size"))


def transfer_kwargs(tcfg) -> dict:
    """The keyword arguments of `transfer_labels` from a TransferConfig."""
    return {k: getattr(tcfg, k) for k in TRANSFER_KEYS}


# The augmentation that is the plain `lnet(images)`: one view at the image's own scale.
NO_AUGMENTATION = {"scales": (1.0,), "flip": False}


def augmentation(tcfg) -> dict:
    """The test-time augmentation of a TransferConfig: {"scales": (...), "flip": b} (the
    scales are checked positive by ExperimentConfig.validate)."""
    scales = tuple(float(s) for s in tcfg.scales)
    return {"scales": scales, "flip": bool(tcfg.flip)}


def lnet_views(lnet, images, scales=(1.0,), flip: bool = False):
    """The L-Net's outputs averaged over test-time views of `images`.

    Each scale s runs the L-Net on the images resized (bilinear) by s, and with `flip` also on
    their left-right mirror (whose outputs are mirrored back). The objectness logits are
    averaged at the image size; the CAMs and features at the grid of the largest scale (the
    finest). scales=(1.0,) without flip is the plain `lnet(images)`.

    Returns {"objectness_logits": [B, H, W, 1], "cams": [B, h, w, K], "features": [B, h, w, C]},
    all float32.
    """
    size = tf.shape(images)[1:3]
    sums, grid, n = {}, None, 0
    for s in sorted(scales, reverse=True):
        x = images
        if s != 1.0:
            scaled = tf.cast(tf.round(tf.cast(size, tf.float32) * s), tf.int32)
            x = tf.image.resize(images, tf.maximum(scaled, 1), method="bilinear")
        for mirror in ((False, True) if flip else (False,)):
            out = lnet(tf.reverse(x, [2]) if mirror else x, training=False)
            view = {k: tf.cast(out[k], tf.float32)
                    for k in ("objectness_logits", "cams", "features")}
            if mirror:
                view = {k: tf.reverse(v, [2]) for k, v in view.items()}
            if grid is None:
                grid = tf.shape(view["cams"])[1:3]
            view["objectness_logits"] = tf.image.resize(view["objectness_logits"], size)
            view["cams"] = tf.image.resize(view["cams"], grid)
            view["features"] = tf.image.resize(view["features"], grid)
            sums = {k: sums[k] + v for k, v in view.items()} if sums else view
            n += 1
    return {k: v / n for k, v in sums.items()}


def make_transfer_fn(lnet, tcfg):
    """A tf.function: (images, tags) -> label maps int32 [B,H,W] at the input size."""
    params = transfer_kwargs(tcfg)
    aug = augmentation(tcfg)

    @tf.function(reduce_retracing=True)
    def fn(images, tags):
        if aug == NO_AUGMENTATION:
            out = lnet(images, training=False)
        else:
            out = lnet_views(lnet, images, **aug)
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


# ModelConfig fields of the P-Net's head alone, which change no transferred label: left out of
# the labels' fingerprint (so labels survive a P-Net head change).
PNET_HEAD_FIELDS = ("aspp_rates", "low_level_width")


def label_store(directory: str, cfg, split_hash: str, lnet) -> PseudoLabelStore:
    """The store of the labels that `lnet` transfers under ExperimentConfig `cfg`.

    Its fingerprint names the split, the seed, the data, model, L-Net and transfer settings, the
    transfer's image size and the L-Net's weights, so that labels of another L-Net or setting
    are never reused: such a folder is a DataError that says what to delete."""
    fields = {"split": split_hash, "seed": cfg.seed, "data": data_fields(cfg.data),
              "model": {k: v for k, v in cfg.model.__dict__.items() if k not in PNET_HEAD_FIELDS},
              "lnet": cfg.lnet.__dict__,
              "transfer": transfer_kwargs(cfg.transfer), "size": transfer_image_size(cfg),
              "lnet_weights": weights_id(lnet)}
    aug = augmentation(cfg.transfer)
    if aug != NO_AUGMENTATION:  # absent otherwise: older runs' labels keep their fingerprint
        fields["augmentation"] = aug
    if cfg.mixed_precision:  # likewise
        fields["mixed_precision"] = cfg.mixed_precision
    try:
        return PseudoLabelStore(directory, digest(fields))
    except ValueError as e:
        raise DataError(f"{e}. Delete {os.path.dirname(directory)} to transfer the labels "
                        "again from this L-Net.") from None
