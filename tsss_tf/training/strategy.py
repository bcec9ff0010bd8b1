"""Distribution strategies: MirroredStrategy over the local devices by default.

multi_worker: `tf.distribute.MultiWorkerMirroredStrategy` from the `TF_CONFIG` environment
variable, e.g. for two workers on one machine (each started with its own `task.index`):

    TF_CONFIG='{"cluster": {"worker": ["127.0.0.1:20001", "127.0.0.1:20002"]},
                "task": {"type": "worker", "index": 0}}' python -m tsss_tf.train --strategy=multi_worker

Every worker runs the same program with the same flags and `--model_dir` (a shared file
system). The chief (worker 0, or a "chief" task) writes checkpoints, summaries, metrics and
results; the other workers take part in every save (a save can hold collective ops) but write
into a temporary folder that is removed at once (`checkpoint_write_dir`). Every worker
restores from the chief's checkpoints. Each worker reads the whole input stream and keeps its
replicas' share of each global batch, so the updates equal those of one process with the same
global batch. Create the strategy first in the program: a worker whose peers never start
blocks in the constructor.
"""

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
        try:
            spec = json.loads(os.environ["TF_CONFIG"])
        except json.JSONDecodeError as e:
            raise ValueError(f"TF_CONFIG is not valid JSON ({e})") from None
        if not isinstance(spec, dict) or "cluster" not in spec or "task" not in spec:
            raise ValueError("TF_CONFIG needs a 'cluster' and a 'task' entry")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy '{name}' ({', '.join(STRATEGIES)})")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the worker that writes checkpoints, summaries and results."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker"
                                             and resolver.task_id == 0)


def task_name(strategy: tf.distribute.Strategy) -> str:
    """"<task type>_<task id>" of this worker ("chief_0" without a cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return "chief_0"
    return f"{resolver.task_type}_{resolver.task_id}"


def checkpoint_write_dir(directory: str, strategy: tf.distribute.Strategy) -> str:
    """Where this worker writes the checkpoints of `directory`: `directory` itself on the chief,
    a temporary sibling `<directory>_workertemp_<task>` (removed after each save) elsewhere."""
    if is_chief(strategy):
        return directory
    return f"{directory.rstrip(os.sep)}_workertemp_{task_name(strategy)}"
