"""Self-diffusion: from L-Net outputs to the transferred label map L_w of a weak image.

Pipeline ([ours] design, METHOD.md "Label transfer"), all vectorised TensorFlow:

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
  values above 0.5 drop the pixels where background and a category compete closely.
- reached(i) = sum_c S_c(i) > min_mass. An unreached pixel gets 255 whatever its objectness.

Speed: the diffusion runs at `scale` (default 0.5) of the image resolution, inside an XLA-compiled
`tf.while_loop` (about 6-10 ms per 320x320 image for radius 2, 20 steps, 1-3 present categories
on a 2-core CPU); its scores are upsampled bilinearly before the argmax. Only the channels of
categories present in the batch are diffused (the diffusion is linear and per channel, so absent
channels, whose seeds are all zero, stay zero).
"""

from __future__ import annotations

from typing import Optional

import tensorflow as tf

from tsss_tf.transfer.cam import normalize_cams, present_mask

__all__ = ["make_seeds", "local_affinity", "diffuse", "labels_from_scores", "transfer_labels",
           "window_offsets", "transfer_kwargs", "IGNORE_LABEL"]

IGNORE_LABEL = 255


def window_offsets(radius: int):
    """The (dy, dx) offsets of the window, in the order of P's last axis (row-major)."""
    return [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)]


def _as_map(x) -> tf.Tensor:
    """[B, H, W] or [B, H, W, 1] -> float32 [B, H, W]."""
    x = tf.convert_to_tensor(x, tf.float32)
    if x.shape.rank == 4:
        x = x[..., 0]
    if x.shape.rank != 3:
        raise ValueError(f"expected a map [B, H, W] or [B, H, W, 1], got shape {x.shape}")
    return x


def _check_radius(radius):
    if not isinstance(radius, int) or radius < 0:
        raise ValueError(f"radius must be a non-negative Python int, got {radius!r}")


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
    cams = tf.convert_to_tensor(cams_norm, tf.float32)
    pres = present_mask(present)[:, None, None, :]
    masked = tf.where(pres > 0, cams, -1.0)
    best = tf.argmax(masked, axis=-1, output_type=tf.int32)
    value = tf.reduce_max(masked, axis=-1)
    fg = tf.logical_and(m > fg_high, value > cam_threshold)
    depth = tf.shape(cams)[-1] + 1
    seeds = tf.one_hot(tf.where(fg, best + 1, 0), depth, dtype=tf.float32)
    seeded = tf.logical_or(fg, m < fg_low)
    return seeds * tf.cast(seeded, tf.float32)[..., None]


def _interp_axis(n_out, n_in):
    """The bilinear weights of `tf.image.resize` (half-pixel centres) along one axis: output x
    is (1 - lam) * cell[k] + lam * cell[k + 1]; k <= n_in - 2 (lam = 0 when n_in is 1)."""
    hi = tf.cast(n_in - 1, tf.float32)
    x = tf.range(n_out, dtype=tf.float32)
    t = tf.clip_by_value((x + 0.5) * tf.cast(n_in, tf.float32) / tf.cast(n_out, tf.float32) - 0.5,
                         0.0, hi)
    k = tf.clip_by_value(tf.floor(t), 0.0, tf.maximum(hi - 1.0, 0.0))
    return tf.cast(k, tf.int32), t - k


def _pair_terms(n_out, n_in, radius, span):
    """For each offset d in [-r, r] and corner pair (e, e') in {0, 1}^2 along one axis: the
    index (d_cell + span) * n_in + k_i + e into a [cell offset, cell] axis, and the weight
    w_i[e] * w_j[e'] of output pixel i and its neighbour j = i + d (clamped to the image)."""
    k, lam = _interp_axis(n_out, n_in)
    wts = (1.0 - lam, lam)
    x = tf.range(n_out)
    terms = []
    for d in range(-radius, radius + 1):
        j = tf.clip_by_value(x + d, 0, n_out - 1)
        kj, wj = tf.gather(k, j), (tf.gather(wts[0], j), tf.gather(wts[1], j))
        pairs = []
        for e in (0, 1):
            for e2 in (0, 1):
                dk = tf.clip_by_value(kj + e2 - k - e, -span, span)
                pairs.append(((dk + span) * n_in + k + e, wts[e] * wj[e2]))
        terms.append(pairs)
    return terms


