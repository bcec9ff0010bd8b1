"""A KerasHub-style test harness for the tsss_tf layers and models."""

import json
import os
import tempfile

import keras
import numpy as np
import tensorflow as tf


def _shapes(out):
    return tf.nest.map_structure(lambda t: tuple(t.shape), out)


def _assert_close(a, b, atol):
    tf.nest.assert_same_structure(a, b)
    for x, y in zip(tf.nest.flatten(a), tf.nest.flatten(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=atol, rtol=0)


def _check_shapes(actual, expected):
    """expected: a shape tuple (None = any size on that axis), or a dict of them."""
    if isinstance(expected, dict):
        assert set(actual) == set(expected), (sorted(actual), sorted(expected))
        for k in expected:
            _check_shapes(actual[k], expected[k])
        return
    assert len(actual) == len(expected), (actual, expected)
    for a, e in zip(actual, expected):
        assert e is None or a == e, (actual, expected)


def _as_model(layer, input_data):
    """The layer itself if it is a Model, else a functional model around it (for `.keras`)."""
    if isinstance(layer, keras.Model):
        return layer
    inputs = tf.nest.map_structure(
        lambda x: keras.Input(shape=np.shape(x)[1:], batch_size=np.shape(x)[0]), input_data)
    return keras.Model(inputs, layer(inputs))


def run_layer_test(cls, init_kwargs, input_data, expected_output_shape, call_kwargs=None,
                   atol=1e-5, run_saving=True):
    """Builds `cls(**init_kwargs)` on `input_data` and checks that
    - the output shapes are `expected_output_shape` (a tuple, or a dict of tuples; None = any);
    - `get_config` is JSON-serializable and `from_config` (directly and through
      `keras.saving.serialize_keras_object` / `deserialize_keras_object`) gives a layer that, with
      the weights copied, returns identical outputs;
    - saving to `.keras` (`model.save`) and `keras.saving.load_model` give identical outputs;
    - a `tf.train.Checkpoint` (what the training loops write) holds every variable: a fresh
      instance restored from it with `assert_consumed` gives identical outputs (a Keras 3 list
      of layers is not tracked by tf.train.Checkpoint, keras-team/keras#18398).

    Returns the built layer.
    """
    call_kwargs = call_kwargs or {}
    layer = cls(**init_kwargs)
    output = layer(input_data, **call_kwargs)
    _check_shapes(_shapes(output), expected_output_shape)
    assert layer.built
    assert layer.weights, f"{cls.__name__} has no weights"

    config = layer.get_config()
    json.dumps(config)
    serialized = keras.saving.serialize_keras_object(layer)
    for clone in (cls.from_config(config), keras.saving.deserialize_keras_object(serialized)):
        assert type(clone) is cls
        clone(input_data, **call_kwargs)
        assert len(clone.weights) == len(layer.weights)
        clone.set_weights(layer.get_weights())
        _assert_close(output, clone(input_data, **call_kwargs), atol)
        assert clone.get_config() == config

    fresh = cls.from_config(config)
    fresh(input_data, **call_kwargs)
    with tempfile.TemporaryDirectory() as tmp:
        path = tf.train.Checkpoint(layer=layer).save(os.path.join(tmp, "ckpt"))
        tf.train.Checkpoint(layer=fresh).restore(path).assert_consumed()
    for a, b in zip(layer.weights, fresh.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    _assert_close(output, fresh(input_data, **call_kwargs), atol)

    if run_saving:
        model = _as_model(layer, input_data)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.keras")
            model.save(path)
            loaded = keras.saving.load_model(path)
        if model is layer:
            assert type(loaded) is cls
            _assert_close(output, loaded(input_data, **call_kwargs), atol)
        else:
            assert any(type(sub) is cls for sub in loaded.layers)
            _assert_close(model(input_data), loaded(input_data), atol)
    return layer
