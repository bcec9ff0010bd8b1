"""tsss_tf.models.factory builds the P-Net that training builds from the same config."""

import pytest

from tsss_tf.config import ModelConfig
from tsss_tf.models import factory
from tsss_tf.models.backbones import backbone_names
from tsss_tf.training import builders


@pytest.mark.parametrize("backbone", backbone_names())
def test_backbone_kwargs_match_training(backbone):
    cfg = ModelConfig(backbone=backbone, backbone_width=8, output_stride=16)
    assert factory.backbone_kwargs(cfg) == builders.backbone_kwargs(cfg)


def test_pnet_config_matches_training():
    cfg = ModelConfig(backbone_width=8, head_width=16, pnet_head="aspp", head_dropout=0.3)
    ours = factory.build_pnet(cfg, 5).get_config()
    theirs = builders.build_pnet(cfg, 5).get_config()
    ours.pop("name"), theirs.pop("name")
    assert ours == theirs