def _cell_gram(features, radius):
    """Dot products between each L2-normalised feature cell and the cells within radius + 1 of
    it: [B, D * h, D * w] indexed [(dk + span) * h + k, (dl + span) * w + l], D = 2 span + 1.
    Plain TF ops: on CPU, Eigen does these C-long reductions much faster than XLA."""
    g = tf.math.l2_normalize(tf.convert_to_tensor(features, tf.float32), axis=-1)
    h, w = tf.shape(g)[1], tf.shape(g)[2]
    span = radius + 1  # largest |cell offset| between the corners of two pixels of one window
    gp = tf.pad(g, [[0, 0], [span, span], [span, span], [0, 0]])
    rows = []
    for dk in range(-span, span + 1):
        rows.append(tf.stack([
            tf.reduce_sum(g * gp[:, span + dk:span + dk + h, span + dl:span + dl + w], -1)
            for dl in range(-span, span + 1)], axis=2))  # [B, h, D, w]
    n = 2 * span + 1
    return tf.reshape(tf.stack(rows, axis=1), [-1, n * h, n * w])


def _feature_sqdist(gram, size, radius, offsets):
    """A list of |f_i - f_{i + o}|^2 [B, H, W], one per offset o, for f = the features L2-normalised per cell, resized
    bilinearly to `size` and L2-normalised again, without building f: a dot product of two
    resized features is a bilinear combination of the dot products of nearby cells (`gram`, from
    `_cell_gram`). Exact (same values as resizing) while the output grid is at least as fine as
    the feature grid; the per-pixel cost does not depend on the number of channels."""
    r, span = radius, radius + 1
    h, w = tf.shape(gram)[1] // (2 * span + 1), tf.shape(gram)[2] // (2 * span + 1)
    ys, xs = _pair_terms(size[0], h, radius, span), _pair_terms(size[1], w, radius, span)
    by_row = {dy: sum(wt[None, :, None] * tf.gather(gram, idx, axis=1) for idx, wt in ys[dy + r])
              for dy in sorted({o[0] for o in offsets} | {0})}  # [B, H, D * w]

    def cross(dy, dx):
        return sum(wt[None, None, :] * tf.gather(by_row[dy], idx, axis=2)
                   for idx, wt in xs[dx + r])

    norm = tf.maximum(cross(0, 0), 1e-12)
    normp = tf.pad(norm, [[0, 0], [r, r], [r, r]], constant_values=1.0)
    hh, ww = tf.shape(norm)[1], tf.shape(norm)[2]
    return [tf.nn.relu(2.0 - 2.0 * cross(dy, dx) * tf.math.rsqrt(
        norm * normp[:, r + dy:r + dy + hh, r + dx:r + dx + ww])) for dy, dx in offsets]


def _affinity_impl(colour, gram, radius, inv_c, inv_f):
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
        for o, df in zip(half, _feature_sqdist(gram, (h, w), r, half)):
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
    weights = tf.stack(weights, axis=-1)
    return weights / tf.reduce_sum(weights, axis=-1, keepdims=True)


_affinity_graph = tf.function(_affinity_impl, reduce_retracing=True)
_affinity_xla = tf.function(_affinity_impl, jit_compile=True)


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
    _check_radius(radius)
    colour = tf.convert_to_tensor(image, tf.float32) / 255.0
    if sigma_feat is None or sigma_feat <= 0:
        features = None
    gram = None if features is None else _cell_gram(features, radius)
    inv_c = tf.constant(1.0 / float(sigma_color) ** 2, tf.float32)
    inv_f = tf.constant(0.0 if features is None else 1.0 / float(sigma_feat) ** 2, tf.float32)
    fn = _affinity_xla if jit_compile else _affinity_graph
    p = fn(colour, gram, radius, inv_c, inv_f)
    return tf.ensure_shape(p, colour.shape[:3].concatenate([(2 * radius + 1) ** 2]))


