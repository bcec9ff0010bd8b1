"""The error of the serving tools (tsss_tf.errors.ExportError, importable from here)."""

from tsss_tf.errors import ExportError  # noqa: F401
