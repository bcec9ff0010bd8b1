"""Training-side monitoring helpers: gradient norms in the step, and the P-Net stage's chunk
hook (adversarial-to-segmentation loss ratio, GAN health warnings). Nothing here changes what
the models learn; the image panels live in tsss_tf.evaluation.monitor and reach the loops as
callbacks."""

from __future__ import annotations

from typing import Callable, Dict

import tensorflow as tf
from absl import logging

from tsss_tf.training.gan_health import GanHealth


def replica_grad_norm(grads) -> tf.Tensor:
    """This replica's share of the global norm of the step's all-reduced gradient, so that the
    loop's SUM over replicas reports ||sum over replicas of the gradients||, the norm of the
    update's gradient (None entries, e.g. unconnected variables, are skipped).

    With one replica this is the local norm. With N replicas each replica holds only its part of
    the global-batch gradient, so the parts are summed first (one extra all-reduce of the
    gradients, only for this scalar; the optimizer still all-reduces the original ones).
    Called inside `strategy.run`."""
    grads = [g for g in grads if g is not None]
    if not grads:
        return tf.constant(0.0)
    grads = [tf.convert_to_tensor(g) for g in grads]  # IndexedSlices -> dense
    ctx = tf.distribute.get_replica_context()
    n = 1 if ctx is None else ctx.num_replicas_in_sync
    if n > 1:
        grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
    norm = tf.linalg.global_norm([tf.cast(g, tf.float32) for g in grads])
    return norm / float(n)


def adversarial_ratio(metrics: Dict[str, float], lambda_weak: float,
                      lambda_adv: float) -> float:
    """(lambda_adv * adversarial loss) / (segmentation loss) of the generator's objective, from
    the chunk means of the GAN step's metrics (0 where the segmentation loss is 0)."""
    seg = metrics.get("seg_loss_strong", 0.0) + lambda_weak * metrics.get("seg_loss_weak", 0.0)
    adv = lambda_adv * metrics.get("adv_loss", 0.0)
    return adv / seg if seg > 0 else 0.0


def gan_chunk_hook(cfg, name: str, writer=None) -> Callable[[int, int, dict], dict]:
    """The P-Net stage's on_chunk hook for run_loop: returns `adv_seg_ratio` and
    `gan_health/unhealthy` (1.0 while a GAN health alarm is raised) to log at the log cadence,
    and writes each alarm and recovery at once to the console (absl warning / info) and to
    TensorBoard (a text summary `<name>/gan_health/events`)."""
    pc = cfg.pnet
    health = GanHealth.from_config(pc)

    def hook(step: int, n: int, metrics: Dict[str, float]) -> Dict[str, float]:
        on = 1.0 if step - n >= pc.adv_start_step else 0.0  # the chunk's steps use the term
        out = {"adv_seg_ratio": on * adversarial_ratio(metrics, pc.lambda_weak, pc.lambda_adv)}
        events = health.update(step, metrics)
        for e in events:
            (logging.warning if e.raised else logging.info)("%s: %s", name, e.message)
        if events and writer is not None:
            with writer.as_default(step=step):
                tf.summary.text(f"{name}/gan_health/events",
                                "\n\n".join(e.message for e in events))
        out["gan_health/unhealthy"] = health.flag
        return out

    hook.health = health
    return hook
