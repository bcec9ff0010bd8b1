"""TF Serving's request protos: `PredictRequest` and `PredictionLog`.

With `tensorflow-serving-api` installed these are its generated classes. That package declares
a dependency on the full `tensorflow` wheel, which would be installed next to the
`tensorflow-cpu` this project uses on Linux x86-64, so it is an optional extra installed with
`pip install --no-deps tensorflow-serving-api` (see docs/serving.md). Without it, the same
messages are built here from their definitions (`tensorflow_serving/apis/model.proto`,
`predict.proto`, `prediction_log.proto`: the same package, message names and field numbers, the
fields tsss_tf writes) in a private descriptor pool. Either way the serialized bytes are a real
PredictRequest / PredictionLog that TF Serving and `tensorflow-serving-api` parse; the tests
check that both give the same bytes.

    PredictRequest, PredictionLog = message_classes()
"""

import functools

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_PACKAGE = "tensorflow.serving"
_TENSOR_PROTO = "tensorflow/core/framework/tensor.proto"
_F = descriptor_pb2.FieldDescriptorProto


def have_serving_api() -> bool:
    """Whether `tensorflow-serving-api` is installed."""
    try:
        import tensorflow_serving.apis.prediction_log_pb2  # noqa: F401
    except ImportError:
        return False
    return True


@functools.lru_cache(maxsize=None)
def message_classes(prefer_installed: bool = True):
    """(PredictRequest, PredictionLog) classes: tensorflow-serving-api's if installed (and
    `prefer_installed`), else built from the definitions."""
    if prefer_installed and have_serving_api():
        from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

        return predict_pb2.PredictRequest, prediction_log_pb2.PredictionLog
    return _built_classes()


def _field(name, number, ftype, type_name=None, repeated=False):
    f = _F(name=name, number=number, type=ftype,
           label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL)
    if type_name:
        f.type_name = type_name
    return f


def _copy_with_dependencies(fd, pool, done):
    """Adds the file descriptor `fd` and what it imports to `pool`."""
    for dep in fd.dependencies:
        _copy_with_dependencies(dep, pool, done)
    if fd.name not in done:
        proto = descriptor_pb2.FileDescriptorProto()
        fd.CopyToProto(proto)
        pool.Add(proto)
        done.add(fd.name)


def _serving_file():
    msg = _F.TYPE_MESSAGE
    f = descriptor_pb2.FileDescriptorProto(name="tsss_tf/serving/predict_subset.proto",
                                           package=_PACKAGE, syntax="proto3",
                                           dependency=[_TENSOR_PROTO])
    f.message_type.add(name="ModelSpec", field=[
        _field("name", 1, _F.TYPE_STRING), _field("signature_name", 3, _F.TYPE_STRING)])
    request = f.message_type.add(name="PredictRequest", field=[
        _field("model_spec", 1, msg, f".{_PACKAGE}.ModelSpec"),
        _field("inputs", 2, msg, f".{_PACKAGE}.PredictRequest.InputsEntry", repeated=True),
        _field("output_filter", 3, _F.TYPE_STRING, repeated=True)])
    entry = request.nested_type.add(name="InputsEntry", field=[
        _field("key", 1, _F.TYPE_STRING), _field("value", 2, msg, ".tensorflow.TensorProto")])
    entry.options.map_entry = True
    f.message_type.add(name="PredictLog", field=[
        _field("request", 1, msg, f".{_PACKAGE}.PredictRequest")])
    f.message_type.add(name="PredictionLog", field=[
        _field("predict_log", 6, msg, f".{_PACKAGE}.PredictLog")])
    return f


@functools.lru_cache(maxsize=None)
def _built_classes():
    from tensorflow.core.framework import tensor_pb2

    pool = descriptor_pool.DescriptorPool()  # private: no clash with the installed package
    _copy_with_dependencies(tensor_pb2.DESCRIPTOR, pool, set())
    pool.Add(_serving_file())
    get = pool.FindMessageTypeByName
    return (message_factory.GetMessageClass(get(f"{_PACKAGE}.PredictRequest")),
            message_factory.GetMessageClass(get(f"{_PACKAGE}.PredictionLog")))
