"""P-Net training: one loop for the full model and every baseline.

    variant       data (see data.pipeline)   adversarial term
    "tsss"        strong masks + L_w         yes (discriminator trained alongside)
    "lnet_only"   strong masks + L_w         no
    "strong_only" strong images only         no
    "full"        every mask                 no

Losses (docs/method.md), all per example and scaled by the global batch:
    L_D = BCE(D(x_s, onehot(m_s)), 1) + BCE(D(x, softmax(G(x))), 0)
    L_G = CE_strong + lambda_weak * CE_weak(L_w) + lambda_adv * BCE(D(x_w, softmax(G(x_w))), 1)
G and D are updated from the same forward pass (simultaneous gradient steps, two optimizers).
"""

import os
from typing import Optional

import tensorflow as tf

from tsss_tf.data.pipeline import train_dataset
from tsss_tf.training import losses
from tsss_tf.training.builders import (ModelOptimizer, build_discriminator, build_pnet,
                                       build_variables, current_lr, make_optimizer, scale_loss)
from tsss_tf.training.loop import LoopSettings, run_loop
from tsss_tf.training.monitoring import gan_chunk_hook, replica_grad_norm
from tsss_tf.training.precision import dtype_policy, needs_loss_scale

VARIANT_DATA = {"tsss": "pnet", "lnet_only": "pnet", "strong_only": "strong_only",
                "full": "full"}


def _masked_mean(values, weights):
    """This replica's share of the global weighted mean (a SUM over replicas gives the mean),
    exact however the weighted examples are spread over the replicas."""
    ctx = tf.distribute.get_replica_context()
    total = ctx.all_reduce(tf.distribute.ReduceOp.SUM, tf.reduce_sum(weights))
    return tf.math.divide_no_nan(tf.reduce_sum(values * weights), total)


class PNetTrainer:
    """P-Net (and, for "tsss", its discriminator) with optimizers, built in the strategy's scope,
    and the per-replica train step. `strategy.run(trainer.replica_step, args=(batch,))`."""

    def __init__(self, cfg, num_classes: int, strategy, variant: str):
        if variant not in VARIANT_DATA:
            raise ValueError(f"unknown P-Net variant '{variant}' ({', '.join(VARIANT_DATA)})")
        self.cfg, self.variant = cfg, variant
        self.adversarial = variant == "tsss"
        pc, size = cfg.pnet, cfg.data.crop_size
        loss_scale = needs_loss_scale(cfg.mixed_precision)
        with strategy.scope(), dtype_policy(cfg.mixed_precision):
            self.gen = build_pnet(cfg.model, num_classes)
            build_variables(self.gen, size)
            self.g_opt = ModelOptimizer(self.gen, cfg.model, pc.learning_rate, pc.weight_decay,
                                        pc.steps, loss_scale=loss_scale)
            self.disc = self.d_opt = None
            if self.adversarial:
                self.disc = build_discriminator(cfg.model, num_classes)
                build_variables(self.disc, size, tf.zeros([1, size, size, num_classes]))
                self.d_opt = make_optimizer(pc.disc_learning_rate, 0.0, pc.steps,
                                            self.disc.trainable_variables, loss_scale)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")

    def checkpoint(self) -> tf.train.Checkpoint:
        parts = {"generator": self.gen, "step": self.step,
                 **self.g_opt.checkpoint_parts("g_optimizer")}
        if self.adversarial:
            parts.update(discriminator=self.disc, d_optimizer=self.d_opt)
        return tf.train.Checkpoint(**parts)

    def learning_rates(self) -> dict:
        out = {"learning_rate": current_lr(self.g_opt)}
        if self.adversarial:
            out["disc_learning_rate"] = current_lr(self.d_opt)
        return out

    def replica_step(self, batch):
        pc, gen, disc = self.cfg.pnet, self.gen, self.disc
        gbs = self.cfg.global_batch_size

        def avg(x):
            return tf.nn.compute_average_loss(x, global_batch_size=gbs)

        x, mask, strong = batch["image"], batch["mask"], batch["strong"]
        weak = 1.0 - strong
        with tf.GradientTape(persistent=self.adversarial) as tape:
            logits = gen(x, training=True)
            seg = losses.segmentation_loss(logits, mask)
            per_g = (strong + pc.lambda_weak * weak) * seg
            metrics = {"seg_loss_strong": avg(seg * strong), "seg_loss_weak": avg(seg * weak)}
            if self.adversarial:
                probs = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
                # float32 from here on whatever D's dtype policy (mixed_bfloat16 included).
                d_real = tf.cast(disc((x, losses.real_label_map(mask, probs)), training=True),
                                 tf.float32)
                d_fake = tf.cast(disc((x, probs), training=True), tf.float32)
                adv_w = weak if pc.adv_on == "weak" else tf.ones_like(weak)
                on = tf.cast(self.g_opt.iterations >= pc.adv_start_step, tf.float32)
                adv = losses.patch_bce(d_fake, 1.0) * adv_w
                per_g = per_g + on * pc.lambda_adv * adv
                per_d = losses.patch_bce(d_real, 1.0) * strong + losses.patch_bce(d_fake, 0.0)
                d_loss = avg(per_d)
                p_real = tf.reduce_mean(tf.sigmoid(d_real), axis=[1, 2, 3])
                p_fake = tf.reduce_mean(tf.sigmoid(d_fake), axis=[1, 2, 3])
                metrics.update(adv_loss=avg(adv), d_loss=d_loss,
                               d_loss_real=avg(losses.patch_bce(d_real, 1.0) * strong),
                               d_loss_fake=avg(losses.patch_bce(d_fake, 0.0)),
                               d_real=_masked_mean(p_real, strong),
                               d_fake=_masked_mean(p_fake, tf.ones_like(p_fake)))
            g_loss = avg(per_g)
            g_scaled = self.g_opt.scale_loss(g_loss)  # g_loss itself unless mixed_float16
            d_scaled = scale_loss(self.d_opt, d_loss) if self.adversarial else None
        g_grads = tape.gradient(g_scaled, self.g_opt.variables)
        one = tf.constant(1.0)
        g_scale = self.g_opt.scale_loss(one)  # read before the update may change it
        d_scale = scale_loss(self.d_opt, one) if self.adversarial else one
        self.g_opt.apply(g_grads)
        if self.adversarial:
            d_grads = tape.gradient(d_scaled, disc.trainable_variables)
            self.d_opt.apply_gradients(zip(d_grads, disc.trainable_variables))
        metrics["g_loss"] = g_loss
        metrics["grad_norm"] = replica_grad_norm(g_grads) / g_scale  # of the unscaled gradients
        if self.adversarial:
            metrics["disc_grad_norm"] = replica_grad_norm(d_grads) / d_scale
        return metrics


