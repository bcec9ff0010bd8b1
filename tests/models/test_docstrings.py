"""The docstring examples of the model modules run and give what they show."""

import pytest

from tests.doctests import check_docstring_examples

MODULES = ["tsss_tf.models.layers", "tsss_tf.models.backbones", "tsss_tf.models.backbones.simple",
           "tsss_tf.models.lnet", "tsss_tf.models.pnet", "tsss_tf.models.discriminator"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    check_docstring_examples(name)