def _diffuse_impl(s0, p, keep, alpha, steps, radius):
    # Channels-first inside the loop: each neighbour term is then a broadcast of P's [B, 1, H, W]
    # slice over the few score channels, which is much faster than a channels-last layout.
    r = radius
    s0 = tf.transpose(s0 * keep, [0, 3, 1, 2])
    keep = tf.transpose(keep, [0, 3, 1, 2])
    p = tf.transpose(p, [3, 0, 1, 2])[:, :, None]  # [N, B, 1, H, W]
    h, w = tf.shape(s0)[2], tf.shape(s0)[3]
    offsets = window_offsets(r)

    def body(i, s):
        sp = tf.pad(s, [[0, 0], [0, 0], [r, r], [r, r]])
        acc = tf.zeros_like(s)
        for n, (dy, dx) in enumerate(offsets):
            acc += sp[:, :, r + dy:r + dy + h, r + dx:r + dx + w] * p[n]
        return i + 1, (alpha * acc + (1.0 - alpha) * s0) * keep

    _, s = tf.while_loop(lambda i, s: i < steps, body, (tf.constant(0), s0))
    return tf.transpose(s, [0, 2, 3, 1])


_diffuse_graph = tf.function(_diffuse_impl, reduce_retracing=True)
_diffuse_xla = tf.function(_diffuse_impl, jit_compile=True)


def diffuse(S0, P, alpha: float, steps: int, radius: int, fg_mask=None,
            jit_compile: bool = True) -> tf.Tensor:
    """Random walk with restart: `S <- alpha * P S + (1 - alpha) * S0`, `steps` times from S0.

    (P S)_i = sum_n P[i, n] * S[i + offset_n], offsets from `window_offsets(radius)`, zero outside
    the image. With `fg_mask` [B, H, W] (bool or 0/1), the category channels (1:) are set to 0
    outside it at the start and after every step; the background channel 0 is left free.

    Args:
      S0: [B, H, W, C] seed scores (C = 1 + number of categories diffused).
      P: [B, H, W, (2r+1)^2] transition weights from `local_affinity`.
      jit_compile: run the loop XLA-compiled (about 2-4x faster on CPU; one compile per shape).

    Returns [B, H, W, C] float32. alpha = 0 or steps = 0 returns S0 (masked).
    """
    _check_radius(radius)
    s0 = tf.convert_to_tensor(S0, tf.float32)
    p = tf.convert_to_tensor(P, tf.float32)
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
    out = fn(s0, p, keep, tf.constant(alpha, tf.float32), tf.constant(int(steps)), radius)
    return tf.ensure_shape(out, s0.shape)


def labels_from_scores(scores, present, confidence: float, min_mass: float = 1e-3) -> tf.Tensor:
    """int32 [B, H, W] label map from scores [B, H, W, 1 + K] (channel 0 = background).

    label = argmax over background and the present categories (absent categories can never win;
    ties go to the lower channel), in channel numbering (category k -> k + 1), except 255 where
    - the reached mass sum_c S_c (over background and present categories) is <= `min_mass`, or
    - the confidence S_win / sum_c S_c is below `confidence`.
    """
    s = tf.nn.relu(tf.convert_to_tensor(scores, tf.float32))
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


def _scaled_size(size, scale):
    return tf.maximum(tf.cast(tf.math.ceil(tf.cast(size, tf.float32) * scale), tf.int32), 1)


def _refine(s, s0, p, alpha, steps, radius, fg, jit_compile):
    # experimental: continue the walk at full resolution from the upsampled scores
    fg = tf.cast(fg, tf.float32)[..., None]
    keep = tf.concat([tf.ones_like(s[..., :1]), tf.ones_like(s[..., 1:]) * fg], -1)
    x = s
    for _ in range(steps):
        nb = tf.image.extract_patches(x, [1, 2 * radius + 1, 2 * radius + 1, 1], [1, 1, 1, 1],
                                      [1, 1, 1, 1], "SAME")
        nb = tf.reshape(nb, tf.concat([tf.shape(x)[:3], [(2 * radius + 1) ** 2, -1]], 0))
        x = (alpha * tf.reduce_sum(nb * p[..., None], 3) + (1 - alpha) * s0) * keep
    return x


