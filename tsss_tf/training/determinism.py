"""Bit-reproducible training: op determinism and seeds (`--deterministic`,
`ExperimentConfig.deterministic`).

    from tsss_tf.training.determinism import enable_determinism
    enable_determinism(cfg.seed)       # before any model, optimizer or dataset is built

What makes two runs of the same config give bit-identical weights:
- `tf.config.experimental.enable_op_determinism()`: ops pick deterministic kernels (or raise
  `UnimplementedError` where there is none, e.g. some GPU scatter/segment ops), and tf.data runs
  its parallel transformations deterministically.
- `keras.utils.set_random_seed(seed)`: Python `random`, NumPy, the TF global seed and the Keras
  seed generator (weight initialisers, dropout) start from the config's seed. The experiment
  runner re-seeds at the start of every stage (`seed + stage offset`), so a stage run alone and
  the same stage inside `--stage=all` start from the same state.
- The training stream (`tsss_tf.data.pipeline.train_dataset`) shuffles with an explicit seed,
  draws its augmentation from stateless per-example seeds (`Dataset.random(seed)` + stateless
  ops) and maps with `deterministic=True`; `check_pipeline_options` checks a dataset's options.

It is a per-process setting with no public way back: tests run deterministic training in a
subprocess so that it does not leak into other tests.
"""

from __future__ import annotations

import keras
import tensorflow as tf

__all__ = ["enable_determinism", "check_pipeline_options"]


def enable_determinism(seed: int) -> None:
    """Turns on op determinism and seeds Python, NumPy, TF and Keras with `seed`."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int, got {seed!r}")
    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)


def check_pipeline_options(ds: tf.data.Dataset) -> None:
    """Raises ValueError if a dataset may deliver its elements in a nondeterministic order."""
    if ds.options().deterministic is False:
        raise ValueError("the tf.data pipeline allows nondeterministic order "
                         "(options.deterministic is False)")
