"""Models and optimizers from a config (created inside the strategy scope by the callers)."""

import keras
import tensorflow as tf

from tsss_tf.models import Discriminator, LNet, PNet


def backbone_kwargs(model_cfg) -> dict:
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
    return LNet(num_categories, backbone=model_cfg.backbone,
                backbone_kwargs=backbone_kwargs(model_cfg), pooling=model_cfg.cam_pooling,
                lse_r=model_cfg.lse_r)


def build_pnet(model_cfg, num_classes: int) -> PNet:
    return PNet(num_classes, backbone=model_cfg.backbone,
                backbone_kwargs=backbone_kwargs(model_cfg), head=model_cfg.pnet_head,
                head_width=model_cfg.head_width,
                head_kwargs={"dropout": model_cfg.head_dropout})


def build_discriminator(model_cfg, num_classes: int) -> Discriminator:
    return Discriminator(num_classes, use_image=model_cfg.disc_use_image,
                         width=model_cfg.disc_width)


def make_optimizer(learning_rate: float, weight_decay: float, total_steps: int,
                   variables) -> keras.optimizers.Optimizer:
    """AdamW with linear warm-up and cosine decay, built on `variables` (call in scope)."""
    warmup = max(1, min(100, total_steps // 10))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=learning_rate * 0.1, decay_steps=max(1, total_steps - warmup),
        alpha=0.01, warmup_target=learning_rate, warmup_steps=warmup)
    opt = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=weight_decay)
    opt.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    opt.build(variables)
    return opt


def current_lr(opt) -> float:
    lr = opt.learning_rate
    return float(lr.numpy() if hasattr(lr, "numpy") else lr)


def build_variables(model, size: int, *extra_inputs):
    """Creates a model's variables with one call on zeros of a training-sized batch."""
    x = tf.zeros([1, size, size, 3])
    return model((x,) + extra_inputs) if extra_inputs else model(x)
