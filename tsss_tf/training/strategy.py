"""Distribution strategies: MirroredStrategy over the local devices by default."""

import json
import os

import tensorflow as tf

STRATEGIES = ("mirrored", "one_device", "multi_worker")


def make_strategy(name: str = "mirrored", devices=None) -> tf.distribute.Strategy:
    """mirrored: all local GPUs, else the CPU; one_device: the first device;
    multi_worker: MultiWorkerMirroredStrategy from TF_CONFIG (create it first in the program)."""
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices)
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy=multi_worker needs the TF_CONFIG environment variable")
        json.loads(os.environ["TF_CONFIG"])
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy '{name}' ({', '.join(STRATEGIES)})")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the worker that writes checkpoints, summaries and results."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker"
                                             and resolver.task_id == 0)
