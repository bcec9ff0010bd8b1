"""The tsss_tf models: L-Net, P-Net (segmentation network G), the discriminator D, backbones."""

from tsss_tf.models.backbones import backbone_names, get_backbone, register_backbone
from tsss_tf.models.discriminator import Discriminator
from tsss_tf.models.lnet import LNet, pool_cams
from tsss_tf.models.pnet import PNet

__all__ = ["LNet", "PNet", "Discriminator", "get_backbone", "register_backbone",
           "backbone_names", "pool_cams"]
