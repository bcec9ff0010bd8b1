"""The docstring examples of the model modules run and give what they show."""

import doctest
import importlib

import pytest

MODULES = ["tsss_tf.models.layers", "tsss_tf.models.backbones", "tsss_tf.models.backbones.simple",
           "tsss_tf.models.lnet", "tsss_tf.models.pnet", "tsss_tf.models.discriminator"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, result
