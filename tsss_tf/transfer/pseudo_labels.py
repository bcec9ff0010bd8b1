"""The transferred labels L_w of a run: a cached, resumable folder of palette PNGs.

    DIR/manifest.json   {"fingerprint", "complete", "count", "stats", "format"}
    DIR/NAME.png        one label map per weak image (0 background, k + 1 category k, 255 ignore)

The fingerprint names what produced the labels (e.g. a hash of the L-Net checkpoint, the split
and the transfer settings). Opening a folder that holds labels of another fingerprint raises
ValueError, so a changed setting never silently reuses stale labels; `reset=True` wipes them.

Every file is written to a temporary name in the same folder and then `os.replace`d into place,
so a crash leaves either the old file, the complete new one, or an ignored temporary
(`.NAME.<pid>.tmp.png`, or any `*.tmp`): `names()` and `has()` never see a partial label.

>>> import tempfile, numpy as np
>>> store = PseudoLabelStore(tempfile.mkdtemp(), fingerprint="lnet-abc123")
>>> store.write("2007_000032", np.array([[0, 1], [255, 1]], np.uint8))
>>> store.names(), store.read("2007_000032").tolist(), store.is_complete()
(['2007_000032'], [[0, 1], [255, 1]], False)
>>> store.mark_complete({"pseudo_miou": 0.61}); store.is_complete()
True
"""

from __future__ import annotations

import json
import os
from typing import Dict, List, Optional

import numpy as np
from PIL import Image

from tsss_tf.atomic import atomic_open
from tsss_tf.data.voc import write_palette_png

__all__ = ["PseudoLabelStore"]

MANIFEST = "manifest.json"
_FORMAT = 1
_TMP_SUFFIXES = (".tmp", ".tmp.png")


def _is_label_file(filename: str) -> bool:
    return (filename.endswith(".png") and not filename.startswith(".")
            and not filename.endswith(_TMP_SUFFIXES))


def _json_default(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"stats value {x!r} of type {type(x).__name__} is not JSON-serialisable")


class PseudoLabelStore:
    """A folder of pseudo-label maps tied to a fingerprint.

    Args:
      directory: the folder (created if missing).
      fingerprint: a non-empty string naming what produced the labels.
      reset: wipe the labels, temporaries and manifest already in the folder (other files are
        left alone) and start afresh. Without it, a folder whose manifest has another
        fingerprint, or that holds label PNGs but no manifest, raises ValueError.
    """

    def __init__(self, directory: str, fingerprint: str, reset: bool = False):
        if not isinstance(fingerprint, str) or not fingerprint:
            raise ValueError(f"fingerprint must be a non-empty string, got {fingerprint!r}")
        self.directory = os.path.abspath(os.path.expanduser(directory))
        self.fingerprint = fingerprint
        os.makedirs(self.directory, exist_ok=True)
        if reset:
            self._wipe()
        manifest = self.manifest()
        if manifest is None:
            labels = self.names()
            if labels:
                raise ValueError(
                    f"pseudo-label folder {self.directory} holds {len(labels)} label files but "
                    f"no {MANIFEST}, so their fingerprint is unknown (this run's is "
                    f"{fingerprint!r}); delete the folder {self.directory} to write the "
                    "labels afresh")
            self._write_manifest({"fingerprint": fingerprint, "complete": False})
        elif manifest.get("fingerprint") != fingerprint:
            raise ValueError(
                f"pseudo-label folder {self.directory} holds labels with fingerprint "
                f"{manifest.get('fingerprint')!r}, not this run's {fingerprint!r}; "
                f"delete the folder {self.directory} to write the labels afresh")
        self._complete_on_disk = bool(self.manifest().get("complete", False))

    # -- paths and listing ------------------------------------------------------------------

    def path(self, name: str) -> str:
        """The PNG path of label `name` (a plain file name: no folder, no leading dot)."""
        if (not isinstance(name, str) or not name or name.startswith(".")
                or os.sep in name or (os.altsep and os.altsep in name)
                or name.endswith(_TMP_SUFFIXES) or name == MANIFEST):
            raise ValueError(f"invalid pseudo-label name {name!r}")
        return os.path.join(self.directory, name + ".png")

    def has(self, name: str) -> bool:
        return os.path.isfile(self.path(name))

    def names(self) -> List[str]:
        """Sorted names of the complete label files (temporaries are ignored)."""
        return sorted(fn[:-4] for fn in os.listdir(self.directory) if _is_label_file(fn))

    def __len__(self) -> int:
        return len(self.names())

    # -- labels -----------------------------------------------------------------------------

    def write(self, name: str, label_map) -> None:
        """Writes label map [H, W] (integers in 0..255) atomically as a palette PNG."""
        final = self.path(name)
        label = np.asarray(label_map)
        if label.ndim != 2:
            raise ValueError(f"label map '{name}' must be [H, W], got shape {label.shape}")
        if not np.issubdtype(label.dtype, np.integer):
            raise ValueError(f"label map '{name}' must hold integers, got {label.dtype}")
        if label.size and (label.min() < 0 or label.max() > 255):
            raise ValueError(f"label map '{name}' has values outside 0..255 "
                             f"({label.min()}..{label.max()})")
        if self._complete_on_disk:  # new labels make the recorded count and stats stale
            self._write_manifest({"fingerprint": self.fingerprint, "complete": False})
            self._complete_on_disk = False
        with atomic_open(final) as f:
            write_palette_png(f, label.astype(np.uint8))

    def read(self, name: str) -> np.ndarray:
        """The label map uint8 [H, W] (palette indices)."""
        path = self.path(name)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no pseudo label '{name}' in {self.directory}")
        with Image.open(path) as im:
            return np.asarray(im, dtype=np.uint8)

    # -- manifest ---------------------------------------------------------------------------

    def manifest(self) -> Optional[Dict]:
        """The parsed manifest.json, or None when there is none."""
        path = os.path.join(self.directory, MANIFEST)
        if not os.path.exists(path):
            return None
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: unreadable manifest ({e}); delete the folder "
                             f"{self.directory} to write the labels afresh") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: the manifest is not a JSON object")
        return data

    def mark_complete(self, stats: Optional[Dict] = None) -> None:
        """Records that every label of the run is written, with their count and `stats`
        (JSON-serialisable; numpy scalars and arrays are converted)."""
        self._write_manifest({"fingerprint": self.fingerprint, "complete": True,
                              "count": len(self.names()), "stats": dict(stats or {})})
        self._complete_on_disk = True

    def is_complete(self) -> bool:
        manifest = self.manifest()
        return bool(manifest and manifest.get("complete", False))

    def _write_manifest(self, data: Dict) -> None:
        data = dict(data, format=_FORMAT)
        final = os.path.join(self.directory, MANIFEST)
        with atomic_open(final, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True, default=_json_default)
            f.write("\n")

    def _wipe(self) -> None:
        for fn in os.listdir(self.directory):
            if fn == MANIFEST or fn.endswith(".png") or fn.endswith(".tmp"):
                path = os.path.join(self.directory, fn)
                if os.path.isfile(path):
                    os.remove(path)

    def __repr__(self) -> str:
        return (f"PseudoLabelStore({self.directory!r}, fingerprint={self.fingerprint!r}, "
                f"labels={len(self)}, complete={self.is_complete()})")
