"""The docstring examples of the monitoring modules run and give what they show."""

import pytest

from tests.doctests import check_docstring_examples


@pytest.mark.parametrize("name", ["tsss_tf.training.gan_health", "tsss_tf.evaluation.panels",
                                  "tsss_tf.evaluation.monitor"])
def test_docstring_examples(name):
    check_docstring_examples(name)
