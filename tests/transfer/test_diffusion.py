import numpy as np
import pytest
import tensorflow as tf

from tsss_tf.transfer.affinity import local_affinity, window_offsets
from tsss_tf.transfer.diffusion import (cam_supported_objectness, diffuse, labels_from_scores,
                                        make_seeds, transfer_labels)

PARAMS = dict(fg_high=0.6, fg_low=0.3, cam_threshold=0.2, alpha=0.9, steps=20, radius=2,
              sigma_color=0.1, sigma_feat=0.5, confidence=0.2)
# XLA compiles once per shape (about 1 s each on CPU): most tests run the plain graph, and the
# tests marked below compare the two paths.
FAST = dict(jit_compile=False)


def two_blobs(seed=0, h=64, w=64):
    """Two blobs of different colours on a noisy background; objectness high on both blobs;
    K = 3 categories, 0 and 2 present. Each present CAM peaks on the centre of its blob and
    only partly covers it; the absent category 1 has the strongest CAM, over everything."""
    rng = np.random.default_rng(seed)
    gt = np.zeros((h, w), np.int32)
    gt[8:30, 6:30] = 1
    gt[36:60, 34:60] = 3
    image = np.empty((h, w, 3), np.float32)
    for value, colour in ((0, (90, 110, 140)), (1, (220, 40, 40)), (3, (40, 200, 60))):
        image[gt == value] = colour
    image = np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.float32)
    objectness = np.where(gt > 0, 0.95, 0.03).astype(np.float32)
    yy, xx = (np.mgrid[0:h // 8, 0:w // 8] + 0.5) * 8

    def bump(cy, cx, s):
        return np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))

    cams = np.stack([6 * bump(19, 18, 5), 9 * bump(48, 47, 20), 4 * bump(48, 47, 5)], -1)
    features = rng.normal(size=(h // 8, w // 8, 16)).astype(np.float32)
    present = np.array([1, 0, 1], np.float32)
    return (image[None], objectness[None], cams[None].astype(np.float32), features[None],
            present[None], gt)


def iou(a, b):
    return np.logical_and(a, b).sum() / np.logical_or(a, b).sum()


@pytest.mark.parametrize("scale,jit", [(1.0, False), (0.5, True)])
def test_two_blobs_each_labelled_whole_from_a_partial_cam(scale, jit):
    image, m, cams, feats, present, gt = two_blobs()
    cams_n = tf.image.resize(cams, gt.shape).numpy()
    seeded = (cams_n[0, ..., 0] / cams_n[0, ..., 0].max() > 0.2) & (gt == 1)
    assert seeded.sum() < 0.7 * (gt == 1).sum()  # the CAM covers only part of the blob
    lab = transfer_labels(image, m, cams, feats, present, scale=scale, jit_compile=jit,
                          **PARAMS).numpy()[0]
    assert iou(lab == 1, gt == 1) > 0.9
    assert iou(lab == 3, gt == 3) > 0.9
    assert iou(lab == 0, gt == 0) > 0.9
    assert lab[19, 18] == 1 and lab[48, 47] == 3  # blob centres
    assert lab[0, 63] == 0 and lab[63, 0] == 0 and lab[2, 40] == 0  # far background
    assert set(np.unique(lab)) <= {0, 1, 3, 255}  # absent category 1 (id 2) never appears


def random_inputs(rng, b, h, w, k, cells):
    """Random images [b, h, w, 3], objectness, CAMs [b, *cells, k] and 8-channel features."""
    image = rng.uniform(0, 255, (b, h, w, 3)).astype(np.float32)
    m = rng.uniform(0, 1, (b, h, w)).astype(np.float32)
    cams = rng.normal(size=(b, *cells, k)).astype(np.float32)
    feats = rng.normal(size=(b, *cells, 8)).astype(np.float32)
    return image, m, cams, feats


def test_absent_categories_never_appear(rng):
    b, h, w, k = 3, 24, 32, 5
    image, m, cams, feats = random_inputs(rng, b, h, w, k, (3, 4))
    present = np.array([[0, 1, 0, 0, 1], [0, 0, 0, 0, 0], [1, 1, 1, 0, 0]], np.float32)
    params = dict(PARAMS, confidence=0.0, steps=5)
    lab = transfer_labels(image, m, cams, feats, present, **params, **FAST).numpy()
    assert lab.shape == (b, h, w) and lab.dtype == np.int32
    for i in range(b):
        allowed = {0, 255} | {c + 1 for c in np.nonzero(present[i])[0]}
        assert set(np.unique(lab[i])) <= allowed
    assert set(np.unique(lab[0])) >= {0}


def test_odd_sizes_and_batch_shapes(rng):
    image = rng.uniform(0, 255, (2, 37, 53, 3)).astype(np.float32)
    m = rng.uniform(0, 1, (2, 37, 53, 1)).astype(np.float32)
    cams = rng.normal(size=(2, 5, 7, 3)).astype(np.float32)
    feats = rng.normal(size=(2, 5, 7, 4)).astype(np.float32)
    present = np.array([[1, 0, 0], [0, 1, 1]], np.float32)
    for scale in (1.0, 0.5):
        lab = transfer_labels(image, m, cams, feats, present, scale=scale,
                              **dict(PARAMS, steps=3), **FAST)
        assert lab.shape == (2, 37, 53)


def bar(h=16, w=48):
    """One uniform object filling the image (M = 1 everywhere, so no background seed); a CAM of
    category 0 peaks at its left end and one of category 1 at its right end."""
    image = np.full((1, h, w, 3), 120.0, np.float32)
    m = np.ones((1, h, w), np.float32)
    cams = np.zeros((1, 2, 6, 2), np.float32)
    cams[0, :, 0, 0] = 1.0
    cams[0, :, 5, 1] = 1.0
    return image, m, cams, np.ones((1, 2), np.float32)


def test_confidence_threshold_marks_contested_pixels_255():
    image, m, cams, present = bar()
    params = dict(PARAMS, cam_threshold=0.5, sigma_feat=None, steps=40, scale=1.0)
    loose = transfer_labels(image, m, cams, None, present, **dict(params, confidence=0.0), **FAST)
    strict = transfer_labels(image, m, cams, None, present, **dict(params, confidence=0.8),
                             **FAST)
    loose, strict = loose.numpy()[0], strict.numpy()[0]
    assert np.all(loose != 255)
    assert np.all(loose[:, :6] == 1) and np.all(loose[:, -6:] == 2)
    # The middle of the bar is reached by both categories about equally: share ~ 0.5 < 0.8.
    assert np.all(strict[:, 22:26] == 255)
    assert np.all(strict[:, :6] == 1) and np.all(strict[:, -6:] == 2)


def test_unknown_pixels_no_seed_reached_get_255():
    image, m, cams, present = bar()
    m[:] = 0.45  # between fg_low and fg_high: unknown, not background
    m[:, :, :8] = 1.0
    params = dict(PARAMS, cam_threshold=0.5, sigma_feat=None, steps=2, radius=1, scale=1.0,
                  confidence=0.0)
    lab = transfer_labels(image, m, cams, None, np.array([[1, 0]], np.float32), **params, **FAST)
    lab = lab.numpy()[0]
    assert np.all(lab[:, :6] == 1)
    assert np.all(lab[:, 12:] == 255)  # more than steps * radius pixels from any seed


def test_labels_from_scores_confidence_and_mass():
    s = np.array([[[[0.2, 0.5, 0.3], [0.0, 0.0, 0.0], [0.1, 0.0, 0.9], [1e-4, 0.0, 0.0],
                    [0.0, 0.9, 0.0]]]], np.float32)
    present = np.array([[1, 1]], np.float32)
    lab = labels_from_scores(s, present, confidence=0.6, min_mass=1e-3).numpy()[0, 0]
    assert lab.tolist() == [255, 255, 2, 255, 1]
    lab = labels_from_scores(s, present, confidence=0.4, min_mass=0.0).numpy()[0, 0]
    assert lab.tolist() == [1, 255, 2, 0, 1]
    # An absent category never wins, even with the largest score.
    lab = labels_from_scores(s, np.array([[1, 0]], np.float32), 0.0).numpy()[0, 0]
    assert lab.tolist() == [1, 255, 0, 255, 1]


def test_make_seeds():
    m = np.array([[[0.9, 0.9, 0.5, 0.1]]], np.float32)
    cams = np.array([[[[0.8, 0.9, 0.0], [0.1, 0.15, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]]],
                    np.float32)
    present = np.array([[1, 0, 1]], np.float32)
    s0 = make_seeds(m, cams, present, fg_high=0.6, fg_low=0.3, cam_threshold=0.2).numpy()[0, 0]
    np.testing.assert_array_equal(s0, [[0, 1, 0, 0],   # absent category 1 is skipped
                                       [0, 0, 0, 0],   # CAM below cam_threshold: unknown
                                       [0, 0, 0, 0],   # M between thresholds: unknown
                                       [1, 0, 0, 0]])  # M < fg_low: background
    with pytest.raises(ValueError, match="fg_low"):
        make_seeds(m, cams, present, fg_high=0.3, fg_low=0.6, cam_threshold=0.2)


def random_p(rng, shape, radius):
    p = rng.uniform(size=shape + ((2 * radius + 1) ** 2,)).astype(np.float32)
    return p / p.sum(-1, keepdims=True)


@pytest.mark.parametrize("jit", [True, False])
def test_diffuse_alpha_zero_returns_seeds_and_one_step_matches_numpy(rng, jit):
    s0 = rng.uniform(size=(2, 9, 11, 3)).astype(np.float32)
    p = random_p(rng, (2, 9, 11), 1)
    np.testing.assert_allclose(diffuse(s0, p, 0.0, 5, 1, jit_compile=jit).numpy(), s0)
    out = diffuse(s0, p, 0.7, 1, 1, jit_compile=jit).numpy()
    padded = np.pad(s0, ((0, 0), (1, 1), (1, 1), (0, 0)))
    ps = sum(p[..., n:n + 1] * padded[:, 1 + dy:10 + dy, 1 + dx:12 + dx]
             for n, (dy, dx) in enumerate(window_offsets(1)))
    np.testing.assert_allclose(out, 0.7 * ps + 0.3 * s0, atol=1e-5)


def test_diffuse_foreground_mask_and_mass_bound(rng):
    s0 = np.zeros((1, 10, 10, 2), np.float32)
    s0[0, :, :2, 0] = 1.0
    s0[0, :, 4:6, 1] = 1.0
    fg = np.zeros((1, 10, 10), bool)
    fg[0, :, 3:8] = True
    p = random_p(rng, (1, 10, 10), 2)
    out = diffuse(s0, p, 0.9, 10, 2, fg_mask=fg, **FAST).numpy()
    assert np.all(out[0, :, :3, 1] == 0) and np.all(out[0, :, 8:, 1] == 0)
    assert out[0, :, 8:, 0].min() > 0  # background spreads freely
    assert out.min() >= 0 and out.sum(-1).max() <= 1 + 1e-5


def test_affinity_rows_sum_to_one_and_borders_are_zero(rng):
    image = rng.uniform(0, 255, (2, 7, 9, 3)).astype(np.float32)
    feats = rng.normal(size=(2, 2, 3, 5)).astype(np.float32)
    p = local_affinity(image, feats, radius=2, sigma_color=0.3, sigma_feat=0.5, **FAST).numpy()
    assert p.shape == (2, 7, 9, 25)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-5)
    offsets = window_offsets(2)
    for n, (dy, dx) in enumerate(offsets):
        if dy < 0 or dx < 0:
            assert np.all(p[:, 0, 0, n] == 0)  # outside the image at the top-left corner


def test_affinity_across_a_colour_edge_is_negligible():
    image = np.zeros((1, 8, 8, 3), np.float32)
    image[:, :, 4:] = 255.0
    p = local_affinity(image, None, radius=1, sigma_color=0.1, **FAST).numpy()[0]
    left, right = window_offsets(1).index((0, -1)), window_offsets(1).index((0, 1))
    # Pixel (4, 3) is the last dark one: its right neighbour is bright.
    assert p[4, 3, right] < 1e-6 * p[4, 3, left]
    assert p[4, 3, left] == pytest.approx(1.0 / 6.0)  # 6 dark neighbours incl. itself


def direct_affinity(image, feats, radius, sigma_color, sigma_feat):
    """The definition, computed directly: features resized bilinearly to every pixel."""
    b, h, w, _ = image.shape
    colour = image / 255.0
    f = tf.math.l2_normalize(feats, -1)
    f = tf.math.l2_normalize(tf.image.resize(f, (h, w)), -1).numpy()
    out = np.zeros((b, h, w, (2 * radius + 1) ** 2))
    for n, (dy, dx) in enumerate(window_offsets(radius)):
        for y in range(max(0, -dy), min(h, h - dy)):
            x0, x1 = max(0, -dx), min(w, w - dx)
            d = ((colour[:, y, x0:x1] - colour[:, y + dy, x0 + dx:x1 + dx]) ** 2).sum(-1)
            df = ((f[:, y, x0:x1] - f[:, y + dy, x0 + dx:x1 + dx]) ** 2).sum(-1)
            out[:, y, x0:x1, n] = np.exp(-d / sigma_color ** 2 - df / sigma_feat ** 2)
    return out / out.sum(-1, keepdims=True)


@pytest.mark.parametrize("cells,pixels,radius,jit", [
    ((5, 7), (37, 53), 2, True), ((1, 3), (5, 9), 2, False), ((4, 4), (16, 16), 1, False),
    ((3, 5), (3, 5), 2, False)])
def test_feature_affinity_equals_resizing_the_features(rng, cells, pixels, radius, jit):
    image = rng.uniform(0, 255, (2, *pixels, 3)).astype(np.float32)
    feats = rng.normal(size=(2, *cells, 16)).astype(np.float32)
    ref = direct_affinity(image, feats, radius, 0.5, 1.0)
    p = local_affinity(image, feats, radius, 0.5, 1.0, jit_compile=jit).numpy()
    np.testing.assert_allclose(p, ref, atol=2e-6)


def test_in_a_tf_function_with_unknown_shapes_and_half_precision_inputs():
    # As the transfer stage calls it: inside a tf.function whose inputs have unknown sizes, with
    # the L-Net outputs possibly in a low-precision dtype.
    image, m, cams, feats, present, gt = two_blobs()
    params = dict(PARAMS, steps=10)
    eager = transfer_labels(image, m, cams, feats, present, **params).numpy()
    spec = [tf.TensorSpec([None, None, None, 3]), tf.TensorSpec([None, None, None]),
            tf.TensorSpec([None, None, None, 3], tf.bfloat16),
            tf.TensorSpec([None, None, None, None], tf.bfloat16), tf.TensorSpec([None, 3])]
    fn = tf.function(lambda *a: transfer_labels(*a, **params), input_signature=spec)
    out = fn(image, m, tf.cast(cams, tf.bfloat16), tf.cast(feats, tf.bfloat16), present).numpy()
    assert out.shape == gt[None].shape
    assert (out == eager).mean() > 0.99  # bfloat16 rounding may move a few edge pixels
    assert iou(out[0] == 1, gt == 1) > 0.9 and iou(out[0] == 3, gt == 3) > 0.9


def test_cam_supported_objectness():
    m = np.array([[[0.1, 0.9], [0.2, 0.05]]], np.float32)
    cams = np.zeros((1, 2, 2, 2), np.float32)
    cams[0, 0, 0] = [1.0, 0.2]
    cams[0, 1, 0] = [0.1, 0.3]
    np.testing.assert_array_equal(cam_supported_objectness(m, cams, 0.0), m)
    np.testing.assert_allclose(cam_supported_objectness(m, cams, 0.8),
                               [[[0.8, 0.9], [0.24, 0.05]]], rtol=1e-6)


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_cam_objectness_labels_an_object_the_objectness_misses(scale):
    """Blob 2's objectness is background-low everywhere (a weak category M does not see as an
    object): with M alone the blob is labelled background; with cam_objectness the part that
    its (narrow) present CAM covers becomes foreground and takes its category, nothing outside
    the blob does, and blob 1 is unchanged."""
    image, m, cams, feats, present, gt = two_blobs()
    m = m.copy()
    m[0][gt == 3] = 0.03
    base = transfer_labels(image, m, cams, feats, present, scale=scale, **FAST,
                           **PARAMS).numpy()[0]
    assert (base[gt == 3] == 3).mean() < 0.05
    lab = transfer_labels(image, m, cams, feats, present, scale=scale, cam_objectness=0.8,
                          **FAST, **PARAMS).numpy()[0]
    assert lab[48, 47] == 3 and (lab[gt == 3] == 3).mean() > 0.2
    assert ((lab == 3) & (gt != 3)).sum() == 0
    assert iou(lab == 1, gt == 1) > 0.85
    assert lab[0, 63] == 0 and lab[63, 0] == 0  # far background stays background


def test_compiled_and_plain_transfer_give_the_same_labels(rng):
    # The compiled path splits the work differently (plain-op transition maps and resize, XLA
    # walk and argmax); it must label like the plain graph, up to float rounding at ties.
    image, m, cams, feats = random_inputs(rng, 2, 48, 40, 4, (6, 5))
    present = np.array([[1, 0, 1, 0], [0, 1, 1, 1]], np.float32)
    params = dict(PARAMS, confidence=0.6, steps=8, cam_objectness=0.8)
    plain = transfer_labels(image, m, cams, feats, present, **params, **FAST).numpy()
    fast = transfer_labels(image, m, cams, feats, present, jit_compile=True, **params).numpy()
    assert (plain == fast).mean() > 0.999
    assert len(np.unique(plain)) > 2  # several classes and ignore: a real comparison
