"""The tf.data pipeline: one path for the embedded set and for real data.

Training streams mix strong and weak images. What a weak image carries depends on the stage:

    variant       strong images     weak images
    "lnet"        true mask         tags only (mask all 255: its mask file is never opened)
    "pnet"        true mask         transferred pseudo label (from a PseudoLabelStore folder)
    "strong_only" true mask         left out
    "full"        true mask         true mask (the fully supervised upper bound); an image
                                    without a mask (tags only) is left out

Each batch is a dict: image float32 [B,S,S,3] in [0,255], mask int32 [B,S,S] (experiment
class ids, 255 = ignore), labels float32 [B,K] (image-level tags), strong float32 [B] (1 for a
strong image / true mask).

    ds = train_dataset(data, "lnet", global_batch_size=16, seed=0)
    ds = eval_dataset(data, "val", batch_size=16)
"""

from __future__ import annotations

import os
from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

from tsss_tf.data.sources import ExperimentData, Record
from tsss_tf.data.splits import STRONG, WEAK
from tsss_tf.data.voc import IGNORE_LABEL, DataError, read_mask_file

MASK_DATASET, MASK_EXPERIMENT, MASK_NONE = 0, 1, 2
MASK_SOURCE = 3  # a cross-dataset source image's mask, mapped by data.source_lut
VARIANTS = ("lnet", "pnet", "strong_only", "full")


