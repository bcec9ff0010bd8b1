"""The model recipes that several configs share."""

from tsss_tf.config import ModelConfig


def photo_segmentation_model() -> ModelConfig:
    """Real photographs, DeepLab v3+ style: EfficientNet-Lite0 with its ImageNet weights,
    fine-tuned, output stride 16, and the "deeplabv3plus" P-Net head (ASPP and a decoder over
    the stride-4 feature, depthwise-separable, 96 channels).

    - The backbone learns at a tenth of the heads' rate (`backbone_lr_mult=0.1`): on a few
      hundred images the ImageNet features move slowly instead of being overwritten.
    - Its BatchNorm layers are frozen (`freeze_bn`): they keep their ImageNet statistics and
      scale / offset. Batches of 16 crops give noisy statistics, and a synchronized BatchNorm
      over several GPUs would only help where each step sees many images; frozen statistics
      behave the same on one CPU and on eight GPUs.
    - Warm-up, cosine decay and AdamW's decoupled weight decay (not on biases and norm
      parameters) come from the training loops (tsss_tf.training.builders).

    docs/results.md ("CamVid") has what this recipe reaches and costs.
    """
    return ModelConfig(backbone="efficientnet_lite0", backbone_weights="imagenet",
                       output_stride=16, freeze_backbone=False, backbone_lr_mult=0.1,
                       freeze_bn=True, pnet_head="deeplabv3plus", head_width=96)
