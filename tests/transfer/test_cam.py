import numpy as np
import pytest
import tensorflow as tf

from tsss_tf.transfer.cam import normalize_cams


def _cams(rng, b=2, h=5, w=7, k=4):
    return rng.normal(size=(b, h, w, k)).astype(np.float32) * 3.0


def test_range_peak_and_absent_maps(rng):
    cams = _cams(rng)
    present = np.array([[1, 0, 1, 1], [0, 1, 0, 0]], np.float32)
    out = normalize_cams(cams, present).numpy()
    assert out.shape == cams.shape
    assert out.min() >= 0.0 and out.max() <= 1.0
    for b in range(2):
        for k in range(4):
            if present[b, k]:
                assert out[b, ..., k].max() == pytest.approx(1.0)
                assert out[b, ..., k].min() == pytest.approx(0.0)
                # Min-max over the image: an affine map of the raw values, order kept.
                c = cams[b, ..., k]
                np.testing.assert_allclose(out[b, ..., k], (c - c.min()) / (c.max() - c.min()),
                                           atol=1e-6)
            else:
                assert np.all(out[b, ..., k] == 0)


def test_invariant_to_the_scale_and_offset_of_the_raw_maps(rng):
    # The normalisation depends on the maps alone, not on how the classification head pooled
    # them (global average or log-sum-exp) nor on their raw scale or bias.
    cams = _cams(rng)
    present = np.ones((2, 4), np.float32)
    np.testing.assert_allclose(normalize_cams(cams, present).numpy(),
                               normalize_cams(7.5 * cams - 4.0, present).numpy(), atol=1e-5)


def test_constant_map_is_zero_and_an_all_negative_map_keeps_its_peak():
    # Map 0 is constant: no location, all zero, no NaN. Map 1 is negative everywhere (a
    # classifier whose bias dominates) but peaks at (1, 1): the peak survives as 1 (a ReLU
    # before the scaling would have erased it).
    cams = np.full((1, 3, 3, 2), -2.0, np.float32)
    cams[0, 1, 1, 1] = -0.5
    out = normalize_cams(cams, np.ones((1, 2), np.float32)).numpy()
    assert np.all(out[..., 0] == 0) and not np.isnan(out).any()
    assert out[0, 1, 1, 1] == pytest.approx(1.0)
    assert np.count_nonzero(out[..., 1]) == 1


@pytest.mark.parametrize("size", [(37, 53), (8, 8), (1, 3)])
def test_resize_to_odd_sizes(rng, size):
    cams = _cams(rng, b=1, h=5, w=7, k=3)
    out = normalize_cams(cams, np.array([[1, 1, 0]], np.float32), size=size)
    assert out.shape.as_list() == [1, *size, 3]
    out = out.numpy()
    assert out.min() >= 0.0 and out.max() <= 1.0 + 1e-6
    assert np.all(out[..., 2] == 0)
    # The same as resizing first and normalising after.
    ref = tf.image.resize(cams, size).numpy()[..., :2]
    low = ref.min(axis=(1, 2), keepdims=True)
    ref = (ref - low) / np.maximum(ref.max(axis=(1, 2), keepdims=True) - low, 1e-5)
    np.testing.assert_allclose(out[..., :2], ref, atol=1e-6)
