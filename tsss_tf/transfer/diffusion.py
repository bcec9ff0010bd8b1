"""Self-diffusion: from L-Net outputs to the transferred label map L_w of a weak image.

Pipeline ([ours] design, docs/method.md "Label transfer"), all vectorised TensorFlow:

1. `normalize_cams` (cam.py): each CAM of a present category scaled to [0, 1].
2. `make_seeds`: seed scores S0 [B, H, W, 1 + K] (channel 0 = background). A pixel with
   objectness M > fg_high takes, one-hot, the present category of its largest normalised CAM if
   that value is > cam_threshold; a pixel with M < fg_low is background; the rest are all-zero.
3. `local_affinity`: a row-stochastic transition matrix P over the (2r+1)^2 window of each pixel,
   from colour and L-Net feature similarity.
4. `diffuse`: `S <- alpha * P S + (1 - alpha) * S0` for `steps` steps; category scores are kept
   at 0 outside the foreground mask (background is free to spread).
5. `labels_from_scores`: argmax over {background} and the present categories, 255 where the
   winner is not confident enough or where no seed was reached.

Meaning of the scores (what `confidence` thresholds). Without the foreground mask, the diffused
score S_c(i) is exactly the probability that a random walk started at pixel i, which at each step
stops with probability 1 - alpha and otherwise moves to neighbour j with probability P_ij (a walk
still going after `steps` moves stops where it is), stops on a seed of class c. The foreground
mask removes the category mass of walks that step outside the foreground. So S_c >= 0 and
sum_c S_c <= 1; the sum, the *reached mass*, is the probability of stopping on any seed.

- confidence(i) = S_win(i) / sum_{c in {bg} + present} S_c(i): the winner's share of the reached
  mass, i.e. P(class | the walk stopped on a seed), in [1 / (1 + #present), 1]. With one present
  category it is >= 0.5 wherever a seed was reached, so a `confidence` <= 0.5 then never acts:
  values above 0.5 drop the pixels where background and a category compete closely (on the
  simulated msrc_things check below, at scale 0.5: 0.2 ignores nothing, mIoU 0.900; 0.6 ignores
  1.0% of the pixels, mIoU of the rest 0.919; 0.8 ignores 3.4%, 0.953).
- reached(i) = sum_c S_c(i) > min_mass (default 1e-3: at least 0.1% of the walks stop on a
  seed). An unreached pixel gets 255 whatever its objectness; this is what marks the unknown
  pixels (fg_low <= M <= fg_high, or M > fg_high with a weak CAM) that no seed reached.

Resolution and speed ([ours]): the affinity and the diffusion run at `scale` (default 0.5) of
the image size, and only over the channels of the categories present in the batch (the walk is
linear and per channel: an absent category's all-zero seeds stay zero). The scores are
upsampled to the image size (`_scores_to_labels`) and the argmax is taken there. With
`jit_compile`, each part runs where it is fastest on CPU: the transition maps and the bilinear
resize as plain TF ops (Eigen's kernels; XLA took twice as long for both), the random walk (a
`tf.while_loop`) and the final shares and argmax as XLA computations. Measured per image on the
2-core CPU this was written on (a warm tf.function, batch 8, 320x320, 48-channel L-Net features,
1-2 categories present, radius 2, 20 steps): transition maps 4 ms, walk 7 ms, full-resolution
labels 1.3 ms; the whole `transfer_labels` 16.4-19.4 ms in `tools/benchmark.py` (20.2-23.9 ms
when the transition maps and the resize were compiled by XLA too; the same labels, see the
tests). What scale 0.5 costs, measured on 40 msrc_things val images with objectness and CAMs
simulated from the true masks: pseudo-label mIoU 0.900, against 0.922 at scale 0.75 and 0.934
at 1.0.
"""

from __future__ import annotations

import math
from typing import Optional

import tensorflow as tf

from tsss_tf.data.voc import IGNORE_LABEL
from tsss_tf.transfer.affinity import (affinity_inputs, check_radius, local_affinity,
                                       transition_maps, window_offsets)
from tsss_tf.transfer.cam import as_float32, normalize_cams, present_mask

__all__ = ["make_seeds", "cam_supported_objectness", "local_affinity", "diffuse",
           "labels_from_scores", "transfer_labels",
           "window_offsets", "IGNORE_LABEL"]


