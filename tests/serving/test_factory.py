"""Training, evaluation and serving build their models through tsss_tf.models.factory."""

import numpy as np
import pytest
import tensorflow as tf

from tsss_tf.config import ModelConfig
from tsss_tf.models import factory
from tsss_tf.models.backbones import backbone_names
from tsss_tf.training import builders


@pytest.mark.parametrize("kind", ["lnet", "pnet", "discriminator"])
def test_a_training_checkpoint_restores_into_the_factory_model(kind, tmp_path):
    """From one config, the training loops' builders and the factory (evaluation, export,
    serving) make the same model: the same config and the same checkpoint layout, every weight
    of a training checkpoint restored."""
    cfg = ModelConfig(backbone_width=8, head_width=16, disc_width=8)
    num = 4
    trained = getattr(builders, f"build_{kind}")(cfg, num)
    rebuilt = getattr(factory, f"build_{kind}")(cfg, num)
    extra = (tf.zeros([1, 32, 32, num]),) if kind == "discriminator" else ()
    for model in (trained, rebuilt):
        builders.build_variables(model, 32, *extra)
    assert type(rebuilt) is type(trained)
    without_name = (lambda c: {k: v for k, v in c.items() if k != "name"})
    assert without_name(rebuilt.get_config()) == without_name(trained.get_config())
    rng = np.random.default_rng(0)
    for v in trained.weights:
        v.assign(rng.normal(size=v.shape).astype(v.dtype))
    path = tf.train.Checkpoint(model=trained).write(str(tmp_path / "ckpt"))
    tf.train.Checkpoint(model=rebuilt).read(path).assert_consumed()
    assert len(rebuilt.weights) == len(trained.weights)
    for a, b in zip(trained.weights, rebuilt.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


@pytest.mark.parametrize("backbone", backbone_names())
def test_backbone_kwargs(backbone):
    cfg = ModelConfig(backbone=backbone, backbone_width=8, output_stride=16,
                      backbone_weights="some.npz")
    kw = factory.backbone_kwargs(cfg)
    assert kw["output_stride"] == 16 and kw["weights"] == "some.npz"
    assert ("width" in kw) == (backbone == "simple")
    assert ("freeze_bn" in kw) == (backbone == "efficientnet_lite0")


def test_saved_config_does_not_carry_the_weights_source():
    cfg = ModelConfig(backbone_width=8, head_width=16, pnet_head="aspp", head_dropout=0.3)
    pnet = factory.build_pnet(cfg, 5)
    pnet.backbone_kwargs["weights"] = "/gone/weights.npz"  # as a pretrained config would set
    assert "weights" not in pnet.get_config()["backbone_kwargs"]
    assert pnet.get_config()["head_kwargs"]["dropout"] == 0.3
