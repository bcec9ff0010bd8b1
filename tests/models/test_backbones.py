"""Every registered backbone keeps the `Backbone` contract the models rely on."""

import numpy as np
import pytest

from tsss_tf.models import LNet, PNet
from tsss_tf.models.backbone_model import BackboneModel
from tsss_tf.models.backbones import Backbone, backbone_names, get_backbone


@pytest.mark.parametrize("name", backbone_names())
def test_registered_backbone_keeps_the_contract(name):
    backbone = get_backbone(name, output_stride=16)
    assert isinstance(backbone, Backbone) and type(backbone).backbone_name == name
    s, c = backbone.output_stride, backbone.output_channels
    assert s == 16
    images = np.zeros((2, 33, 50, 3), "float32")
    assert tuple(backbone(images).shape) == backbone.compute_output_shape(images.shape)
    assert backbone.compute_output_shape((None, None, 50, 3)) == (None, None, -(-50 // s), c)
    config = backbone.get_config()
    assert config["weights"] is None and config["output_stride"] == s


def test_the_models_with_a_backbone_share_one_base():
    for model in (LNet(2, backbone_kwargs={"width": 4}), PNet(3, backbone_kwargs={"width": 4})):
        assert isinstance(model, BackboneModel)
        assert model.output_stride == model.backbone.output_stride == 8
        assert model.backbone_norm == model.backbone.norm == "group"