def _upsample_scores(s, size, fg):
    """Bilinear upsampling of the low-resolution scores that keeps their meaning: the shares
    S_c / sum S and the reached mass sum S are interpolated separately (interpolating raw scores
    across an object edge lets the background, whose mass is near 1 next to its seeds, win the
    first object pixels where the object's mass is low), then recombined; category scores are
    zeroed outside the full-resolution foreground `fg` [B, H, W]."""
    total = tf.reduce_sum(s, axis=-1, keepdims=True)
    share = tf.math.divide_no_nan(s, total)
    share = tf.image.resize(share, size, method="bilinear")
    total = tf.image.resize(total, size, method="bilinear")
    share = tf.concat([share[..., :1], share[..., 1:] * tf.cast(fg, tf.float32)[..., None]], -1)
    return tf.math.divide_no_nan(share, tf.reduce_sum(share, axis=-1, keepdims=True)) * total


def transfer_labels(images, objectness_prob, cams, features, present, *, fg_high: float,
                    fg_low: float, cam_threshold: float, alpha: float, steps: int, radius: int,
                    sigma_color: float, sigma_feat: Optional[float], confidence: float,
                    scale: float = 0.5, min_mass: float = 1e-3, refine_steps: int = 0,
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
    """
    images = tf.convert_to_tensor(images, tf.float32)
    m_full = _as_map(objectness_prob)
    pres = present_mask(present)
    idx = _compact(pres)
    pres_c = tf.gather(pres, idx, batch_dims=1)
    cams_c = tf.gather(tf.convert_to_tensor(cams, tf.float32), idx, axis=3, batch_dims=1)

    size = tf.shape(images)[1:3]
    if scale == 1.0:
        small, m_small, small_size = images, m_full, size
    else:
        small_size = _scaled_size(size, scale)
        small = tf.image.resize(images, small_size, method="area")
        m_small = tf.image.resize(m_full[..., None], small_size, method="area")[..., 0]

    cams_n = normalize_cams(cams_c, pres_c, size=small_size)
    s0 = make_seeds(m_small, cams_n, pres_c, fg_high, fg_low, cam_threshold)
    p = local_affinity(small, features, radius, sigma_color, sigma_feat, jit_compile=jit_compile)
    s = diffuse(s0, p, alpha, steps, radius, fg_mask=m_small >= fg_low, jit_compile=jit_compile)
    if scale != 1.0:
        s = _upsample_scores(s, size, m_full >= fg_low)
        if refine_steps:
            cams_f = normalize_cams(cams_c, pres_c, size=size)
            s0f = make_seeds(m_full, cams_f, pres_c, fg_high, fg_low, cam_threshold)
            pf = local_affinity(images, None, radius, sigma_color, None, jit_compile=jit_compile)
            s = _refine(s, s0f, pf, alpha, refine_steps, radius, m_full >= fg_low, jit_compile)
    lab = labels_from_scores(s, pres_c, confidence, min_mass)

    # Back from the compact channel numbering to class ids.
    table = tf.concat([tf.zeros_like(idx[:, :1]), idx + 1], axis=1)  # [B, 1 + m]
    ids = tf.gather(table, tf.minimum(lab, tf.shape(table)[1] - 1), batch_dims=1)
    out = tf.where(lab == IGNORE_LABEL, IGNORE_LABEL, ids)
    return tf.ensure_shape(out, images.shape[:3])


_TRANSFER_KEYS = ("fg_high", "fg_low", "cam_threshold", "alpha", "steps", "radius",
                  "sigma_color", "sigma_feat", "confidence", "scale", "min_mass")


def transfer_kwargs(config) -> dict:
    """The keyword arguments of `transfer_labels` found on a config object (e.g. the
    `TransferConfig` dataclass); other fields such as batch_size are left out."""
    return {k: getattr(config, k) for k in _TRANSFER_KEYS if hasattr(config, k)}
