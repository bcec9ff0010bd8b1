"""The error of the serving tools, and how their command lines report it."""

import contextlib
import sys


class ExportError(ValueError):
    """An export or a served model cannot be written or used; the message names the path or
    the input and the problem."""


@contextlib.contextmanager
def cli_errors():
    """A bad config, data set, checkpoint, export or input ends the program with one line
    naming the culprit on stderr and exit status 2, not a traceback."""
    from tsss_tf.flags import user_errors

    with user_errors():
        try:
            yield
        except ExportError as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)
