"""The backbones: Keras layers that map images to features for the models' heads.

A backbone is a `Backbone` (`tsss_tf.models.backbones.base`: the contract, `output_stride`,
`output_channels`, `compute_output_shape`, `weights`). It is registered under a name with
`@register_backbone(name)` and built with `get_backbone(name, **kwargs)`
(`tsss_tf.models.backbones.registry`); the models (`LNet`, `PNet`) store only the name and the
kwargs in their config.

Registered here: "simple" (`SimpleBackbone`, trained from scratch), "efficientnet_lite0"
(`EfficientNetLite0`; weights "imagenet" come offline from the `pretrained` extra) and "vgg16"
(`VGG16Backbone`, DeepLab-LargeFOV style; weights "imagenet" need a network, "hed_bsds500" are
offline and edge-tuned). `split_backbone_variables(model)` tells a training loop which variables
are the backbone's (for a backbone learning-rate multiplier or a frozen backbone).

Example:
>>> from tsss_tf.models.backbones import get_backbone, backbone_names
>>> "simple" in backbone_names()
True
>>> backbone = get_backbone("simple", width=8)
>>> (backbone.output_stride, backbone.output_channels)
(8, 16)
"""

from tsss_tf.models.backbones.base import Backbone
from tsss_tf.models.backbones.registry import (backbone_names, build_backbone, get_backbone,
                                               register_backbone, serialize_backbone)
# The backbone modules register themselves on import: "simple", "efficientnet_lite0", "vgg16".
from tsss_tf.models.backbones.simple import SimpleBackbone
from tsss_tf.models.backbones.efficientnet_lite import EfficientNetLite0
from tsss_tf.models.backbones.vgg import VGG16Backbone
from tsss_tf.models.backbones.params import backbone_variables, split_backbone_variables

__all__ = ["Backbone", "register_backbone", "get_backbone", "backbone_names", "build_backbone",
           "serialize_backbone", "SimpleBackbone", "EfficientNetLite0", "VGG16Backbone",
           "backbone_variables", "split_backbone_variables"]
