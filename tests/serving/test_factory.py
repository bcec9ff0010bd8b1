"""Training, evaluation and serving build their models through tsss_tf.models.factory."""

import pytest

from tsss_tf.config import ModelConfig
from tsss_tf.models import factory
from tsss_tf.models.backbones import backbone_names
from tsss_tf.training import builders


def test_training_builds_through_the_factory():
    for name in ("backbone_kwargs", "build_lnet", "build_pnet", "build_discriminator"):
        assert getattr(builders, name) is getattr(factory, name), name


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
