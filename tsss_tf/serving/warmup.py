"""TF Serving's warm-up file: `assets.extra/tf_serving_warmup_requests`.

A TFRecord file of `PredictionLog` protos; TF Serving replays each one at load time, so the first
real request does not pay for graph optimisation. tsss_tf writes one PredictRequest per signature
(a synthetic image of the export's eval size, and all-ones tags).
"""

import os

import numpy as np
import tensorflow as tf

from tsss_tf.serving.protos import message_classes
from tsss_tf.serving.requests import predict_request
from tsss_tf.serving.signatures import BYTES, SIGNATURES, TAGS, TENSOR

WARMUP_DIR = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"


def sample_image(height: int, width: int) -> np.ndarray:
    """A deterministic uint8 RGB test pattern (gradients and a disc)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    r = 255 * xx / max(1, width - 1)
    g = 255 * yy / max(1, height - 1)
    disc = ((yy - height / 2) ** 2 + (xx - width / 2) ** 2) < (min(height, width) / 4) ** 2
    b = np.where(disc, 220.0, 40.0)
    return np.stack([r, g, b], -1).round().astype(np.uint8)


def warmup_requests(num_classes: int, size: int, model_name: str) -> list:
    """One PredictRequest per signature."""
    image = sample_image(size, size)
    png = tf.io.encode_png(image).numpy()
    values = {BYTES: [png], TENSOR: image[None], TAGS: np.ones((1, num_classes), np.int32)}
    return [predict_request({n: values[n] for n in sig.inputs}, name, model_name)
            for name, sig in SIGNATURES.items()]


def write_warmup(saved_model_dir: str, requests) -> str:
    """Writes the requests as PredictionLogs into the SavedModel's warm-up file."""
    _, log_cls = message_classes()
    folder = os.path.join(saved_model_dir, WARMUP_DIR)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, WARMUP_FILE)
    with tf.io.TFRecordWriter(path) as writer:
        for request in requests:
            log = log_cls()
            log.predict_log.request.ParseFromString(request.SerializeToString())
            writer.write(log.SerializeToString(deterministic=True))
    return path


def read_warmup(saved_model_dir: str) -> list:
    """The PredictRequests of a SavedModel's warm-up file."""
    _, log_cls = message_classes()
    path = os.path.join(saved_model_dir, WARMUP_DIR, WARMUP_FILE)
    return [log_cls.FromString(r.numpy()).predict_log.request
            for r in tf.data.TFRecordDataset(path)]
