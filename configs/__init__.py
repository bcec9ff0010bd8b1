"""Named experiments. Each module defines `get_config()`; its docstring says how to launch it."""
