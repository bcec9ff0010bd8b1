"""The one runner of the docstring examples of the tsss_tf modules (tests/test_docstrings.py)."""

import doctest
import importlib


def check_docstring_examples(module_name):
    """Runs the docstring examples of the module `module_name`; fails unless it has some and
    every one gives what it shows (`...` matches anything)."""
    result = doctest.testmod(importlib.import_module(module_name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, f"{module_name}: {result}"
