"""Stage `lnet`: objectness from strong masks, CAM classification from the tags of all images."""

import dataclasses
import os

import tensorflow as tf

from tsss_tf.data.pipeline import train_dataset
from tsss_tf.training import losses
from tsss_tf.training.builders import ModelOptimizer, build_lnet, build_variables, current_lr
from tsss_tf.training.loop import LoopSettings, run_loop
from tsss_tf.training.monitoring import replica_grad_norm
from tsss_tf.training.precision import dtype_policy, needs_loss_scale


def lnet_model_config(cfg):
    """cfg.model with the L-Net's backbone training options (`lnet.freeze_backbone`,
    `lnet.backbone_lr_mult`) where they are set; they change no variable, only which are trained
    and at what rate, so the transfer stage restores the L-Net from cfg.model alone."""
    changes = {name: getattr(cfg.lnet, name) for name in ("freeze_backbone", "backbone_lr_mult")
               if getattr(cfg.lnet, name) is not None}
    return dataclasses.replace(cfg.model, **changes)


class LNetTrainer:
    """L-Net and its optimizer, built in the strategy's scope, and the per-replica step."""

    def __init__(self, cfg, num_categories: int, num_background: int, strategy):
        self.cfg, self.num_background = cfg, num_background
        with strategy.scope(), dtype_policy(cfg.mixed_precision):
            self.model = build_lnet(cfg.model, num_categories)
            build_variables(self.model, cfg.data.crop_size)
            self.opt = ModelOptimizer(self.model, lnet_model_config(cfg), cfg.lnet.learning_rate,
                                      cfg.lnet.weight_decay, cfg.lnet.steps,
                                      loss_scale=needs_loss_scale(cfg.mixed_precision))
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")

    def checkpoint(self) -> tf.train.Checkpoint:
        return tf.train.Checkpoint(model=self.model, step=self.step,
                                   **self.opt.checkpoint_parts("optimizer"))

    def replica_step(self, batch):
        gbs, lc, model = self.cfg.global_batch_size, self.cfg.lnet, self.model
        with tf.GradientTape() as tape:
            out = model(batch["image"], training=True)
            obj = losses.objectness_loss(out["objectness_logits"], batch["mask"],
                                         batch["strong"], self.num_background)
            cls = losses.multilabel_loss(out["class_logits"], batch["labels"])
            dense = losses.cam_dense_loss(out["cams"], batch["mask"], batch["strong"],
                                          self.num_background)
            per = (lc.objectness_weight * obj + lc.cls_weight * cls
                   + lc.cam_dense_weight * dense)
            loss = tf.nn.compute_average_loss(per, global_batch_size=gbs)
            scaled = self.opt.scale_loss(loss)  # loss itself unless mixed_float16
        grads = tape.gradient(scaled, self.opt.variables)
        grad_scale = self.opt.scale_loss(tf.constant(1.0))  # before the update may change it
        self.opt.apply(grads)
        return {"loss": loss,
                "objectness_loss": tf.nn.compute_average_loss(obj, global_batch_size=gbs),
                "classification_loss": tf.nn.compute_average_loss(cls, global_batch_size=gbs),
                "cam_dense_loss": tf.nn.compute_average_loss(dense, global_batch_size=gbs),
                "grad_norm": replica_grad_norm(grads) / grad_scale}


def train_lnet(cfg, data, strategy, model_dir: str, writer=None, progress: bool = True,
               is_chief: bool = True, panel_fn=None):
    """Trains (or resumes) the L-Net of an experiment; returns (model, last metrics).
    panel_fn(model, step) (TensorBoard images) is called every cfg.image_every steps, on the
    chief."""
    trainer = LNetTrainer(cfg, data.num_categories, data.num_background, strategy)

    def make_dataset(start):
        return train_dataset(data, "lnet", cfg.global_batch_size, seed=cfg.seed,
                             strategy=strategy).skip(start)

    settings = LoopSettings(total_steps=cfg.lnet.steps, log_every=cfg.log_every,
                            checkpoint_every=cfg.checkpoint_every, progress=progress,
                            image_every=cfg.image_every)
    last = run_loop(name="lnet", strategy=strategy, make_dataset=make_dataset,
                    replica_step=trainer.replica_step, checkpoint=trainer.checkpoint(),
                    step=trainer.step, directory=os.path.join(model_dir, "lnet"),
                    settings=settings, writer=writer, is_chief=is_chief,
                    extra_scalars=lambda: {"learning_rate": current_lr(trainer.opt)},
                    image_fn=(lambda s: panel_fn(trainer.model, s)) if panel_fn else None)
    return trainer.model, last
