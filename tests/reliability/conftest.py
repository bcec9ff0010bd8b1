"""Fixtures of the reliability tests: a small VOC-layout data set, a config that trains on it
in seconds, and the check that a failed run left no partial output."""

import os

import numpy as np
import pytest

from tests.helpers import blob_example, write_voc_fixture
from tsss_tf.config import load_config

CLASSES = ["background", "cat", "dog", "cow", "sheep"]
LABELS = {  # train: strong images (cat / dog / background) and weak ones (cow or sheep)
    "train": {"s1": [1], "s2": [2], "s3": [1, 2], "s4": [], "w1": [3], "w2": [1, 4],
              "w3": [4], "w4": [3, 2]},
    "val": {"v1": [1, 3], "v2": [2]},
    "test": {"t1": [4], "t2": [1, 2]},
}
SIZE = (32, 40)  # height, width of every image


def write_voc(root, rng=None, image_format="png"):
    rng = rng if rng is not None else np.random.default_rng(0)
    examples = {n: blob_example(*SIZE, lab, rng)
                for labels in LABELS.values() for n, lab in labels.items()}
    write_voc_fixture(str(root), CLASSES, examples,
                      {s: list(labels) for s, labels in LABELS.items()}, image_format)
    return str(root)


@pytest.fixture
def voc(tmp_path):
    """A fresh VOC-layout folder (PNG images) per test: tests damage it."""
    return write_voc(tmp_path / "voc")


def voc_overrides(root):
    return ["data.dataset=voc", f"data.data_dir={root}", "data.crop_size=32",
            "data.eval_size=32", "data.shuffle_buffer=8", "split.name=rel",
            "split.strong=cat,dog", "split.weak=cow,sheep", "lnet.steps=4", "pnet.steps=4",
            "checkpoint_every=2", "eval_every=0", "log_every=2", "transfer.batch_size=4"]


def voc_config(root, extra=()):
    return load_config("tiny", voc_overrides(root) + list(extra))


ALLOWED_AFTER_FAILURE = ("config.json",)


def leftovers(model_dir):
    """Files under model_dir other than config.json and TensorBoard event files: what a failed
    run must not leave (checkpoints, labels, metrics, results, temporaries)."""
    out = []
    if not os.path.isdir(model_dir):
        return out
    for dirpath, _, files in os.walk(model_dir):
        for fn in files:
            rel = os.path.relpath(os.path.join(dirpath, fn), model_dir)
            if rel in ALLOWED_AFTER_FAILURE:
                continue
            if rel.startswith("tensorboard" + os.sep) and ".tmp" not in fn:
                continue
            out.append(rel)
    return out


def temporaries(root):
    """Temporary files (a write that did not finish) anywhere under root."""
    out = []
    for dirpath, dirs, files in os.walk(root):
        for fn in files + dirs:
            if ".tmp" in fn:
                out.append(os.path.relpath(os.path.join(dirpath, fn), root))
    return out


@pytest.fixture
def cache_env(tmp_path_factory, monkeypatch):
    """A private embedded-set cache (TSSS_TF_CACHE) for tests that use the embedded set."""
    path = os.environ.get("TSSS_TF_TEST_CACHE") or str(tmp_path_factory.getbasetemp() / "cache")
    monkeypatch.setenv("TSSS_TF_CACHE", path)
    return path
