"""Runs an export the way TF Serving does, in a fresh process that never imports tsss_tf.

    python served_client.py EXPORT_VERSION_DIR INPUT_DIR OUTPUT_DIR

TF Serving loads a SavedModel with the TF1 session loader and runs a signature by feeding its
input tensors and fetching its output tensors (`Session.run`); that is done here with
`tf.compat.v1.saved_model.loader.load`. Requests are decoded as TF Serving does it:

* REST `:predict` JSON, row ("instances") or columnar ("inputs") format, `{"b64": ...}` for
  binary strings, values converted to the signature's dtypes;
* gRPC `PredictRequest` protos (`tensorflow-serving-api`), tensors read with `tf.make_ndarray`,
  a tensor whose dtype differs from the signature's is refused, `output_filter` honoured;
* the SavedModel's warm-up file (`assets.extra/tf_serving_warmup_requests`, PredictionLogs).

This is a test harness for the export's formats and loader, not a server. INPUT_DIR holds what
the test prepared (see tests/serving/conftest.py); OUTPUT_DIR receives results.npz (arrays) and
results.json (errors, signature listing, REST responses).
"""

import base64
import glob
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf1 = tf.compat.v1

try:
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2
except ImportError:  # tensorflow-serving-api is an optional extra
    predict_pb2 = prediction_log_pb2 = None


class RequestError(ValueError):
    """A request TF Serving would refuse."""


def _np_dtype(tensor_info):
    return tf.dtypes.as_dtype(tensor_info.dtype).as_numpy_dtype


