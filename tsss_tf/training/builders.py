"""Models and optimizers from a config (created inside the strategy scope by the callers).

The models come from `tsss_tf.models.factory` (re-exported here for the loops); this module adds
the optimizers: AdamW with warm-up and cosine decay, and `ModelOptimizer`, which applies the
config's backbone options (`model.freeze_backbone`, `model.backbone_lr_mult`).
"""

import keras
import tensorflow as tf

from tsss_tf.models.backbones.params import split_backbone_variables
from tsss_tf.models.factory import (backbone_kwargs, build_discriminator, build_lnet,
                                    build_pnet)

__all__ = ["backbone_kwargs", "build_lnet", "build_pnet", "build_discriminator",
           "make_optimizer", "scale_loss", "ModelOptimizer", "current_lr", "build_variables"]


def make_optimizer(learning_rate: float, weight_decay: float, total_steps: int,
                   variables, loss_scale: bool = False) -> keras.optimizers.Optimizer:
    """AdamW with linear warm-up and cosine decay, built on `variables` (call in scope); with
    `loss_scale`, inside a `keras.optimizers.LossScaleOptimizer` (for mixed_float16: its
    `scale_loss` scales a loss, `apply_gradients` unscales the gradients and skips a step whose
    gradients overflow)."""
    warmup = max(1, min(100, total_steps // 10))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=learning_rate * 0.1, decay_steps=max(1, total_steps - warmup),
        alpha=0.01, warmup_target=learning_rate, warmup_steps=warmup)
    opt = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=weight_decay)
    opt.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    if loss_scale:
        opt = keras.optimizers.LossScaleOptimizer(opt)
    opt.build(variables)
    return opt


def scale_loss(opt, loss):
    """`loss` scaled by a LossScaleOptimizer's current scale (inside the gradient tape), else
    `loss` itself."""
    return opt.scale_loss(loss) if isinstance(opt, keras.optimizers.LossScaleOptimizer) else loss


class ModelOptimizer:
    """The optimizer(s) of a model with a backbone, from the ModelConfig's backbone options.

    - `freeze_backbone`: the backbone's variables are left out (`variables` holds the rest).
    - `backbone_lr_mult != 1`: a second AdamW, on the backbone's variables, whose schedule is the
      main one times the multiplier (scaling the gradients would do nothing under Adam).
    - otherwise one AdamW on every trainable variable.

    `apply(grads)` takes the gradients of `variables`, in order. `main` is the optimizer of the
    heads (its `iterations` and `learning_rate` are the model's); `checkpoint_parts(prefix)` names
    each optimizer for a tf.train.Checkpoint ("<prefix>" and "<prefix>_backbone"), so a run
    without a second optimizer keeps the one-optimizer checkpoint layout.

    Example:
    >>> from tsss_tf.config import ModelConfig
    >>> import tensorflow as tf
    >>> cfg = ModelConfig(backbone_width=8, head_width=16, backbone_lr_mult=0.1)
    >>> pnet = build_pnet(cfg, 3); _ = pnet(tf.zeros([1, 32, 32, 3]))
    >>> opt = ModelOptimizer(pnet, cfg, 1e-3, 0.0, 100)
    >>> sorted(opt.checkpoint_parts("g_optimizer"))
    ['g_optimizer', 'g_optimizer_backbone']
    """

    def __init__(self, model, model_cfg, learning_rate: float, weight_decay: float,
                 total_steps: int, loss_scale: bool = False):
        mult = float(model_cfg.backbone_lr_mult)  # >= 0: ExperimentConfig.validate
        backbone, heads = split_backbone_variables(
            model, freeze_backbone=model_cfg.freeze_backbone)
        self.backbone_opt = None
        if model_cfg.freeze_backbone or mult == 1.0:
            self.variables = heads if model_cfg.freeze_backbone else list(
                model.trainable_variables)
            self.main = make_optimizer(learning_rate, weight_decay, total_steps, self.variables,
                                       loss_scale)
            self._groups = [(self.main, len(self.variables))]
        elif loss_scale:  # one loss scale cannot serve two optimizers' skipped steps
            raise ValueError("mixed_float16 needs one optimizer per model: train the backbone "
                             "at the heads' rate (backbone_lr_mult=1) or freeze it, or use "
                             "mixed_bfloat16")
        else:
            self.variables = heads + backbone
            self.main = make_optimizer(learning_rate, weight_decay, total_steps, heads)
            self.backbone_opt = make_optimizer(learning_rate * mult, weight_decay, total_steps,
                                               backbone)
            self._groups = [(self.main, len(heads)), (self.backbone_opt, len(backbone))]

    def scale_loss(self, loss):
        """`loss` scaled for float16 gradients (identity without loss scaling); call it inside
        the gradient tape."""
        return scale_loss(self.main, loss)

    @property
    def iterations(self):
        return self.main.iterations

    @property
    def learning_rate(self):
        return self.main.learning_rate

    def apply(self, grads):
        start = 0
        for opt, n in self._groups:
            if n:
                opt.apply_gradients(zip(grads[start:start + n], self.variables[start:start + n]))
            start += n

    def checkpoint_parts(self, prefix: str) -> dict:
        parts = {prefix: self.main}
        if self.backbone_opt is not None:
            parts[prefix + "_backbone"] = self.backbone_opt
        return parts


def current_lr(opt) -> float:
    lr = opt.learning_rate
    return float(lr.numpy() if hasattr(lr, "numpy") else lr)


def build_variables(model, size: int, *extra_inputs):
    """Creates a model's variables with one call on zeros of a training-sized batch."""
    x = tf.zeros([1, size, size, 3])
    return model((x,) + extra_inputs) if extra_inputs else model(x)