def train_pnet(cfg, data, strategy, model_dir: str, variant: str, pseudo_dir=None, writer=None,
               progress: bool = True, eval_fn=None, is_chief: bool = True, panel_fn=None,
               name: Optional[str] = None):
    """Trains (or resumes) one P-Net variant; returns (generator, discriminator or None, last
    metrics). eval_fn(model) -> dict is called every cfg.eval_every steps, panel_fn(model, step)
    (TensorBoard images) every cfg.image_every steps, on the chief. `name` (default: the
    variant) names the folder under model_dir and the TensorBoard scalars, e.g. "tsss_round0"
    for a P-Net of the full model before label refinement."""
    name = name or variant
    trainer = PNetTrainer(cfg, data.num_classes, strategy, variant)

    def make_dataset(start):
        return train_dataset(data, VARIANT_DATA[variant], cfg.global_batch_size, seed=cfg.seed,
                             pseudo_dir=pseudo_dir, strategy=strategy).skip(start)

    settings = LoopSettings(total_steps=cfg.pnet.steps, log_every=cfg.log_every,
                            checkpoint_every=cfg.checkpoint_every, eval_every=cfg.eval_every,
                            progress=progress, image_every=cfg.image_every)
    gen = trainer.gen
    last = run_loop(name=name, strategy=strategy, make_dataset=make_dataset,
                    replica_step=trainer.replica_step, checkpoint=trainer.checkpoint(),
                    step=trainer.step, directory=os.path.join(model_dir, name),
                    settings=settings, writer=writer, is_chief=is_chief,
                    extra_scalars=trainer.learning_rates,
                    on_chunk=gan_chunk_hook(cfg, name, writer) if trainer.adversarial else None,
                    image_fn=(lambda s: panel_fn(gen, s)) if panel_fn else None,
                    eval_fn=(lambda: eval_fn(gen)) if eval_fn else None)
    return gen, trainer.disc, last
