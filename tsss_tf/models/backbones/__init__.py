"""Backbone registry.

A backbone is a Keras layer (or model) that maps images, float32 RGB in [0, 255] of shape
[B, H, W, 3], to features [B, ceil(H / s), ceil(W / s), C]. It normalises its input itself and has
the attributes

- `output_stride` (s, 8 or 16) and
- `output_channels` (C),

and the methods `call(images, training=False)`, `build(input_shape)` and
`compute_output_shape(input_shape)` (the models build their heads from it, so that
`model.build((None, None, None, 3))` creates every variable, e.g. inside a `tf.distribute`
strategy scope). It is registered under a name with `@register_backbone(name)` and built with
`get_backbone(name, **kwargs)`; the models (`LNet`, `PNet`) store only the name and the kwargs in
their config.

Pretrained backbones take a `weights` argument (None for random initialisation; a path or a tag
such as "imagenet" to load pretrained weights at construction). Their `get_config` must report
`weights=None`: a saved `.keras` model carries the trained weights itself, and reloading it must
not fetch or read the pretrained ones again.

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

import keras

_REGISTRY = {}


def register_backbone(name):
    """Class decorator: registers a backbone class under `name` (a lower-case string)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"backbone name must be a non-empty string, got {name!r}")

    def decorator(cls):
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"backbone {name!r} is already registered to {_REGISTRY[name]}")
        _REGISTRY[name] = cls
        cls.backbone_name = name
        return cls

    return decorator


def get_backbone(name, **kwargs):
    """A new backbone layer of the registered class `name`, built with `kwargs`."""
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown backbone {name!r}; known: {backbone_names()}") from None
    return cls(**kwargs)


def backbone_names():
    """Sorted names of the registered backbones."""
    return sorted(_REGISTRY)


def build_backbone(backbone, backbone_kwargs=None):
    """A backbone from a registered name (with `backbone_kwargs`), a serialized backbone config
    (a dict, as written by `serialize_backbone`) or an existing backbone layer (used as is)."""
    if isinstance(backbone, str):
        return get_backbone(backbone, **(backbone_kwargs or {}))
    if backbone_kwargs:
        raise ValueError("backbone_kwargs is only used with a backbone name")
    if isinstance(backbone, dict):
        return keras.saving.deserialize_keras_object(backbone)
    if isinstance(backbone, keras.layers.Layer):
        return backbone
    raise TypeError(f"backbone must be a name, a config dict or a Layer, got {type(backbone)}")


def serialize_backbone(backbone_arg, backbone_layer):
    """The config value for a model's `backbone` argument: the name when it was given by name,
    else the serialized layer."""
    if isinstance(backbone_arg, str):
        return backbone_arg
    return keras.saving.serialize_keras_object(backbone_layer)


# The imports register the backbones: "simple", "efficientnet_lite0", "vgg16".
from tsss_tf.models.backbones.simple import SimpleBackbone  # noqa: E402
from tsss_tf.models.backbones.efficientnet_lite import EfficientNetLite0  # noqa: E402
from tsss_tf.models.backbones.vgg import VGG16Backbone  # noqa: E402
from tsss_tf.models.backbones.params import (  # noqa: E402
    backbone_variables, split_backbone_variables)

__all__ = ["register_backbone", "get_backbone", "backbone_names", "build_backbone",
           "serialize_backbone", "SimpleBackbone", "EfficientNetLite0", "VGG16Backbone",
           "backbone_variables", "split_backbone_variables"]
