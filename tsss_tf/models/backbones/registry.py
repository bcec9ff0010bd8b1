"""The backbone registry: names -> backbone classes, and backbones from a model's config.

A backbone class registers itself with `@register_backbone(name)`; `get_backbone(name, **kwargs)`
builds one. This module imports no backbone: the package `tsss_tf.models.backbones` imports the
backbone modules, which register themselves here, so the registry is full once the package is
imported (as it is before any of its modules).
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
