"""The docstring examples of the monitoring modules run and give what they show."""

import doctest
import importlib

import pytest


@pytest.mark.parametrize("name", ["tsss_tf.training.gan_health", "tsss_tf.evaluation.panels",
                                  "tsss_tf.evaluation.monitor"])
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, result
