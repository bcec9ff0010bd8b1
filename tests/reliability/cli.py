"""Running `python -m tsss_tf.train` (through tests.reliability.driver) in a subprocess."""

import dataclasses
import os
import signal
import subprocess
import sys
import time

import numpy as np

from tests.reliability.conftest import voc_overrides
from tsss_tf.config import ExperimentConfig

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# `--deterministic` (ExperimentConfig.deterministic, tsss_tf.training.determinism): the flag
# is looked up in the source, since importing tsss_tf.train here would define its flags twice.
with open(os.path.join(REPO, "tsss_tf", "train.py"), encoding="utf-8") as _f:
    HAVE_DETERMINISTIC = ("deterministic" in {f.name for f in dataclasses.fields(ExperimentConfig)}
                          and 'DEFINE_bool("deterministic"' in _f.read())


def train_argv(model_dir, root, stage="all", extra=(), deterministic=False):
    argv = [sys.executable, "-m", "tests.reliability.driver", "--config=tiny",
            f"--model_dir={model_dir}", f"--stage={stage}", "--noprogress"]
    argv += [f"--set={o}" for o in voc_overrides(root) + list(extra)]
    if deterministic and HAVE_DETERMINISTIC:
        argv.append("--deterministic")
    return argv


def environment(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run(argv, env=None, timeout=600):
    return subprocess.run(argv, cwd=REPO, env=env or environment(), capture_output=True,
                          text=True, timeout=timeout)


def start(argv, env=None, log=None):
    out = open(log, "w") if log else subprocess.DEVNULL
    return subprocess.Popen(argv, cwd=REPO, env=env or environment(), stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True)


def kill_when(proc, condition, timeout=600, poll=0.05):
    """SIGKILLs `proc` as soon as condition() holds; returns True, or False if the process
    ended (or the timeout passed) first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        if proc.poll() is not None:
            return False
        time.sleep(poll)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return False


def latest_step(ckpt_dir):
    """The step of the checkpoint named in ckpt_dir/checkpoint (what a resume restores)."""
    import tensorflow as tf

    latest = tf.train.latest_checkpoint(ckpt_dir)
    return None if latest is None else int(latest.rsplit("-", 1)[1])


def checkpoint_values(path):
    """{name: array} of every value in a checkpoint (weights, optimizer slots, step)."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(path)
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
            if k != "_CHECKPOINTABLE_OBJECT_GRAPH"}


def assert_same_values(a, b, where):
    assert sorted(a) == sorted(b), where
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=f"{where}: {k}")
