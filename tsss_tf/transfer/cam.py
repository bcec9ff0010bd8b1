"""Class activation maps (CAMs) prepared for label transfer.

The L-Net classification head gives one activation map per category, `cams` [B, h, w, K] at
feature resolution. Label transfer needs each map of a present category on a common scale:
`normalize_cams` resizes (optional), clips negatives and divides every map by its own maximum, so
the peak of each present category is 1 whatever the head's pooling (global average or
log-sum-exp) made of the raw scale. Maps of absent categories are zero.

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
    """Scales each CAM of a present category to [0, 1] by its per-image maximum.

    Args:
      cams: [B, h, w, K] float, raw class activation maps.
      present: [B, K] multi-hot of the categories present in each image.
      size: optional (H, W): the maps are first resized to it (bilinear).
      eps: a map whose maximum (after ReLU) is below `eps` is divided by `eps` instead, so an
        all-zero or all-negative map stays zero and nothing divides by zero.

    Returns:
      [B, H, W, K] float32 (H, W = `size`, or h, w): `relu(cam) / max(max_hw relu(cam), eps)` for
      present categories, 0 for absent ones. Each present map that has a positive value above
      `eps` peaks at exactly 1.
    """
    cams = as_float32(cams)
    if cams.shape.rank != 4:
        raise ValueError(f"cams must be [B, h, w, K], got shape {cams.shape}")
    if size is not None:
        cams = tf.image.resize(cams, size, method="bilinear")
    cams = tf.nn.relu(cams)
    peak = tf.reduce_max(cams, axis=[1, 2], keepdims=True)
    cams = cams / tf.maximum(peak, eps)
    return cams * present_mask(present)[:, None, None, :]
