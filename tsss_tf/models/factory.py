"""Models from a `ModelConfig` (the `model` section of an experiment config).

The one place that turns a config into L-Net, P-Net and the discriminator: the training loops,
evaluation, export and serving all build through it, so a rebuilt model has the same variables,
in the same checkpoint layout, as the model training built from the same config.

Example:
>>> from tsss_tf.config import ModelConfig
>>> pnet = build_pnet(ModelConfig(backbone_width=8, head_width=16), num_classes=4)
>>> pnet.num_classes
4
"""

from tsss_tf.models.discriminator import Discriminator
from tsss_tf.models.lnet import LNet
from tsss_tf.models.pnet import PNet


def backbone_kwargs(model_cfg) -> dict:
    """The backbone kwargs a ModelConfig implies."""
    kw = {"output_stride": model_cfg.output_stride}
    if model_cfg.backbone == "simple":
        kw["width"] = model_cfg.backbone_width
        kw["norm"] = model_cfg.backbone_norm
    if model_cfg.backbone == "efficientnet_lite0":
        kw["freeze_bn"] = model_cfg.freeze_bn
    if model_cfg.backbone_weights:
        kw["weights"] = model_cfg.backbone_weights
    return kw


def build_lnet(model_cfg, num_categories: int) -> LNet:
    """L-Net for `num_categories` categories (background not counted)."""
    return LNet(num_categories, backbone=model_cfg.backbone,
                backbone_kwargs=backbone_kwargs(model_cfg), pooling=model_cfg.cam_pooling,
                lse_r=model_cfg.lse_r)


def build_pnet(model_cfg, num_classes: int) -> PNet:
    """P-Net (the segmentation network G) for `num_classes` classes, background included."""
    head_kwargs = {"dropout": model_cfg.head_dropout}
    if model_cfg.pnet_head in ("aspp", "deeplabv3plus"):
        head_kwargs["rates"] = tuple(model_cfg.aspp_rates)
    if model_cfg.pnet_head == "deeplabv3plus":
        head_kwargs["low_level_width"] = model_cfg.low_level_width
    return PNet(num_classes, backbone=model_cfg.backbone,
                backbone_kwargs=backbone_kwargs(model_cfg), head=model_cfg.pnet_head,
                head_width=model_cfg.head_width, head_kwargs=head_kwargs)


def build_discriminator(model_cfg, num_classes: int) -> Discriminator:
    """The discriminator D over (image, (num_classes)-channel label map) pairs."""
    return Discriminator(num_classes, use_image=model_cfg.disc_use_image,
                         width=model_cfg.disc_width)