def _as_map(x) -> tf.Tensor:
    """[B, H, W] or [B, H, W, 1] -> float32 [B, H, W]."""
    x = as_float32(x)
    if x.shape.rank == 4:
        x = x[..., 0]
    if x.shape.rank != 3:
        raise ValueError(f"expected a map [B, H, W] or [B, H, W, 1], got shape {x.shape}")
    return x


def make_seeds(objectness, cams_norm, present, fg_high: float, fg_low: float,
               cam_threshold: float) -> tf.Tensor:
    """Seed scores S0 [B, H, W, 1 + K] float32, one-hot or all-zero per pixel.

    Args:
      objectness: foreground probability M, [B, H, W] or [B, H, W, 1].
      cams_norm: [B, H, W, K] normalised CAMs (`normalize_cams` at the size of M).
      present: [B, K] multi-hot; only present categories can be seeds.
      fg_high, fg_low: M > fg_high is foreground, M < fg_low background (fg_low <= fg_high).
      cam_threshold: a foreground pixel is seeded only if its largest present CAM is above this.

    Channel 0 is background, channel k + 1 category k. Ties between CAMs go to the lower index.
    """
    if fg_low > fg_high:
        raise ValueError(f"fg_low ({fg_low}) must not exceed fg_high ({fg_high})")
    m = _as_map(objectness)
    cams = as_float32(cams_norm)
    pres = present_mask(present)[:, None, None, :]
    masked = tf.where(pres > 0, cams, -1.0)
    best = tf.argmax(masked, axis=-1, output_type=tf.int32)
    value = tf.reduce_max(masked, axis=-1)
    fg = tf.logical_and(m > fg_high, value > cam_threshold)
    depth = tf.shape(cams)[-1] + 1
    seeds = tf.one_hot(tf.where(fg, best + 1, 0), depth, dtype=tf.float32)
    seeded = tf.logical_or(fg, m < fg_low)
    return seeds * tf.cast(seeded, tf.float32)[..., None]


def _diffuse_impl(s0, p, keep, alpha, steps, radius):
    """`diffuse` on channels-last inputs: s0, keep [B, H, W, C], P [B, H, W, N]."""
    out = _walk(tf.transpose(s0, [0, 3, 1, 2]), tf.transpose(p, [3, 0, 1, 2]),
                tf.transpose(keep, [0, 3, 1, 2]), alpha, steps, radius)
    return tf.transpose(out, [0, 2, 3, 1])


_diffuse_graph = tf.function(_diffuse_impl, reduce_retracing=True)
_diffuse_xla = tf.function(_diffuse_impl, jit_compile=True, reduce_retracing=True)


def _walk(s0, p, keep, alpha, steps, radius):
    """The random walk on channels-first scores s0, keep [B, C, H, W] with P offset-major
    [N, B, H, W]; returns [B, C, H, W]. Channels-first: each neighbour term is then a broadcast
    of P's [B, 1, H, W] slice over the few score channels, much faster than channels-last."""
    r = radius
    p = p[:, :, None]  # [N, B, 1, H, W]: one broadcast over the score channels per offset
    h, w = tf.shape(s0)[2], tf.shape(s0)[3]
    offsets = window_offsets(r)

    def body(i, s):
        sp = tf.pad(s, [[0, 0], [0, 0], [r, r], [r, r]])
        acc = tf.zeros_like(s)
        for n, (dy, dx) in enumerate(offsets):
            acc += sp[:, :, r + dy:r + dy + h, r + dx:r + dx + w] * p[n]
        return i + 1, (alpha * acc + (1.0 - alpha) * s0) * keep

    return tf.while_loop(lambda i, s: i < steps, body, (tf.constant(0), s0 * keep))[1]


def _walk_cl(s0, p, keep, alpha, steps, radius):
    s = _walk(tf.transpose(s0, [0, 3, 1, 2]), p, tf.transpose(keep, [0, 3, 1, 2]), alpha,
              steps, radius)
    return tf.transpose(s, [0, 2, 3, 1])


