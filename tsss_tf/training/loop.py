"""The one training driver shared by the L-Net loop and the GAN loop.

A stage supplies a per-replica `replica_step(batch) -> {name: scalar}` whose values are
already scaled by the global batch (so a SUM over replicas is the global mean), and this
driver runs it in `tf.function` chunks of `steps_per_call` steps under the strategy, with
resume from the latest intact checkpoint, TensorBoard scalars, a progress bar, periodic
evaluation through a callback, and a stop on a non-finite loss that never overwrites the
last good checkpoint.

Under `MultiWorkerMirroredStrategy` every worker runs this loop in step: all restore from the
chief's checkpoint folder, all take part in each save, and the non-chief workers save into a
temporary folder that is removed at once (the usual TF pattern; see training.strategy).
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import time
from typing import Callable, Dict, Optional

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from tsss_tf.errors import NonFiniteLossError  # noqa: F401 (raised here; importable from here)
from tsss_tf.training.restore import resume_checkpoint
from tsss_tf.training.strategy import checkpoint_write_dir


@dataclasses.dataclass
class LoopSettings:
    total_steps: int
    log_every: int = 50
    checkpoint_every: int = 500
    eval_every: int = 0
    steps_per_call: int = 10
    image_every: int = 0
    max_to_keep: int = 2
    progress: bool = True


def _chunk(it, strategy, replica_step, n):
    """n steps inside one graph; returns the mean of each metric over the steps, and the
    index in the chunk of the first step with a NaN or Inf metric (-1: none)."""
    totals = None
    first_bad = tf.constant(-1, tf.int32)
    for i in tf.range(n):
        per_replica = strategy.run(replica_step, args=(next(it),))
        reduced = {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
                   for k, v in per_replica.items()}
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(v)) for v in reduced.values()])
        first_bad = tf.where((first_bad < 0) & tf.logical_not(finite), i, first_bad)
        if totals is None:
            totals = reduced
        else:
            totals = {k: totals[k] + reduced[k] for k in totals}
    return {k: v / tf.cast(n, v.dtype) for k, v in totals.items()}, first_bad


RNG_STATE = "rng_state"


def _track_rng_state(checkpoint: tf.train.Checkpoint, latest: Optional[str]) -> None:
    """Adds to `checkpoint` the variables of its Keras models that it does not reach: the
    states of their seed generators (Dropout). Without them a resumed run draws its dropout
    masks from the initial state again and no longer matches an uninterrupted one. A
    checkpoint written before they were tracked is still restored (without them)."""
    import keras

    view = list(tf.train.TrackableView(checkpoint).descendants())
    reached = {id(o) for o in view}
    extra, seen = [], set()
    for obj in view:
        if isinstance(obj, keras.Model):
            for v in obj.variables:
                if (id(v) not in reached and id(getattr(v, "value", v)) not in reached
                        and id(v) not in seen):
                    seen.add(id(v))
                    extra.append(v)
    if not extra:
        return
    if latest and not any(name.startswith(RNG_STATE + "/")
                          for name, _ in tf.train.list_variables(latest)):
        return
    setattr(checkpoint, RNG_STATE, sorted(extra, key=lambda v: v.path))


def run_loop(*, name: str, strategy: tf.distribute.Strategy, make_dataset: Callable,
             replica_step: Callable, checkpoint: tf.train.Checkpoint, step: tf.Variable,
             directory: str, settings: LoopSettings, writer=None,
             eval_fn: Optional[Callable[[], Dict[str, float]]] = None,
             extra_scalars: Optional[Callable[[], Dict[str, float]]] = None,
             on_chunk: Optional[Callable[[int, int, Dict[str, float]], Dict[str, float]]] = None,
             image_fn: Optional[Callable[[int], None]] = None,
             is_chief: bool = True) -> Dict[str, float]:
    """Trains until `step` reaches settings.total_steps; returns the last logged metrics.

    Monitoring hooks, called on the chief only, outside the compiled steps:
    on_chunk(step, n, metrics) after every chunk of n steps -> scalars to add at the next log;
    image_fn(step) every settings.image_every steps and at the end (TensorBoard images).

    make_dataset(start_step) -> a tf.data.Dataset of global batches positioned at start_step
    (so a resumed run sees the same batches as an uninterrupted one).
    """
    ckpt_dir = os.path.join(directory, "ckpt")
    write_dir = ckpt_dir if is_chief else checkpoint_write_dir(ckpt_dir, strategy)
    # The chief's, on every worker; a damaged newest checkpoint is named in the log and the
    # newest intact one is taken (every worker reads the same files, so all take the same; the
    # chief then rewrites a damaged state file, which the manager below reads).
    latest = resume_checkpoint(ckpt_dir, name, repair=is_chief)
    manager = tf.train.CheckpointManager(checkpoint, write_dir, max_to_keep=settings.max_to_keep,
                                         step_counter=step)
    _track_rng_state(checkpoint, latest)
    if latest:
        checkpoint.restore(latest).assert_existing_objects_matched()
    start = int(step.numpy())
    if start >= settings.total_steps:
        return {}
    dist = strategy.experimental_distribute_dataset(make_dataset(start))
    it = iter(dist)
    chunk = tf.function(lambda n: _chunk(it, strategy, replica_step, n))
    bar = tqdm(total=settings.total_steps, initial=start, desc=name, unit="step",
               disable=not (settings.progress and is_chief), dynamic_ncols=True, mininterval=2.0)
    last: Dict[str, float] = {}
    t0, done0 = time.perf_counter(), start
    derived: Dict[str, float] = {}
    while int(step.numpy()) < settings.total_steps:
        cur = int(step.numpy())
        n = min(settings.steps_per_call, settings.total_steps - cur)
        means, first_bad = chunk(tf.constant(n))
        metrics = {k: float(v) for k, v in means.items()}
        bad = [k for k, v in metrics.items() if not math.isfinite(v)]
        if bad or int(first_bad) >= 0:
            # Nothing of this chunk is saved: the last checkpoint stays the last good one.
            at = cur + 1 + max(int(first_bad), 0)
            which = ", ".join(f"'{k}' ({metrics[k]})" for k in bad)
            raise NonFiniteLossError(
                f"{name}: non-finite loss at step {at}: {which}; training stopped without "
                f"saving; last good checkpoint: {tf.train.latest_checkpoint(ckpt_dir)}")
        step.assign_add(n)
        cur += n
        bar.update(n)
        bar.set_postfix({k: f"{v:.3f}" for k, v in list(metrics.items())[:4]}, refresh=False)
        last = metrics
        if on_chunk is not None and is_chief:
            derived.update(on_chunk(cur, n, metrics) or {})
        logged = cur % settings.log_every < n or cur == settings.total_steps
        if logged and writer is not None and is_chief:
            elapsed = time.perf_counter() - t0
            scalars = dict(metrics)
            if extra_scalars is not None:
                scalars.update(extra_scalars())
            scalars.update(derived)
            derived = {}
            scalars["steps_per_second"] = (cur - done0) / max(elapsed, 1e-9)
            with writer.as_default(step=cur):
                for k, v in scalars.items():
                    tf.summary.scalar(f"{name}/{k}", v)
        if settings.eval_every and eval_fn is not None and (
                cur % settings.eval_every < n or cur == settings.total_steps):
            results = eval_fn()
            if writer is not None and is_chief:
                with writer.as_default(step=cur):
                    for k, v in results.items():
                        if v is not None and np.isscalar(v):
                            tf.summary.scalar(f"{name}/val/{k}", v)
        if image_fn is not None and is_chief and settings.image_every and (
                cur % settings.image_every < n or cur == settings.total_steps):
            image_fn(cur)
        if cur % settings.checkpoint_every < n or cur == settings.total_steps:
            os.makedirs(write_dir, exist_ok=True)
            manager.save(checkpoint_number=cur)
            if write_dir != ckpt_dir:
                shutil.rmtree(write_dir, ignore_errors=True)
    bar.close()
    if writer is not None:
        writer.flush()
    return last
