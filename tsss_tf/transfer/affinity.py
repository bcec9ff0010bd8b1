"""The local affinity graph of the self-diffusion: colour and L-Net feature similarity.

`local_affinity(image, features, radius, sigma_color, sigma_feat)` gives the row-stochastic
transition matrix P [B, H, W, (2r+1)^2] of a random walk over each pixel's (2r+1) x (2r+1)
window, offsets in `window_offsets(radius)` order (row-major, (0, 0) in the middle).

The feature term is the distance between L-Net features resized bilinearly to (H, W). Resizing
C-channel features to every pixel costs O(C) per pixel and window offset (about 200 ms per
160x160 image for C = 64 on a 2-core CPU), so it is computed without building them: the dot
product of two bilinearly interpolated vectors is a bilinear combination of the dot products of
the feature cells they interpolate, and those are computed once per cell (`_cell_gram`). The
result is the same to float rounding (tests compare with the direct computation).

>>> import numpy as np
>>> p = local_affinity(np.zeros([1, 5, 6, 3], np.float32), radius=1)
>>> p.shape.as_list(), bool(np.allclose(p.numpy().sum(-1), 1.0))
([1, 5, 6, 9], True)
"""

from __future__ import annotations

import math
from typing import Optional

import tensorflow as tf

from tsss_tf.transfer.cam import as_float32

__all__ = ["local_affinity", "window_offsets", "check_radius", "transition_maps",
           "affinity_inputs"]


def window_offsets(radius: int):
    """The (dy, dx) offsets of the window, in the order of P's last axis (row-major)."""
    return [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)]


def check_radius(radius):
    if not isinstance(radius, int) or radius < 0:
        raise ValueError(f"radius must be a non-negative Python int, got {radius!r}")


def _interp_axis(n_out, n_in):
    """The bilinear weights of `tf.image.resize` (half-pixel centres) along one axis: output x
    is (1 - lam) * cell[k] + lam * cell[k + 1]; k <= n_in - 2 (lam = 0 when n_in is 1)."""
    hi = tf.cast(n_in - 1, tf.float32)
    x = tf.range(n_out, dtype=tf.float32)
    t = tf.clip_by_value((x + 0.5) * tf.cast(n_in, tf.float32) / tf.cast(n_out, tf.float32) - 0.5,
                         0.0, hi)
    k = tf.clip_by_value(tf.floor(t), 0.0, tf.maximum(hi - 1.0, 0.0))
    return tf.cast(k, tf.int32), t - k


def _pair_matrices(n_out, n_in, radius, span):
    """Per offset d in [-r, r] along one axis, the matrix [n_out, D * n_in] (D = 2 span + 1)
    that takes a [cell offset, cell]-indexed axis of dot products to the dot product of output
    pixel i with its neighbour j = i + d (clamped to the image): the weight w_i[e] * w_j[e'] at
    (k_j + e' - k_i - e + span) * n_in + k_i + e, for the corners e, e' in {0, 1} of each.
    Dense, so that the interpolation is a matrix product (faster than gathers on CPU)."""
    k, lam = _interp_axis(n_out, n_in)
    wts = (1.0 - lam, lam)
    x = tf.range(n_out)
    depth = (2 * span + 1) * n_in
    mats = []
    for d in range(-radius, radius + 1):
        j = tf.clip_by_value(x + d, 0, n_out - 1)
        kj, wj = tf.gather(k, j), (tf.gather(wts[0], j), tf.gather(wts[1], j))
        mat = 0.0
        for e in (0, 1):
            for e2 in (0, 1):
                dk = tf.clip_by_value(kj + e2 - k - e, -span, span)
                mat += tf.one_hot((dk + span) * n_in + k + e, depth) * (wts[e] * wj[e2])[:, None]
        mats.append(mat)
    return mats


def _gram_span(cells, pixels, radius):
    """The largest |cell offset| between the interpolation corners of two pixels of one window:
    ceil(r * cells / pixels) + 1 when the sizes are static, else r + 1 (its bound when the
    pixel grid is at least as fine as the cell grid)."""
    spans = [int(math.ceil(radius * c / p)) + 1 if c is not None and p is not None else radius + 1
             for c, p in zip(cells, pixels)]
    return min(max(spans), radius + 1)


def _cell_gram(features, span):
    """Dot products between each L2-normalised feature cell and the cells within `span` of it:
    [B, D * h, D * w] indexed [(dk + span) * h + k, (dl + span) * w + l], D = 2 span + 1.
    Plain TF ops: on CPU, Eigen does these C-long reductions much faster than XLA."""
    g = tf.math.l2_normalize(as_float32(features), axis=-1)
    h, w = tf.shape(g)[1], tf.shape(g)[2]
    gp = tf.pad(g, [[0, 0], [span, span], [span, span], [0, 0]])
    rows = []
    for dk in range(-span, span + 1):
        rows.append(tf.stack([
            tf.reduce_sum(g * gp[:, span + dk:span + dk + h, span + dl:span + dl + w], -1)
            for dl in range(-span, span + 1)], axis=2))  # [B, h, D, w]
    n = 2 * span + 1
    return tf.reshape(tf.stack(rows, axis=1), [-1, n * h, n * w])