# P is built by plain TF ops (Eigen's element-wise kernels on both cores: about 4 ms per
# 160x160 image with features, against 8 ms as an XLA computation on the 2-core CPU this was
# measured on), offset-major, the layout the walk reads, so it never goes through
# [B, H, W, N]; the walk is XLA-compiled (7 ms against 27 ms as plain ops).
_transition_graph = tf.function(transition_maps, reduce_retracing=True)
_walk_graph = tf.function(_walk_cl, reduce_retracing=True)
_walk_xla = tf.function(_walk_cl, jit_compile=True, reduce_retracing=True)


def _affinity_and_walk(s0, keep, colour, gram, span, radius, inv_c, inv_f, alpha, steps,
                       jit_compile):
    p = _transition_graph(colour, gram, span, radius, inv_c, inv_f)
    walk = _walk_xla if jit_compile else _walk_graph
    return walk(s0, p, keep, alpha, steps, radius)


def _keep_mask(s0, fg_mask):
    if fg_mask is None:
        return tf.ones_like(s0)
    fg = tf.cast(tf.cast(fg_mask, tf.float32) > 0.5, tf.float32)[..., None]
    cats = tf.ones_like(s0[..., 1:]) * fg
    return tf.concat([tf.ones_like(s0[..., :1]), cats], axis=-1)


def affinity_diffuse(S0, image, features, *, alpha: float, steps: int, radius: int,
                     sigma_color: float, sigma_feat: Optional[float], fg_mask=None,
                     jit_compile: bool = True) -> tf.Tensor:
    """`diffuse(S0, local_affinity(image, features, ...), ...)` as one compiled computation
    (the same values to float rounding, about 2x faster on CPU: no [B, H, W, N] P)."""
    colour, gram, span, inv_c, inv_f = affinity_inputs(image, features, radius, sigma_color,
                                                       sigma_feat)
    s0 = as_float32(S0)
    out = _affinity_and_walk(s0, _keep_mask(s0, fg_mask), colour, gram, span, radius, inv_c,
                             inv_f, tf.cast(alpha, tf.float32), tf.constant(int(steps)),
                             jit_compile)
    return tf.ensure_shape(out, s0.shape)


def diffuse(S0, P, alpha: float, steps: int, radius: int, fg_mask=None,
            jit_compile: bool = True) -> tf.Tensor:
    """Random walk with restart: `S <- alpha * P S + (1 - alpha) * S0`, `steps` times from S0.

    (P S)_i = sum_n P[i, n] * S[i + offset_n], offsets from `window_offsets(radius)`, zero outside
    the image. With `fg_mask` [B, H, W] (bool or 0/1), the category channels (1:) are set to 0
    outside it at the start and after every step; the background channel 0 is left free.

    Args:
      S0: [B, H, W, C] seed scores (C = 1 + number of categories diffused).
      P: [B, H, W, (2r+1)^2] transition weights from `local_affinity`.
      jit_compile: run the loop XLA-compiled (2-6x faster on CPU; about 1 s to compile per shape).

    Returns [B, H, W, C] float32. alpha = 0 or steps = 0 returns S0 (masked).
    """
    check_radius(radius)
    s0 = as_float32(S0)
    p = as_float32(P)
    n = (2 * radius + 1) ** 2
    if p.shape[-1] is not None and p.shape[-1] != n:
        raise ValueError(f"P has {p.shape[-1]} weights per pixel, radius {radius} needs {n}")
    if fg_mask is None:
        keep = tf.ones_like(s0)
    else:
        fg = tf.cast(tf.cast(fg_mask, tf.float32) > 0.5, tf.float32)[..., None]
        cats = tf.ones_like(s0[..., 1:]) * fg
        keep = tf.concat([tf.ones_like(s0[..., :1]), cats], axis=-1)
    fn = _diffuse_xla if jit_compile else _diffuse_graph
    out = fn(s0, p, keep, tf.cast(alpha, tf.float32), tf.constant(int(steps)), radius)
    return tf.ensure_shape(out, s0.shape)