def _decode_b64(value):
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    if isinstance(value, dict):
        return {k: _decode_b64(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_b64(v) for v in value]
    return value


def _convert(name, value, info):
    dtype = tf.dtypes.as_dtype(info.dtype)
    if dtype == tf.string:
        return np.array(value, dtype=object)
    array = np.asarray(value)
    if array.size and array.dtype.kind == "f" and not dtype.is_floating:
        raise RequestError(f"input '{name}': expects {dtype.name} but a float value is given")
    return array.astype(_np_dtype(info))


def feeds_from_rest(body, sig):
    """{input name: ndarray} from a REST :predict body."""
    names = list(sig.inputs)
    if "instances" in body:
        rows = [_decode_b64(r) for r in body["instances"]]
        if len(names) == 1 and not (rows and isinstance(rows[0], dict)):
            cols = {names[0]: rows}
        else:
            cols = {n: [r[n] for r in rows] for n in names}
    elif "inputs" in body:
        inputs = _decode_b64(body["inputs"])
        cols = inputs if isinstance(inputs, dict) else {names[0]: inputs}
    else:
        raise RequestError("body has neither 'instances' nor 'inputs'")
    missing = set(names) - set(cols)
    if missing:
        raise RequestError(f"missing inputs {sorted(missing)}")
    return {n: _convert(n, cols[n], sig.inputs[n]) for n in names}


def feeds_from_request(request, sig):
    """{input name: ndarray} from a PredictRequest, with TF Serving's checks."""
    for name in request.inputs:
        if name not in sig.inputs:
            raise RequestError(f"input tensor alias not found in signature: {name}")
    feeds = {}
    for name, info in sig.inputs.items():
        if name not in request.inputs:
            raise RequestError(f"missing input '{name}'")
        proto = request.inputs[name]
        if proto.dtype != info.dtype:
            raise RequestError(
                f"input '{name}': expects {tf.dtypes.as_dtype(info.dtype).name} but "
                f"{tf.dtypes.as_dtype(proto.dtype).name} is provided")
        feeds[name] = tf.make_ndarray(proto)
    return feeds


def run(sess, meta, signature, feeds, output_filter=()):
    sig = meta.signature_def[signature]
    outputs = list(output_filter) or list(sig.outputs)
    fetch = {k: sig.outputs[k].name for k in outputs}
    return sess.run(fetch, {sig.inputs[k].name: v for k, v in feeds.items()})


def rest_response(outputs, row=True):
    """TF Serving's REST response body for fetched outputs."""
    if not row:
        return {"outputs": {k: v.tolist() for k, v in outputs.items()}}
    n = len(next(iter(outputs.values())))
    return {"predictions": [{k: v[i].tolist() for k, v in outputs.items()} for i in range(n)]}


def main(export, inputs, out):
    arrays, info = {}, {"errors": {}}
    files = json.load(open(os.path.join(inputs, "files.json")))
    encoded = [open(p, "rb").read() for p in files]
    batch = np.load(os.path.join(inputs, "batch.npy"))
    tags = np.load(os.path.join(inputs, "tags.npy"))

    def error_of(fn):
        try:
            fn()
        except (tf.errors.OpError, RequestError, ValueError, TypeError) as e:
            return f"{type(e).__name__}: {getattr(e, 'message', str(e))}"
        return None

    with tf.Graph().as_default() as graph, tf1.Session(graph=graph) as sess:
        meta = tf1.saved_model.loader.load(sess, ["serve"], export)
        info["signatures"] = sorted(k for k in meta.signature_def if not k.startswith("__"))
        for k, v in run(sess, meta, "tensor", {"images": batch}).items():
            arrays[f"tensor/{k}"] = v
        feeds = {"image_bytes": np.array(encoded, dtype=object)}
        for k, v in run(sess, meta, "serving_default", feeds).items():
            arrays[f"bytes/{k}"] = v
        for k, v in run(sess, meta, "with_tags", dict(feeds, tags=tags)).items():
            arrays[f"tagged/{k}"] = v
        for k, v in run(sess, meta, "tensor_with_tags",
                        {"images": batch, "tags": tags[:len(batch)]}).items():
            arrays[f"tensor_tagged/{k}"] = v

        # REST bodies.
        info["rest"] = {}
        for path in sorted(glob.glob(os.path.join(inputs, "rest_*.json"))):
            key = os.path.basename(path)[5:-5]
            body = json.load(open(path))
            name = body.get("signature_name", "serving_default")
            outputs = run(sess, meta, name, feeds_from_rest(body, meta.signature_def[name]))
            for k, v in outputs.items():
                arrays[f"rest_{key}/{k}"] = v
            response = json.loads(json.dumps(rest_response(outputs, row="instances" in body)))
            preds = response.get("predictions", [])
            info["rest"][key] = {"signature": name, "response_bytes": len(json.dumps(response)),
                                 "prediction_keys": [sorted(p) for p in preds],
                                 "image_sizes": [p.get("image_size") for p in preds]}

        # gRPC PredictRequests and the warm-up file.
        info["grpc"], info["warmup"] = {}, []
        if predict_pb2 is not None:
            for path in sorted(glob.glob(os.path.join(inputs, "request_*.pb"))):
                key = os.path.basename(path)[8:-3]
                request = predict_pb2.PredictRequest.FromString(open(path, "rb").read())
                name = request.model_spec.signature_name or "serving_default"

                def go(request=request, name=name, key=key):
                    feeds = feeds_from_request(request, meta.signature_def[name])
                    outputs = run(sess, meta, name, feeds, request.output_filter)
                    for k, v in outputs.items():
                        arrays[f"grpc_{key}/{k}"] = v
                    info["grpc"][key] = {"signature": name, "model": request.model_spec.name,
                                         "outputs": sorted(outputs)}

                err = error_of(go)
                if err:
                    info["errors"][f"grpc_{key}"] = err
            warm = os.path.join(export, "assets.extra", "tf_serving_warmup_requests")
            for record in tf1.io.tf_record_iterator(warm):
                request = prediction_log_pb2.PredictionLog.FromString(record).predict_log.request
                name = request.model_spec.signature_name
                warm_feeds = feeds_from_request(request, meta.signature_def[name])
                outputs = run(sess, meta, name, warm_feeds)
                info["warmup"].append({"signature": name, "model": request.model_spec.name,
                                       "shapes": {k: list(v.shape) for k, v in outputs.items()}})

        # Bad inputs.
        info["errors"]["not_an_image"] = error_of(lambda: run(
            sess, meta, "serving_default",
            {"image_bytes": np.array([encoded[0], b"this is not an image"], dtype=object)}))
        info["errors"]["empty_bytes"] = error_of(lambda: run(
            sess, meta, "class_map", {"image_bytes": np.array([], dtype=object)}))
        info["errors"]["empty_tensor"] = error_of(lambda: run(
            sess, meta, "tensor", {"images": np.zeros((0, 8, 8, 3), np.uint8)}))
        info["errors"]["bad_tags"] = error_of(lambda: run(
            sess, meta, "with_tags", dict(feeds, tags=tags * 2)))
        info["errors"]["rest_float_pixels"] = error_of(lambda: feeds_from_rest(
            {"signature_name": "tensor", "inputs": {"images": (batch[:1] + 0.5).tolist()}},
            meta.signature_def["tensor"]))

    # The TF2 loader, for comparison, and its dtype check.
    loaded = tf.saved_model.load(export)
    tf2_out = loaded.signatures["tensor"](images=tf.constant(batch))
    for k, v in tf2_out.items():
        arrays[f"tf2_tensor/{k}"] = v.numpy()
    info["errors"]["tf2_float_images"] = error_of(
        lambda: loaded.signatures["tensor"](images=tf.constant(batch.astype(np.float32))))
    info["imported_tsss_tf"] = any(m == "tsss_tf" or m.startswith("tsss_tf.")
                                   for m in sys.modules)
    info["have_serving_api"] = predict_pb2 is not None
    np.savez(os.path.join(out, "results.npz"), **arrays)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(info, f, indent=1)


if __name__ == "__main__":
    main(*sys.argv[1:4])
