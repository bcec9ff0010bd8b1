"""What names a folder of labels: the weights of the model that wrote them and the settings it
ran with. A `PseudoLabelStore` refuses labels of another fingerprint, so labels from another
training or another setting are never reused.

>>> digest({"seed": 0, "size": 96}) == digest({"size": 96, "seed": 0})
True
>>> len(digest({"seed": 0}))
16
"""

from __future__ import annotations

import hashlib
import json

import keras
import numpy as np


def weights_id(model) -> str:
    """sha256 of a model's weights (shapes and values, in the model's order). Taken from the
    model in memory, not from a checkpoint file: every worker of a multi-worker run holds the
    same weights, while a non-chief worker can read the chief's checkpoint folder before its
    last save lands. (Weight names are left out: Keras numbers the layers of a second model
    built in one process differently.)"""
    h = hashlib.sha256()
    for w in model.weights:
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(w))
        h.update(str(value.shape).encode())
        h.update(value.tobytes())
    return h.hexdigest()[:16]


def data_fields(data_cfg) -> dict:
    """The DataConfig fields that name a run's labels: not the image size limits (they refuse
    files, they change no label), and extra_data_dirs only when set, so that the labels of
    single-folder runs keep their fingerprint."""
    fields = {k: v for k, v in data_cfg.__dict__.items()
              if k not in ("max_image_pixels", "max_image_side")}
    if not fields.get("extra_data_dirs"):
        fields.pop("extra_data_dirs", None)
    return fields


def digest(fields: dict) -> str:
    """16 hex digits of the sha256 of `fields` as sorted JSON (values that are not JSON, such
    as tuples' members, by their str)."""
    text = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
