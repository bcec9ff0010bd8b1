"""Shared test set-up.

Two logical CPU devices are made here, at import time, before the TF runtime starts (see
docs/tensorflow_notes.md): tests of the distribution code use `two_cpu_strategy()`.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.abspath(os.path.join(REPO, "..", "shared", "data"))


_STRATEGIES = {}


def _strategy(devices):
    # One strategy per device set for the whole session: a second MirroredStrategy over the same
    # devices in one process can pair its collectives with the first one's (same group and
    # instance keys) and abort with a shape mismatch.
    key = tuple(devices)
    if key not in _STRATEGIES:
        _STRATEGIES[key] = tf.distribute.MirroredStrategy(list(devices))
    return _STRATEGIES[key]


def two_cpu_strategy():
    return _strategy(["/cpu:0", "/cpu:1"])


def one_cpu_strategy():
    return _strategy(["/cpu:0"])


def shared_data(name):
    """Path of a data set in ../shared/data, or skip the test with the reason."""
    path = os.path.join(SHARED_DATA, name)
    if not os.path.isdir(path):
        pytest.skip(f"real data '{name}' not found at {path} (research data kept outside the repo)")
    return path


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# TF can deadlock when the interpreter's final garbage collection destroys a tf.data iterator
# still held in a reference cycle (seen once in CI: every test had passed and the summary was
# printed, then the process waited forever in IteratorResource's destructor for its own prefetch
# threads). So the cycles are collected while the runtime is fully alive, and the process then
# ends with pytest's exit status without a second, final collection.
_EXIT_STATUS = []


def pytest_sessionfinish(session, exitstatus):
    import gc

    gc.collect()
    _EXIT_STATUS.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    if _EXIT_STATUS:
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_STATUS[-1])
