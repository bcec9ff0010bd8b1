"""Atomic file writes: a crash leaves the old file or the complete new one, never a partial file
under the final name.

    with atomic_open("results.json", "w", encoding="utf-8") as f:
        json.dump(obj, f)

The data go to a hidden temporary file in the same folder (`.NAME.tmp-XXXX`, which readers
ignore), are flushed and fsync'ed, and the file is renamed over `path` (`os.replace`, atomic on
POSIX and Windows). On an exception the temporary file is removed and nothing is renamed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_open(path: str, mode: str = "wb", encoding=None):
    """A file object for writing `path` atomically (mode "w" or "wb"); see the module doc."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode must be 'w' or 'wb', got {mode!r}")
    folder, name = os.path.split(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.tmp-")
    try:
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
