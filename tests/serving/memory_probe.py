"""The peak memory one request costs an export served the way TF Serving serves it: a fresh
process that never imports tsss_tf, the TF1 session loader, the request's tensor fed as it
comes (no shape check on the client side).

    python memory_probe.py EXPORT_VERSION_DIR IMAGE_FILE [SIGNATURE]

Prints one JSON line: before_mb and after_mb, the process's peak resident memory
(getrusage ru_maxrss) after loading the export and two small warm-up requests, and after the
request with IMAGE_FILE; error: the request's error message (None if it ran); shape: the
class map's shape.
"""

import json
import os
import resource
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.core.protobuf import config_pb2  # noqa: E402

tf1 = tf.compat.v1


def peak_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024  # bytes / KiB


def main(export, image_file, signature="class_map"):
    small = tf.io.encode_png(np.full((48, 64, 3), 90, np.uint8)).numpy()
    with open(image_file, "rb") as f:
        data = f.read()
    result = {"error": None, "shape": None}
    with tf.Graph().as_default() as graph, tf1.Session(graph=graph) as sess:
        meta = tf1.saved_model.loader.load(sess, ["serve"], export)
        sig = meta.signature_def[signature]
        options = config_pb2.CallableOptions(feed=[sig.inputs["image_bytes"].name],
                                             fetch=[sig.outputs["class_map"].name])
        call = sess._make_callable_from_options(options)
        for _ in range(2):
            call(np.array([small], dtype=object))
        result["before_mb"] = peak_mb()
        try:
            (class_map,) = call(np.array([data], dtype=object))
            result["shape"] = list(class_map.shape)
        except tf.errors.OpError as e:
            result["error"] = e.message.strip().splitlines()[0]
        result["after_mb"] = peak_mb()
    print(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:])
