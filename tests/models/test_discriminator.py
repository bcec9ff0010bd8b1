import numpy as np
import pytest

from tests.models.harness import run_layer_test
from tsss_tf.models import Discriminator


def _pair(b, h, w, k, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, size=(b, h, w, 3)).astype("float32")
    maps = np.eye(k, dtype="float32")[rng.integers(0, k, size=(b, h, w))]
    return images, maps


@pytest.mark.parametrize("use_image", [True, False])
def test_discriminator_layer_test(use_image):
    run_layer_test(Discriminator, {"num_classes": 4, "use_image": use_image, "width": 8},
                   _pair(2, 50, 70, 4), (2, 7, 9, 1))


def test_map_only_ignores_the_image():
    d = Discriminator(3, use_image=False, width=8)
    images, maps = _pair(1, 32, 32, 3)
    np.testing.assert_array_equal(d((images, maps)).numpy(), d((images * 0, maps)).numpy())
    d_img = Discriminator(3, use_image=True, width=8)
    assert not np.allclose(d_img((images, maps)).numpy(), d_img((images * 0, maps)).numpy())


def test_input_noise_only_in_training():
    d = Discriminator(3, width=8, input_noise=0.3)
    pair = _pair(1, 16, 16, 3)
    np.testing.assert_array_equal(d(pair).numpy(), d(pair).numpy())
    assert not np.allclose(d(pair).numpy(), d(pair, training=True).numpy())


def test_explicit_build_creates_all_variables():
    d = Discriminator(3, width=8)
    d.build(((None, None, None, 3), (None, None, None, 3)))
    n = len(d.weights)
    d(_pair(1, 16, 16, 3))
    assert len(d.weights) == n == 8
