import numpy as np
import pytest
import tensorflow as tf

from tests.models.harness import run_layer_test
from tsss_tf.models import LNet, pool_cams
from tsss_tf.models.backbones import SimpleBackbone

TINY = {"width": 8, "stage3_blocks": 1}


def _images(b, h, w, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, size=(b, h, w, 3)).astype("float32")


def _lse_reference(cams, r):
    x = cams.astype(np.float64)
    return np.log(np.mean(np.exp(r * x), axis=(1, 2))) / r


@pytest.mark.parametrize("r", [0.5, 5.0, 20.0])
def test_lse_pooling_matches_numpy(r):
    cams = np.random.default_rng(1).normal(size=(3, 4, 6, 5)).astype("float32")
    got = pool_cams(tf.constant(cams), "lse", r).numpy()
    np.testing.assert_allclose(got, _lse_reference(cams, r), rtol=1e-5, atol=1e-5)
    assert np.all(got >= cams.mean(axis=(1, 2)) - 1e-5) and np.all(got <= cams.max(axis=(1, 2)))


def test_lse_pooling_is_stable_and_gap_is_mean():
    cams = np.full((1, 3, 3, 2), 1000.0, "float32")
    cams[0, 0, 0, 1] = -1000.0
    got = pool_cams(tf.constant(cams), "lse", 10.0).numpy()
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got[0, 0], 1000.0, rtol=1e-6)
    np.testing.assert_allclose(got[0, 1], 1000.0 + np.log(8 / 9) / 10.0, rtol=1e-6)
    np.testing.assert_allclose(pool_cams(tf.constant(cams), "gap").numpy(),
                               cams.mean(axis=(1, 2)), rtol=1e-6)


def test_lnet_layer_test_and_odd_sizes():
    lnet = run_layer_test(
        LNet, {"num_categories": 3, "backbone_kwargs": TINY, "objectness_width": 8},
        _images(2, 50, 70),
        {"objectness_logits": (2, 50, 70, 1), "cams": (2, 7, 9, 3), "class_logits": (2, 3),
         "features": (2, 7, 9, 16)})
    assert lnet.output_stride == 8
    out = lnet(_images(1, 29, 41))
    assert tuple(out["objectness_logits"].shape) == (1, 29, 41, 1)
    assert tuple(out["cams"].shape) == (1, 4, 6, 3)
    np.testing.assert_allclose(out["class_logits"].numpy(),
                               _lse_reference(out["cams"].numpy(), 5.0), rtol=1e-4, atol=1e-5)


def test_lnet_gap_stride16_and_backbone_instance():
    backbone = SimpleBackbone(width=8, output_stride=16, stage3_blocks=1)
    lnet = run_layer_test(
        LNet, {"num_categories": 2, "backbone": backbone, "pooling": "gap",
               "objectness_width": 8},
        _images(1, 40, 40),
        {"objectness_logits": (1, 40, 40, 1), "cams": (1, 3, 3, 2), "class_logits": (1, 2),
         "features": (1, 3, 3, 16)})
    assert isinstance(lnet.get_config()["backbone"], dict)


def test_lnet_rejects_bad_pooling():
    with pytest.raises(ValueError):
        LNet(3, pooling="max")


def test_explicit_build_creates_all_variables():
    lnet = LNet(3, backbone_kwargs=TINY, objectness_width=8)
    lnet.build((None, None, None, 3))
    n = len(lnet.weights)
    lnet(_images(1, 16, 16))
    assert len(lnet.weights) == n
