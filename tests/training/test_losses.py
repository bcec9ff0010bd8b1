"""Per-example losses on hand-made cases."""

import numpy as np
import pytest
import tensorflow as tf

from tsss_tf.training import losses


def _bce(z, y):
    return np.maximum(z, 0) - z * y + np.log1p(np.exp(-abs(z)))


def test_cam_dense_loss_hand_case():
    # 2 images, 4x4 masks, CAMs at 2x2 (stride 2), K = 2 categories, 1 background class.
    mask = np.zeros((2, 4, 4), np.int32)
    mask[0, :2, :2] = 1          # top-left cell: category 0 (class id 1)
    mask[0, 2:, 2:] = 255        # bottom-right cell: ignored
    mask[1] = 2                  # second image: all category 1, but it is weak
    cams = np.zeros((2, 2, 2, 2), np.float32)
    cams[0, 0, 0] = [3.0, -1.0]  # right class high
    cams[0, 0, 1] = [0.5, 0.5]   # background pixel: both should be low
    strong = np.array([1.0, 0.0], np.float32)
    out = losses.cam_dense_loss(cams, mask, strong, num_background=1).numpy()
    # Image 0: valid cells (0,0) target [1,0], (0,1) and (1,0) target [0,0]; (1,1) ignored.
    cells = [(_bce(3.0, 1) + _bce(-1.0, 0)) / 2, (_bce(0.5, 0) * 2) / 2, _bce(0.0, 0)]
    assert out[0] == pytest.approx(np.mean(cells), rel=1e-5)
    assert out[1] == 0.0  # weak images contribute nothing


def test_cam_dense_loss_falls_when_cams_match_the_mask():
    mask = np.zeros((1, 8, 8), np.int32)
    mask[0, :4] = 1
    good = np.full((1, 4, 4, 1), -4.0, np.float32)
    good[0, :2] = 4.0
    strong = np.ones([1], np.float32)
    assert (losses.cam_dense_loss(good, mask, strong).numpy()[0]
            < losses.cam_dense_loss(-good, mask, strong).numpy()[0] / 10)
    assert tf.reduce_all(tf.math.is_finite(losses.cam_dense_loss(good, mask, strong)))
