"""Runs an exported P-Net in this process (`tf.saved_model.load`), on encoded image files.

    segmenter = ExportedSegmenter("exports/tsss")          # the highest version, or a version dir
    maps = segmenter.predict([open("a.jpg", "rb").read()], tags=["cat"])
"""

import os
import re

import numpy as np
import tensorflow as tf

from tsss_tf.image_limits import ImageLimits
from tsss_tf.serving.errors import ExportError
from tsss_tf.serving.exporter import CLASS_NAMES_ASSET, read_metadata
from tsss_tf.serving.preprocess import JPEG_MAGIC, PNG_MAGIC
from tsss_tf.serving.signatures import BYTES, CLASS_MAP, IMAGE_SIZE, TAGS
from tsss_tf.serving.versions import resolve_saved_model


class ExportedSegmenter:
    """An export of `python -m tsss_tf.export` (a version folder or the versioned base)."""

    def __init__(self, path: str):
        self.path = resolve_saved_model(path)
        names_file = os.path.join(self.path, "assets", CLASS_NAMES_ASSET)
        try:
            with open(names_file, encoding="utf-8") as f:
                self.class_names = tuple(line.rstrip("\n") for line in f if line.strip())
        except FileNotFoundError:
            raise ExportError(f"'{self.path}' is not a tsss_tf export: {names_file} is "
                              "missing") from None
        self._loaded = tf.saved_model.load(self.path)

    @property
    def image_limits(self):
        """The ImageLimits the export's signatures enforce, or None (an export written before
        they were recorded: it checks no size)."""
        return export_image_limits(self.path)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def tags_row(self, names) -> np.ndarray:
        """int32 [num_classes]: 1 for the named classes."""
        row = np.zeros(self.num_classes, np.int32)
        for name in names:
            if name not in self.class_names:
                raise ExportError(f"tag '{name}' is not a class of the export (classes: "
                                  f"{', '.join(self.class_names)})")
            row[self.class_names.index(name)] = 1
        return row

    def predict(self, encoded, tags=None, names=None) -> list:
        """Class maps int32 [height, width] (one per encoded JPEG/PNG image, at its size).

        tags: class names known to be in every image (the others are left out), or None.
        names: labels of the images for error messages (e.g. their file names)."""
        encoded = [bytes(e) for e in encoded]
        names = list(names) if names is not None else [f"image {i}" for i in range(len(encoded))]
        if not encoded:
            raise ExportError("no image to segment")
        for name, data in zip(names, encoded):
            if not (data.startswith(PNG_MAGIC) or data.startswith(JPEG_MAGIC)):
                raise ExportError(f"{name}: neither a JPEG nor a PNG image")
        inputs = {BYTES: tf.constant(encoded, tf.string)}
        if tags is None:
            out = self._run("class_map", inputs)
        else:
            row = self.tags_row(tags)
            inputs[TAGS] = tf.constant(np.tile(row[None], (len(encoded), 1)))
            out = self._run("class_map_with_tags", inputs)
        maps, sizes = out[CLASS_MAP].numpy(), out[IMAGE_SIZE].numpy()
        return [m[:h, :w] for m, (h, w) in zip(maps, sizes)]

    def _run(self, signature, inputs):
        try:
            return self._loaded.signatures[signature](**inputs)
        except tf.errors.InvalidArgumentError as e:  # an input check of the export
            lines = [ln.strip() for ln in (e.message or "").splitlines()
                     if ln.strip() and not ln.strip().startswith("[[")]
            text = next((ln for ln in lines if ln.startswith("assertion failed:")),
                        lines[-1] if lines else type(e).__name__)
            text = re.sub(r"\s*\[\[\{\{.*|\s*\[Op:[^\]]*\]$", "", text)
            raise ExportError(f"the export refused the input: {text}") from None


def export_image_limits(path: str):
    """The ImageLimits recorded in an export's tsss_export.json, or None."""
    try:
        recorded = read_metadata(path).get("image_limits")
    except (ExportError, OSError, ValueError):
        return None
    return ImageLimits(**recorded) if isinstance(recorded, dict) else None
