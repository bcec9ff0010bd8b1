"""Where tsss_tf caches what it makes once (the embedded data set, painted COCO masks,
converted pretrained weights): `$TSSS_TF_CACHE/<kind>`, or `~/.cache/tsss_tf/<kind>`.

    cache_dir("embedded")   # e.g. /home/me/.cache/tsss_tf/embedded
"""

import os

ENV = "TSSS_TF_CACHE"


def cache_dir(kind: str) -> str:
    """Absolute folder for one kind of cached file (not created here)."""
    base = os.environ.get(ENV) or os.path.join("~", ".cache", "tsss_tf")
    return os.path.join(os.path.abspath(os.path.expanduser(base)), kind)
