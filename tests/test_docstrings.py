"""The docstring examples of every tsss_tf module that has some run and give what they show.

The modules are found by reading the package's files for `>>>`, so a new module's examples are
run without a list to keep up to date."""

import os

import pytest

from tests.doctests import check_docstring_examples

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def modules_with_examples(package="tsss_tf"):
    found = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(REPO, package)):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for fn in sorted(filenames):
            if not fn.endswith(".py"):
                continue
            with open(os.path.join(dirpath, fn), encoding="utf-8") as f:
                if ">>>" not in f.read():
                    continue
            parts = os.path.relpath(dirpath, REPO).split(os.sep)
            found.append(".".join(parts + ([] if fn == "__init__.py" else [fn[:-3]])))
    return found


MODULES = modules_with_examples()


def test_the_examples_are_found():
    assert {"tsss_tf.models.pnet", "tsss_tf.models.deeplab_head", "tsss_tf.training.precision",
            "tsss_tf.transfer.fingerprint", "tsss_tf.models.backbones"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    check_docstring_examples(name)
