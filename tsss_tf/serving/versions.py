"""TF Serving's versioned layout: `BASE/<version>/saved_model.pb`, version a positive integer.

TF Serving watches BASE, loads the highest version and ignores entries whose name is not an
integer (so a half-written export in `BASE/.tmp-...` is never picked up).
"""

import os

from tsss_tf.serving.errors import ExportError


def versions(base: str) -> list:
    """The integer versions present in `base`, ascending."""
    if not os.path.isdir(base):
        return []
    return sorted(int(n) for n in os.listdir(base)
                  if n.isdigit() and os.path.isdir(os.path.join(base, n)))


def next_version(base: str) -> int:
    """One more than the highest version in `base` (1 for a new or empty folder)."""
    found = versions(base)
    return found[-1] + 1 if found else 1


def resolve_saved_model(path: str) -> str:
    """`path` if it is a SavedModel folder, else the highest version under it."""
    if os.path.exists(os.path.join(path, "saved_model.pb")):
        return path
    found = versions(path)
    if not found:
        raise ExportError(f"'{path}' holds no SavedModel: no saved_model.pb and no version "
                          "folder (1/, 2/, ...)")
    return os.path.join(path, str(found[-1]))