def labels_from_scores(scores, present, confidence: float, min_mass: float = 1e-3) -> tf.Tensor:
    """int32 [B, H, W] label map from scores [B, H, W, 1 + K] (channel 0 = background).

    label = argmax over background and the present categories (absent categories can never win;
    ties go to the lower channel), in channel numbering (category k -> k + 1), except 255 where
    - the reached mass sum_c S_c (over background and present categories) is <= `min_mass`, or
    - the confidence S_win / sum_c S_c is below `confidence`.
    """
    s = tf.nn.relu(as_float32(scores))
    pres = present_mask(present)
    allowed = tf.concat([tf.ones_like(pres[:, :1]), pres], axis=-1)[:, None, None, :]
    s = s * allowed
    win = tf.argmax(tf.where(allowed > 0, s, -1.0), axis=-1, output_type=tf.int32)
    top = tf.reduce_max(s, axis=-1)
    total = tf.reduce_sum(s, axis=-1)
    conf = top / tf.maximum(total, 1e-30)
    ignore = tf.logical_or(total <= min_mass, conf < confidence)
    return tf.where(ignore, IGNORE_LABEL, win)


def _compact(present):
    """Indices [B, m] of the categories diffused per image: its present ones first, then filler
    (absent, so all-zero) categories; m = the batch's largest number of present categories."""
    k = tf.shape(present)[1]
    m = tf.minimum(tf.maximum(tf.cast(tf.reduce_max(tf.reduce_sum(present, 1)), tf.int32), 1), k)
    rank = tf.cast(k - tf.range(k), tf.float32)  # earlier categories first
    key = present * tf.cast(2 * k, tf.float32) + rank[None]
    return tf.math.top_k(key, k=m, sorted=True).indices


def _scaled_size(static, size, scale):
    """ceil(size * scale), as Python ints when the image size is static (so the shapes that
    follow stay static), else as a tensor."""
    if None not in static:
        return [max(int(math.ceil(n * scale)), 1) for n in static]
    return tf.maximum(tf.cast(tf.math.ceil(tf.cast(size, tf.float32) * scale), tf.int32), 1)


def _shares_and_mass(s):
    """[B, h, w, C + 1]: the shares S_c / sum S of the C score channels, then the mass sum S."""
    total = tf.reduce_sum(s, axis=-1, keepdims=True)
    return tf.concat([tf.math.divide_no_nan(s, total), total], axis=-1)


def _recombine(shares_mass, fg):
    """Scores [B, H, W, C] from upsampled `_shares_and_mass`, category scores zeroed outside
    `fg` [B, H, W]."""
    share, total = shares_mass[..., :-1], shares_mass[..., -1:]
    share = tf.concat([share[..., :1], share[..., 1:] * tf.cast(fg, tf.float32)[..., None]], -1)
    return tf.math.divide_no_nan(share, tf.reduce_sum(share, axis=-1, keepdims=True)) * total


def cam_supported_objectness(objectness, cams_norm, weight: float) -> tf.Tensor:
    """max(M, weight * max_c A_c): the objectness M [B, H, W] raised wherever a normalised CAM
    of a present category is strong (cams_norm [B, H, W, K], 0 for absent categories).

    M is learnt from the strong categories only, and does not see every weak category as an
    object: on msrc_things_50 (seed 0) M < fg_low on 98% of the face pixels, 67% of the sign
    pixels and 64% of the body pixels, while the CAMs of those images peak on them. weight = 0
    returns M unchanged."""
    m = _as_map(objectness)
    if not weight:
        return m
    return tf.maximum(m, float(weight) * tf.reduce_max(as_float32(cams_norm), axis=-1))


def _recombined_labels(shares_mass, fg, present, confidence, min_mass):
    return labels_from_scores(_recombine(shares_mass, fg), present, confidence, min_mass)


# XLA for the full-resolution shares and argmax; the resize before them stays a plain TF op
# (0.6 ms per 320x320 image, against 1.8 ms in XLA on the 2-core CPU this was measured on).
_recombined_labels_xla = tf.function(_recombined_labels, jit_compile=True,
                                     reduce_retracing=True)
_labels_xla = tf.function(labels_from_scores, jit_compile=True, reduce_retracing=True)


def _scores_to_labels(s, size, fg, present, confidence, min_mass, upsample: bool,
                      jit_compile: bool):
    """Labels at `size` from the diffusion's scores. With `upsample`, bilinear upsampling that
    keeps the scores' meaning: the shares S_c / sum S and the reached mass sum S are interpolated
    separately (interpolating raw scores across an object edge lets the background, whose mass
    is near 1 next to its seeds, win the first object pixels where the object's mass is low),
    then recombined; category scores are zeroed outside the full-resolution foreground `fg`
    [B, H, W]."""
    if not upsample:
        return (_labels_xla if jit_compile else labels_from_scores)(s, present, confidence,
                                                                    min_mass)
    shares_mass = tf.image.resize(_shares_and_mass(s), size, method="bilinear")
    recombined = _recombined_labels_xla if jit_compile else _recombined_labels
    return recombined(shares_mass, fg, present, confidence, min_mass)


