"""Class activation maps (CAMs) prepared for label transfer.

The L-Net classification head gives one activation map per category, `cams` [B, h, w, K] at
feature resolution. Label transfer needs each map of a present category on a common scale:
`normalize_cams` resizes (optional) and min-max scales every map over the image, so each present
category's map goes from 0 (its weakest pixel) to 1 (its peak) whatever the head's pooling
(global average or log-sum-exp) and bias made of the raw scale and offset. Maps of absent
categories are zero.

Why min-max and not `relu(cam) / max` ([ours], measured in session 3): early in training, and for
the weak categories whose classifier is least sure, a present category's map is often negative
everywhere (its bias dominates). Clipping at 0 then erased the map, no pixel became a seed, and
the weak classes got no transferred labels at all (weak pseudo-label mIoU 0.5% on embedded_50).
Where the map varies, its shape locates the object whatever its offset.

>>> import numpy as np
>>> cams = np.zeros([1, 4, 4, 2], np.float32); cams[0, 1, 1, 0] = 5.0; cams[0, 2, 2, 1] = 3.0
>>> out = normalize_cams(cams, present=[[1.0, 0.0]], size=(8, 8))
>>> out.shape.as_list(), float(out[..., 0].numpy().max()), float(out[..., 1].numpy().max())
([1, 8, 8, 2], 1.0, 0.0)
"""

from __future__ import annotations

from typing import Optional, Sequence

import tensorflow as tf

__all__ = ["normalize_cams", "present_mask", "as_float32"]


def as_float32(x) -> tf.Tensor:
    """Any tensor-like (float16 / bfloat16 model outputs, numpy float64) as a float32 tensor."""
    return tf.cast(tf.convert_to_tensor(x), tf.float32)


def present_mask(present, dtype=tf.float32) -> tf.Tensor:
    """The multi-hot `present` [B, K] (any numeric type, > 0.5 means present) as 0/1 `dtype`."""
    return tf.cast(as_float32(present) > 0.5, dtype)


def normalize_cams(cams, present, size: Optional[Sequence[int]] = None,
                   eps: float = 1e-5) -> tf.Tensor:
    """Min-max scales each CAM of a present category to [0, 1] over the image.

    Args:
      cams: [B, h, w, K] float, raw class activation maps.
      present: [B, K] multi-hot of the categories present in each image.
      size: optional (H, W): the maps are first resized to it (bilinear).
      eps: a map whose range (max - min) is below `eps` is divided by `eps` instead, so a
        constant map becomes all zero and nothing divides by zero.

    Returns:
      [B, H, W, K] float32 (H, W = `size`, or h, w):
      `(cam - min_hw cam) / max(max_hw cam - min_hw cam, eps)` for present categories, 0 for
      absent ones. Each present map whose range exceeds `eps` is 0 at its minimum and exactly 1
      at its maximum; the order of its values is kept.
    """
    cams = as_float32(cams)
    if cams.shape.rank != 4:
        raise ValueError(f"cams must be [B, h, w, K], got shape {cams.shape}")
    if size is not None:
        cams = tf.image.resize(cams, size, method="bilinear")
    low = tf.reduce_min(cams, axis=[1, 2], keepdims=True)
    peak = tf.reduce_max(cams, axis=[1, 2], keepdims=True)
    cams = (cams - low) / tf.maximum(peak - low, eps)
    return cams * present_mask(present)[:, None, None, :]