def _feature_sqdist(gram, span, size, radius, offsets):
    """A list of |f_i - f_{i + o}|^2 [B, H, W], one per offset o, for f = the features
    L2-normalised per cell, resized bilinearly to `size` and L2-normalised again, without
    building f: a dot product of two resized features is a bilinear combination of the dot
    products of nearby cells (`gram`, from `_cell_gram`). Exact (the same values as resizing)
    while the output grid is at least as fine as the feature grid; the per-pixel cost does not
    depend on the number of channels."""
    r = radius
    h, w = tf.shape(gram)[1] // (2 * span + 1), tf.shape(gram)[2] // (2 * span + 1)
    ys, xs = _pair_matrices(size[0], h, r, span), _pair_matrices(size[1], w, r, span)
    by_row = {dy: tf.einsum("yk,bkl->byl", ys[dy + r], gram)  # [B, H, D * w]
              for dy in sorted({o[0] for o in offsets} | {0})}

    def cross(dy, dx):
        return tf.einsum("byl,xl->byx", by_row[dy], xs[dx + r])

    norm = tf.maximum(cross(0, 0), 1e-12)
    normp = tf.pad(norm, [[0, 0], [r, r], [r, r]], constant_values=1.0)
    hh, ww = tf.shape(norm)[1], tf.shape(norm)[2]
    return [tf.nn.relu(2.0 - 2.0 * cross(dy, dx) * tf.math.rsqrt(
        norm * normp[:, r + dy:r + dy + hh, r + dx:r + dx + ww])) for dy, dx in offsets]


def _affinity_impl(colour, gram, span, radius, inv_c, inv_f):
    weights = tf.stack(_window_weights(colour, gram, span, radius, inv_c, inv_f), axis=-1)
    return weights / tf.reduce_sum(weights, axis=-1, keepdims=True)


def transition_maps(colour, gram, span, radius, inv_c, inv_f):
    """P offset-major: [(2r+1)^2, B, H, W] (what the diffusion reads one offset at a time; the
    same values as `local_affinity`, whose [B, H, W, (2r+1)^2] layout costs a transpose).
    Call inside a compiled function (diffusion fuses it with the random walk)."""
    weights = tf.stack(_window_weights(colour, gram, span, radius, inv_c, inv_f), axis=0)
    return weights / tf.reduce_sum(weights, axis=0, keepdims=True)


def affinity_inputs(image, features, radius, sigma_color, sigma_feat):
    """(colour, gram, span, inv_c, inv_f): the arguments of `transition_maps`."""
    check_radius(radius)
    colour = as_float32(image) / 255.0
    if sigma_feat is None or sigma_feat <= 0:
        features = None
    gram, span = None, 0
    if features is not None:
        features = as_float32(features)
        span = _gram_span(features.shape[1:3], colour.shape[1:3], radius)
        gram = _cell_gram(features, span)
    inv_c = tf.constant(1.0 / float(sigma_color) ** 2, tf.float32)
    inv_f = tf.constant(0.0 if features is None else 1.0 / float(sigma_feat) ** 2, tf.float32)
    return colour, gram, span, inv_c, inv_f


def _window_weights(colour, gram, span, radius, inv_c, inv_f):
    """The unnormalised weights w_ij, a list of [B, H, W] maps in `window_offsets` order."""
    # Distances are symmetric: d(i, i + o) = d(i + o, i), so the distances of the offsets
    # o > (0, 0) are computed and those of -o read from them, shifted by o.
    h, w = tf.shape(colour)[1], tf.shape(colour)[2]
    r = radius
    offsets = window_offsets(r)
    half = [o for o in offsets if o > (0, 0)]

    def shift(xp, dy, dx):
        return xp[:, r + dy:r + dy + h, r + dx:r + dx + w]

    pad = [[0, 0], [r, r], [r, r], [0, 0]]
    cp = tf.pad(colour, pad)
    dist = {o: tf.reduce_sum(tf.square(colour - shift(cp, *o)), axis=-1) * inv_c for o in half}
    if gram is not None:
        for o, df in zip(half, _feature_sqdist(gram, span, (h, w), r, half)):
            dist[o] += df * inv_f
    valid = tf.pad(tf.ones_like(colour[..., 0]), pad[:3])
    weights = []
    for dy, dx in offsets:
        if (dy, dx) == (0, 0):
            d = tf.zeros_like(colour[..., 0])
        elif (dy, dx) in dist:
            d = dist[dy, dx]
        else:
            d = shift(tf.pad(dist[-dy, -dx], pad[:3]), dy, dx)
        weights.append(tf.exp(-d) * shift(valid, dy, dx))
    return weights


_affinity_graph = tf.function(_affinity_impl, reduce_retracing=True)
_affinity_xla = tf.function(_affinity_impl, jit_compile=True, reduce_retracing=True)


def local_affinity(image, features=None, radius: int = 2, sigma_color: float = 0.1,
                   sigma_feat: Optional[float] = 0.5, jit_compile: bool = True) -> tf.Tensor:
    """Transition matrix P [B, H, W, (2r+1)^2] over each pixel's local window.

    w_ij = exp(-|c_i - c_j|^2 / sigma_color^2 - |f_i - f_j|^2 / sigma_feat^2) for j in the
    (2r+1) x (2r+1) window of i (offsets in `window_offsets(radius)` order), 0 for j outside the
    image; P_ij = w_ij / sum_j w_ij, so every row sums to 1 (w_ii = 1 keeps the sum positive).
    c = image / 255 (RGB: |dc|^2 sums three channels). f = the L-Net features L2-normalised,
    resized bilinearly to (H, W) and L2-normalised again (|df|^2 in [0, 4]); computed without
    materialising f (see `_feature_sqdist`), exact while (H, W) is at least the feature size.

    Args:
      image: [B, H, W, 3] float RGB in [0, 255].
      features: optional [B, h, w, C] L-Net features; None (or sigma_feat None / <= 0) uses
        colour alone.
    """
    colour, gram, span, inv_c, inv_f = affinity_inputs(image, features, radius, sigma_color,
                                                       sigma_feat)
    fn = _affinity_xla if jit_compile else _affinity_graph
    p = fn(colour, gram, span, radius, inv_c, inv_f)
    return tf.ensure_shape(p, colour.shape[:3].concatenate([(2 * radius + 1) ** 2]))
