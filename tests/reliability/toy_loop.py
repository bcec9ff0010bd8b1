"""A one-weight model trained by the real training driver (tsss_tf.training.loop.run_loop):
fast enough to kill, damage and resume in every way a test needs."""

import numpy as np
import tensorflow as tf

from tests.conftest import one_cpu_strategy
from tsss_tf.training.loop import LoopSettings, run_loop


def train_one_weight(directory, total, values):
    """Fits w to a stream of `values` (w_n = 1 - 0.8^n on ones) for `total` steps, one value
    a step, with a checkpoint every 10 steps under directory/ckpt; resumes from it. Returns
    (run_loop's result, w, step)."""
    strategy = one_cpu_strategy()
    with strategy.scope():
        w = tf.Variable(0.0)
        step = tf.Variable(0, dtype=tf.int64)
    root = tf.train.Checkpoint(w=w, step=step)
    values = np.asarray(values, np.float32)

    def make_dataset(start):
        return tf.data.Dataset.from_tensor_slices({"x": values}).batch(1).skip(start)

    def replica_step(batch):
        loss = tf.reduce_mean(tf.square(w * batch["x"] - 1.0))
        w.assign_add(-0.1 * tf.reduce_mean(2 * (w * batch["x"] - 1.0) * batch["x"]))
        return {"loss": loss, "scale": tf.reduce_mean(w * batch["x"])}

    result = run_loop(name="toy", strategy=strategy, make_dataset=make_dataset,
                      replica_step=replica_step, checkpoint=root, step=step,
                      directory=str(directory),
                      settings=LoopSettings(total_steps=total, log_every=5, checkpoint_every=10,
                                            progress=False))
    return result, w, step
