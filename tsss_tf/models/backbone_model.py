"""`BackboneModel`, the base of the models that own a backbone (L-Net, P-Net)."""

import keras

from tsss_tf.models.backbones import build_backbone, serialize_backbone
from tsss_tf.models.layers import base_config, maybe_build


class BackboneModel(keras.Model):
    """A model with a backbone and heads on its features.

    `__init__` builds `self.backbone` from `backbone` (a registered backbone name, with
    `backbone_kwargs`; a serialized backbone config; or a backbone layer, see
    `tsss_tf.models.backbones.build_backbone`). A subclass checks its own arguments before
    calling it, creates its heads after it, builds the backbone in `build` with
    `build_backbone_for(input_shape)` (which returns the features' shape, for the heads) and adds
    its own arguments to `get_config`.

    The config holds the backbone by name (with its kwargs) when it was given by name, else as a
    serialized layer; never the backbone's `weights`: the saved variables replace them, and a
    `.keras` file must not need the original weights file (or a network) to load.
    """

    def __init__(self, backbone="simple", backbone_kwargs=None, **kwargs):
        super().__init__(**kwargs)
        self._backbone_arg = backbone
        self.backbone_kwargs = dict(backbone_kwargs or {})
        self.backbone = build_backbone(backbone, backbone_kwargs)

    @property
    def output_stride(self):
        return self.backbone.output_stride

    @property
    def backbone_norm(self):
        """The normalisation of the backbone ("group" when it has no `norm`), for the heads."""
        return getattr(self.backbone, "norm", "group")

    def build_backbone_for(self, input_shape):
        """Builds the backbone (unless built) for images of `input_shape`; returns the shape of
        its features."""
        maybe_build(self.backbone, input_shape)
        return tuple(self.backbone.compute_output_shape(input_shape))

    def get_config(self):
        return {
            **base_config(self),
            "backbone": serialize_backbone(self._backbone_arg, self.backbone),
            "backbone_kwargs": ({k: v for k, v in self.backbone_kwargs.items() if k != "weights"}
                                if isinstance(self._backbone_arg, str)
                                else None),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
