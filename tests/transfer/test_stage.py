"""Test-time views of the L-Net for the label transfer (tsss_tf.transfer.stage)."""

import numpy as np
import pytest
import tensorflow as tf

from tsss_tf.config import ConfigError, ExperimentConfig, TransferConfig
from tsss_tf.transfer.stage import NO_AUGMENTATION, augmentation, lnet_views


class RampLNet:
    """A stand-in L-Net at output stride 4 that ignores the image's content: its objectness
    logits are the column index (0 .. W - 1), so it is not mirror-symmetric; its CAMs and
    features are the mean colour of each 4 x 4 cell. Records the input shapes it is called
    on."""

    def __init__(self):
        self.calls = []

    def __call__(self, images, training=False):
        assert training is False
        self.calls.append(tuple(images.shape))
        b, h, w = tf.shape(images)[0], tf.shape(images)[1], tf.shape(images)[2]
        ramp = tf.cast(tf.range(w), tf.float32)[None, None, :, None]
        objectness = tf.tile(ramp, [b, h, 1, 1])
        cells = tf.nn.avg_pool2d(images, 4, 4, "SAME")
        return {"objectness_logits": objectness, "cams": cells[..., :2],
                "features": cells, "class_logits": tf.zeros([b, 2])}


def test_one_scale_without_flip_is_the_plain_lnet():
    images = tf.random.uniform([2, 16, 24, 3], 0, 255, seed=1)
    lnet = RampLNet()
    plain = lnet(images)
    views = lnet_views(lnet, images)
    for key in ("objectness_logits", "cams", "features"):
        assert views[key].dtype == tf.float32
        np.testing.assert_allclose(views[key].numpy(), plain[key].numpy(), rtol=1e-6)


def test_flip_averages_each_output_with_its_mirror_mirrored_back():
    """The mirrored view's ramp comes back reversed, so the average of W-1-x and x is the
    constant (W-1)/2; on a mirror-symmetric image the CAMs are unchanged."""
    half = np.random.default_rng(0).uniform(0, 255, (1, 16, 12, 3)).astype(np.float32)
    images = tf.constant(np.concatenate([half, half[:, :, ::-1]], axis=2))  # symmetric
    lnet = RampLNet()
    views = lnet_views(lnet, images, flip=True)
    assert lnet.calls == [(1, 16, 24, 3), (1, 16, 24, 3)]
    np.testing.assert_allclose(views["objectness_logits"].numpy(), 11.5, rtol=1e-6)
    np.testing.assert_allclose(views["cams"].numpy(), lnet(images)["cams"].numpy(), rtol=1e-5)


def test_scales_run_resized_images_and_average_on_the_finest_grid():
    """Each scale runs the L-Net on the resized image; objectness comes back at the image size,
    CAMs and features at the grid of the largest scale. On a flat image every view agrees."""
    images = tf.fill([2, 32, 32, 3], 100.0)
    lnet = RampLNet()
    views = lnet_views(lnet, images, scales=(0.5, 1.0, 2.0), flip=True)
    assert sorted(set(lnet.calls)) == [(2, 16, 16, 3), (2, 32, 32, 3), (2, 64, 64, 3)]
    assert len(lnet.calls) == 6
    assert views["objectness_logits"].shape == (2, 32, 32, 1)
    assert views["cams"].shape == (2, 16, 16, 2)
    assert views["features"].shape == (2, 16, 16, 3)
    np.testing.assert_allclose(views["cams"].numpy(), 100.0, rtol=1e-5)
    np.testing.assert_allclose(views["features"].numpy(), 100.0, rtol=1e-5)


@pytest.mark.parametrize("scales", [(), (0.0,), (1.0, -0.5)])
def test_bad_scales_are_a_config_error_naming_the_field(scales):
    cfg = ExperimentConfig(transfer=TransferConfig(scales=scales))
    with pytest.raises(ConfigError, match="transfer.scales"):
        cfg.validate()


def test_augmentation_reads_the_config():
    assert augmentation(TransferConfig()) == NO_AUGMENTATION == {"scales": (1.0,), "flip": False}
    assert augmentation(TransferConfig(scales=(0.75, 1, 1.25), flip=True)) == {
        "scales": (0.75, 1.0, 1.25), "flip": True}
