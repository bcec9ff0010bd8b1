"""Client side: requests for an exported P-Net, in TF Serving's gRPC and REST formats.

    images = [open("a.jpg", "rb").read(), open("b.png", "rb").read()]
    request = predict_request({"image_bytes": images})             # gRPC PredictRequest
    body = rest_body({"image_bytes": images}, "class_map")          # JSON for :predict

`check_inputs` raises `ExportError` naming the input and the problem before anything is sent.
"""

import base64

import numpy as np
import tensorflow as tf

from tsss_tf.serving.errors import ExportError
from tsss_tf.serving.protos import message_classes
from tsss_tf.serving.signatures import BYTES, DEFAULT, SIGNATURES, TAGS, TENSOR

DEFAULT_MODEL_NAME = "tsss"


def check_inputs(inputs: dict, signature_name: str = DEFAULT) -> dict:
    """The inputs of signature `signature_name` as numpy arrays of the right dtype."""
    if signature_name not in SIGNATURES:
        raise ExportError(f"unknown signature '{signature_name}' "
                          f"(known: {', '.join(SIGNATURES)})")
    want = SIGNATURES[signature_name].inputs
    if set(inputs) != set(want):
        raise ExportError(f"signature '{signature_name}' takes the inputs {list(want)}, "
                          f"got {sorted(inputs)}")
    out = {}
    if BYTES in inputs:
        items = list(inputs[BYTES]) if not isinstance(inputs[BYTES], bytes) else [inputs[BYTES]]
        bad = [i for i, b in enumerate(items) if not isinstance(b, (bytes, np.bytes_))]
        if bad:
            raise ExportError(f"{BYTES}: elements {bad} are not bytes (encoded JPEG or PNG files)")
        out[BYTES] = np.array(items, dtype=object)
    if TENSOR in inputs:
        images = np.asarray(inputs[TENSOR])
        if images.dtype != np.uint8:
            raise ExportError(f"{TENSOR}: wants uint8 RGB, got dtype {images.dtype}")
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ExportError(f"{TENSOR}: wants shape [batch, height, width, 3], got "
                              f"{list(images.shape)}")
        out[TENSOR] = images
    batch = len(next(iter(out.values())))
    if batch == 0:
        raise ExportError(f"{want[0]}: the batch is empty")
    if TAGS in inputs:
        tags = np.asarray(inputs[TAGS])
        if tags.dtype.kind not in "iub" or tags.ndim != 2 or len(tags) != batch:
            raise ExportError(f"{TAGS}: wants 0/1 integers [batch={batch}, num_classes], got "
                              f"dtype {tags.dtype} shape {list(tags.shape)}")
        out[TAGS] = tags.astype(np.int32)
    return out


def predict_request(inputs: dict, signature_name: str = DEFAULT,
                    model_name: str = DEFAULT_MODEL_NAME, output_filter=()):
    """A TF Serving `PredictRequest` (tensors made with `tf.make_tensor_proto`)."""
    request_cls, _ = message_classes()
    request = request_cls()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    for name, value in check_inputs(inputs, signature_name).items():
        proto = tf.make_tensor_proto(value)
        request.inputs[name].ParseFromString(proto.SerializeToString())
    request.output_filter.extend(output_filter)
    return request


def _jsonable(name, value):
    if name == BYTES:
        return [{"b64": base64.b64encode(bytes(b)).decode("ascii")} for b in value]
    return value.tolist()


def rest_body(inputs: dict, signature_name: str = DEFAULT, columnar: bool = False) -> dict:
    """The JSON body of TF Serving's REST `:predict`, row ("instances") or columnar ("inputs")
    format; encoded images travel as {"b64": ...}."""
    checked = check_inputs(inputs, signature_name)
    cols = {name: _jsonable(name, value) for name, value in checked.items()}
    body = {"signature_name": signature_name}
    if columnar:
        body["inputs"] = cols
    else:
        n = len(next(iter(cols.values())))
        body["instances"] = [{name: col[i] for name, col in cols.items()} for i in range(n)]
    return body