def transfer_labels(images, objectness_prob, cams, features, present, *, fg_high: float,
                    fg_low: float, cam_threshold: float, alpha: float, steps: int, radius: int,
                    sigma_color: float, sigma_feat: Optional[float], confidence: float,
                    scale: float = 0.5, min_mass: float = 1e-3, cam_objectness: float = 0.0,
                    jit_compile: bool = True) -> tf.Tensor:
    """The transferred label map L_w, int32 [B, H, W]: 0 background, k + 1 category k, 255 ignore.

    Args:
      images: [B, H, W, 3] float RGB in [0, 255].
      objectness_prob: foreground probability M at image size, [B, H, W] or [B, H, W, 1].
      cams: [B, h, w, K] raw L-Net CAMs; features: [B, h, w, C] L-Net features (or None).
      present: [B, K] multi-hot image-level tags; only these categories (and background) can
        appear in the output.
      fg_high, fg_low, cam_threshold: seeds, see `make_seeds`.
      alpha, steps, radius: the random walk, see `diffuse`; sigma_color, sigma_feat: the
        affinity, see `local_affinity`.
      confidence: pixels whose winner's share of the reached mass is below it get 255.
      scale: resolution of the diffusion relative to the image (1.0 = full). Image and M are
        area-downsampled, CAMs and features resized to it; the scores are upsampled bilinearly
        and the argmax is taken at full resolution, where category scores are zeroed wherever
        the full-resolution M < fg_low.
      min_mass: a pixel whose reached mass is <= min_mass (no seed reached it) gets 255.
      cam_objectness: the objectness used for seeds and the foreground mask is
        `max(M, cam_objectness * max_c A_c)` over the normalised CAMs of the present categories
        (`cam_supported_objectness`); 0 uses M alone.
    """
    if not 0.0 < scale <= 1.0:
        raise ValueError(f"scale must be in (0, 1], got {scale}")
    images = as_float32(images)
    m_full = _as_map(objectness_prob)
    pres = present_mask(present)
    idx = _compact(pres)
    pres_c = tf.gather(pres, idx, batch_dims=1)
    cams_c = tf.gather(as_float32(cams), idx, axis=3, batch_dims=1)

    size = tf.shape(images)[1:3]
    if scale == 1.0:
        small, m_small, small_size = images, m_full, size
    else:
        small_size = _scaled_size(images.shape[1:3].as_list(), size, scale)
        small = tf.image.resize(images, small_size, method="area")
        m_small = tf.image.resize(m_full[..., None], small_size, method="area")[..., 0]

    cams_n = normalize_cams(cams_c, pres_c, size=small_size)
    if cam_objectness:
        m_small = cam_supported_objectness(m_small, cams_n, cam_objectness)
        cams_full = cams_n if scale == 1.0 else normalize_cams(cams_c, pres_c, size=size)
        m_full = cam_supported_objectness(m_full, cams_full, cam_objectness)
    s0 = make_seeds(m_small, cams_n, pres_c, fg_high, fg_low, cam_threshold)
    s = affinity_diffuse(s0, small, features, alpha=alpha, steps=steps, radius=radius,
                         sigma_color=sigma_color, sigma_feat=sigma_feat,
                         fg_mask=m_small >= fg_low, jit_compile=jit_compile)
    lab = _scores_to_labels(s, size, m_full >= fg_low, pres_c,
                            tf.constant(confidence, tf.float32), tf.constant(min_mass, tf.float32),
                            scale != 1.0, jit_compile)

    # Back from the compact channel numbering to class ids.
    table = tf.concat([tf.zeros_like(idx[:, :1]), idx + 1], axis=1)  # [B, 1 + m]
    ids = tf.gather(table, tf.minimum(lab, tf.shape(table)[1] - 1), batch_dims=1)
    out = tf.where(lab == IGNORE_LABEL, IGNORE_LABEL, ids)
    return tf.ensure_shape(out, images.shape[:3])