def training_table(data: ExperimentData, variant: str, pseudo_dir: Optional[str] = None,
                   recs: Optional[Sequence[Record]] = None) -> dict:
    """Per-image columns of a training stream, after the split's image policy."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown training variant '{variant}' ({', '.join(VARIANTS)})")
    if variant == "pnet" and not pseudo_dir:
        raise ValueError("variant 'pnet' needs the pseudo-label folder")
    recs = data.train_records() if recs is None else list(recs)
    rows = []
    for r in recs:
        if variant == "full" and not r.mask_path:
            continue
        if r.kind == STRONG or variant == "full":
            kind = MASK_SOURCE if getattr(r, "from_source", False) else MASK_DATASET
            rows.append((r, r.mask_path, kind, 1.0))
        elif variant == "lnet":
            rows.append((r, "", MASK_NONE, 0.0))
        elif variant == "pnet":
            rows.append((r, os.path.join(pseudo_dir, r.name + ".png"), MASK_EXPERIMENT, 0.0))
        # strong_only: weak images are left out.
    if not rows:
        raise DataError(
            f"the '{variant}' training stream of {data.layout.root} (split "
            f"'{data.split.name}', sets {', '.join(data.cfg.train_sets)}) has no images: "
            + ("no image holds only strong categories" if variant == "strong_only"
               else "the training sets are empty"))
    labels = data.labels_multi_hot([r for r, *_ in rows])
    return {
        "name": np.array([r.name for r, *_ in rows]),
        "image_path": np.array([r.image_path for r, *_ in rows]),
        "mask_path": np.array([m for _, m, _, _ in rows]),
        "mask_kind": np.array([k for *_, k, _ in rows], np.int32),
        "root": np.array([r.root for r, *_ in rows], np.int32),
        "labels": labels,
        "strong": np.array([s for *_, s in rows], np.float32),
    }


def _mask_reader(data: ExperimentData):
    luts = data.root_luts
    sizes = [data.root_num_classes(i) for i in range(len(luts))]

    def read(path, kind, root, height, width):
        if kind == MASK_NONE:
            return np.full((height, width), IGNORE_LABEL, np.uint8)
        path = path.decode("utf-8")
        if kind == MASK_DATASET:  # in its data folder's class ids
            return luts[root][read_mask_file(path, sizes[root], (height, width))]
        if kind == MASK_SOURCE:
            return data.source_lut[read_mask_file(path, data.source_layout.num_classes,
                                                  (height, width))]
        return read_mask_file(path, 256, (height, width))

    return read


def _decode(data: ExperimentData):
    read_mask = _mask_reader(data)

    def decode(ex):
        image = tf.io.decode_image(tf.io.read_file(ex["image_path"]), channels=3,
                                   expand_animations=False)
        shape = tf.shape(image)
        mask = tf.numpy_function(read_mask, [ex["mask_path"], ex["mask_kind"], ex["root"],
                                             shape[0], shape[1]], tf.uint8, stateful=False)
        mask = tf.ensure_shape(mask, [None, None])
        out = {k: v for k, v in ex.items()
               if k not in ("image_path", "mask_path", "mask_kind", "root")}
        out.update(image=image, mask=mask)
        return out

    return decode


def _pad_to(image, mask, height, width):
    h, w = tf.shape(image)[0], tf.shape(image)[1]
    ph, pw = tf.maximum(height - h, 0), tf.maximum(width - w, 0)
    image = tf.pad(image, [[0, ph], [0, pw], [0, 0]])
    mask = tf.pad(mask, [[0, ph], [0, pw]], constant_values=IGNORE_LABEL)
    return image, mask


def _augment(crop: int, min_scale: float, max_scale: float, hflip: bool):
    def augment(seed, ex):
        seeds = tf.random.experimental.stateless_split(seed, 4)
        image = tf.cast(ex["image"], tf.float32)
        mask = ex["mask"]
        h = tf.cast(tf.shape(image)[0], tf.float32)
        w = tf.cast(tf.shape(image)[1], tf.float32)
        scale = crop / tf.minimum(h, w) * tf.random.stateless_uniform(
            [], seeds[0], min_scale, max_scale)
        size = tf.cast(tf.round(tf.stack([h, w]) * scale), tf.int32)
        image = tf.image.resize(image, size, method="bilinear")
        mask = tf.image.resize(mask[..., None], size, method="nearest")[..., 0]
        image, mask = _pad_to(image, mask, crop, crop)
        hh, ww = tf.shape(image)[0], tf.shape(image)[1]
        y0 = tf.random.stateless_uniform([], seeds[1], 0, hh - crop + 1, dtype=tf.int32)
        x0 = tf.random.stateless_uniform([], seeds[2], 0, ww - crop + 1, dtype=tf.int32)
        image = image[y0:y0 + crop, x0:x0 + crop]
        mask = mask[y0:y0 + crop, x0:x0 + crop]
        if hflip:
            flip = tf.random.stateless_uniform([], seeds[3]) < 0.5
            image = tf.cond(flip, lambda: image[:, ::-1], lambda: image)
            mask = tf.cond(flip, lambda: mask[:, ::-1], lambda: mask)
        image = tf.ensure_shape(tf.clip_by_value(image, 0.0, 255.0), [crop, crop, 3])
        out = dict(ex)
        out.update(image=image, mask=tf.ensure_shape(tf.cast(mask, tf.int32), [crop, crop]))
        return out

    return augment


def _check_divisible(global_batch_size: int, strategy=None) -> None:
    replicas = strategy.num_replicas_in_sync if strategy is not None else 1
    if global_batch_size % replicas:
        raise ValueError(f"global_batch_size {global_batch_size} is not divisible by the "
                         f"{replicas} replicas")


def train_dataset(data: ExperimentData, variant: str, global_batch_size: int, seed: int = 0,
                  pseudo_dir: Optional[str] = None, recs=None, strategy=None) -> tf.data.Dataset:
    """An infinite, shuffled, augmented stream batched to the global batch size.

    Deterministic for a seed: shuffling and augmentation use stateless per-example seeds.
    Batches are padded to equal, static size (drop_remainder) so that each replica of a
    MirroredStrategy gets global_batch_size / replicas images. A cross-dataset experiment
    (tsss_tf.data.cross_dataset) with data.source_ratio draws that share of the images from
    the source data set and the rest from the target, each part shuffled on its own.
    """
    cfg = data.cfg
    _check_divisible(global_batch_size, strategy)
    table = training_table(data, variant, pseudo_dir, recs)
    from_source = table["mask_kind"] == MASK_SOURCE
    ratio = getattr(cfg, "source_ratio", None)
    if ratio is None or from_source.all() or not from_source.any():
        ds = _decoded_stream(data, table, seed)
    else:  # cross-dataset: a `ratio` share of the images from the source data set
        parts = [_decoded_stream(data, {k: v[sel] for k, v in table.items()}, seed + i)
                 for i, sel in enumerate((~from_source, from_source))]
        threshold = int(round(ratio * 2 ** 30))
        choice = tf.data.Dataset.random(seed=seed + 2).map(
            lambda x: tf.cast(x % (2 ** 30) < threshold, tf.int64))
        ds = tf.data.Dataset.choose_from_datasets(parts, choice)
    seeds = tf.data.Dataset.random(seed=seed + 1).batch(2)
    ds = tf.data.Dataset.zip(seeds, ds)
    ds = ds.map(_augment(cfg.crop_size, cfg.min_scale, cfg.max_scale, cfg.hflip),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.map(lambda ex: {k: v for k, v in ex.items() if k != "name"})
    ds = ds.batch(global_batch_size, drop_remainder=True)
    opts = tf.data.Options()
    opts.deterministic = True
    opts.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(opts).prefetch(tf.data.AUTOTUNE)


def _decoded_stream(data: ExperimentData, table: dict, seed: int) -> tf.data.Dataset:
    """The decoded rows of a training table, cached, repeated and shuffled."""
    cfg = data.cfg
    n = len(table["name"])
    ds = tf.data.Dataset.from_tensor_slices(table)
    ds = ds.map(_decode(data), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if cfg.cache:
        ds = ds.cache()
    return ds.repeat().shuffle(min(n, cfg.shuffle_buffer) if cfg.shuffle_buffer else n,
                               seed=seed, reshuffle_each_iteration=True)


def _eval_resize(size: int):
    def resize(ex):
        image = tf.cast(ex["image"], tf.float32)
        h = tf.cast(tf.shape(image)[0], tf.float32)
        w = tf.cast(tf.shape(image)[1], tf.float32)
        scale = size / tf.maximum(h, w)
        new = tf.maximum(tf.cast(tf.round(tf.stack([h, w]) * scale), tf.int32), 1)
        image = tf.image.resize(image, new, method="bilinear")
        mask = tf.image.resize(ex["mask"][..., None], new, method="nearest")[..., 0]
        image, mask = _pad_to(image, mask, size, size)
        out = dict(ex)
        out.update(image=tf.ensure_shape(image, [size, size, 3]),
                   mask=tf.ensure_shape(tf.cast(mask, tf.int32), [size, size]),
                   original_size=tf.cast(tf.stack([h, w]), tf.int32), valid_size=new)
        return out

    return resize


def eval_table(data: ExperimentData, recs: Sequence[Record], with_masks: bool = True) -> dict:
    """Evaluation stream columns: images with their true masks, or (with_masks=False, for
    label transfer on weak images) with no mask read at all. An image without a mask (tags
    only) gets an all-255 mask either way."""
    read = [with_masks and bool(r.mask_path) for r in recs]
    return {
        "name": np.array([r.name for r in recs]),
        "image_path": np.array([r.image_path for r in recs]),
        "mask_path": np.array([r.mask_path if m else "" for r, m in zip(recs, read)]),
        "mask_kind": np.array([MASK_DATASET if m else MASK_NONE for m in read], np.int32),
        "root": np.array([r.root for r in recs], np.int32),
        "labels": data.labels_multi_hot(recs),
        "strong": np.array([r.kind == STRONG for r in recs], np.float32),
    }


def eval_dataset(data: ExperimentData, set_name: Optional[str] = None, batch_size: int = 16,
                 recs=None, size: Optional[int] = None, with_masks: bool = True) -> tf.data.Dataset:
    """A finite stream of a whole image set at a fixed size (longer side resized, padded).

    Each example also carries "name", "labels", "original_size" (h, w on disk) and
    "valid_size" (the resized image's h, w; the rest is padding). with_masks=False reads no
    mask file (label transfer on weak images).
    """
    recs = data.records(set_name) if recs is None else list(recs)
    ds = tf.data.Dataset.from_tensor_slices(eval_table(data, recs, with_masks))
    ds = ds.map(_decode(data), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.map(_eval_resize(size or data.cfg.eval_size), num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True)
    if data.cfg.cache and with_masks:
        ds = ds.cache()
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def weak_records(data: ExperimentData) -> list:
    """The weak training images (the ones that get transferred labels)."""
    return [r for r in data.train_records() if r.kind == WEAK]
