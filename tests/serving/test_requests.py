"""Client-side request helpers and TF Serving's protos (no export needed)."""

import base64

import numpy as np
import pytest
import tensorflow as tf

from tsss_tf.serving.errors import ExportError
from tsss_tf.serving.protos import have_serving_api, message_classes
from tsss_tf.serving.requests import check_inputs, predict_request, rest_body

PNG = tf.io.encode_png(np.zeros((3, 5, 3), np.uint8)).numpy()


def _log_bytes(request_cls, log_cls):
    request = request_cls()
    request.model_spec.name = "tsss"
    request.model_spec.signature_name = "with_tags"
    for name, value in (("image_bytes", [PNG, PNG]), ("tags", np.eye(2, 5, dtype=np.int32))):
        request.inputs[name].ParseFromString(tf.make_tensor_proto(value).SerializeToString())
    request.output_filter.append("class_map")
    log = log_cls()
    log.predict_log.request.CopyFrom(request)
    return log.SerializeToString(deterministic=True)


def test_built_protos_serialize_like_tensorflow_serving_api():
    built = _log_bytes(*message_classes(prefer_installed=False))
    log_cls = message_classes(prefer_installed=False)[1]
    request = log_cls.FromString(built).predict_log.request
    assert tf.make_ndarray(request.inputs["image_bytes"]).tolist() == [PNG, PNG]
    if not have_serving_api():
        pytest.skip("tensorflow-serving-api is not installed: compared with itself only")
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    real = _log_bytes(predict_pb2.PredictRequest, prediction_log_pb2.PredictionLog)
    assert built == real
    parsed = prediction_log_pb2.PredictionLog.FromString(built).predict_log.request
    assert parsed.model_spec.signature_name == "with_tags"
    assert list(parsed.output_filter) == ["class_map"]
    np.testing.assert_array_equal(tf.make_ndarray(parsed.inputs["tags"]),
                                  np.eye(2, 5, dtype=np.int32))


def test_predict_request_carries_tensor_protos():
    images = np.zeros((2, 7, 9, 3), np.uint8)
    request = predict_request({"images": images}, "tensor", model_name="m",
                              output_filter=["class_map"])
    assert request.model_spec.name == "m" and request.model_spec.signature_name == "tensor"
    assert request.inputs["images"].dtype == tf.uint8.as_datatype_enum
    np.testing.assert_array_equal(tf.make_ndarray(request.inputs["images"]), images)


def test_rest_body_row_and_columnar_formats():
    rows = rest_body({"image_bytes": [PNG], "tags": [[1, 0, 1]]}, "with_tags")
    assert rows["signature_name"] == "with_tags"
    (instance,) = rows["instances"]
    assert base64.b64decode(instance["image_bytes"]["b64"]) == PNG
    assert instance["tags"] == [1, 0, 1]
    cols = rest_body({"images": np.ones((1, 2, 2, 3), np.uint8)}, "tensor", columnar=True)
    assert cols["inputs"]["images"] == np.ones((1, 2, 2, 3)).tolist()


@pytest.mark.parametrize("inputs,signature,message", [
    ({"images": np.zeros((1, 4, 4, 3), np.float32)}, "tensor",
     "wants uint8 RGB, got dtype float32"),
    ({"images": np.zeros((4, 4, 3), np.uint8)}, "tensor", "wants shape [batch, height, width, 3]"),
    ({"images": np.zeros((0, 4, 4, 3), np.uint8)}, "tensor", "images: the batch is empty"),
    ({"image_bytes": []}, "serving_default", "image_bytes: the batch is empty"),
    ({"image_bytes": ["a.png"]}, "serving_default", "elements [0] are not bytes"),
    ({"image_bytes": [PNG]}, "with_tags", "takes the inputs ['image_bytes', 'tags']"),
    ({"image_bytes": [PNG], "tags": [[0.5, 1]]}, "with_tags", "tags: wants 0/1 integers"),
    ({"image_bytes": [PNG]}, "nope", "unknown signature 'nope'"),
])
def test_bad_client_inputs_are_refused_with_the_reason(inputs, signature, message):
    with pytest.raises(ExportError) as info:
        check_inputs(inputs, signature)
    assert message in str(info.value)
