"""The export run in a fresh process that never imports tsss_tf, through TF Serving's loader
(the TF1 session loader) and request formats, against the in-process P-Net with
`python -m tsss_tf.evaluate`'s preprocessing."""

import numpy as np
import pytest

from tests.serving.conftest import ALL, CLASSES, SAME_SIZE, TAGS_ROW

TOL = 1e-5


def _check_maps(probs, class_map, want):
    """probabilities within TOL of `want`; class_map is their argmax wherever the top two
    classes are not tied within TOL."""
    assert probs.shape == want.shape
    assert np.abs(probs - want).max() <= TOL
    top2 = np.sort(want, axis=-1)[..., -2:]
    clear = (top2[..., 1] - top2[..., 0]) > 2 * TOL
    assert clear.mean() > 0.99
    np.testing.assert_array_equal(class_map[clear], want.argmax(-1)[clear])


def test_the_client_process_never_imported_tsss_tf(served):
    assert served.info["imported_tsss_tf"] is False
    assert served.info["signatures"] == sorted(
        ["serving_default", "class_map", "with_tags", "class_map_with_tags", "tensor",
         "tensor_with_tags"])


def test_uint8_batch_of_odd_size_matches_the_in_process_model(served, expected):
    probs, class_map = served.arrays["tensor/probabilities"], served.arrays["tensor/class_map"]
    assert probs.shape == (3, 203, 317, len(CLASSES)) and class_map.dtype == np.int32
    for i, name in enumerate(SAME_SIZE):
        _check_maps(probs[i], class_map[i], expected[name])
    assert len(np.unique(class_map)) > 1  # the random model is not a constant
    # the TF2 loader gives the same numbers as the session loader
    np.testing.assert_allclose(served.arrays["tf2_tensor/probabilities"], probs, atol=TOL)


def test_encoded_png_and_jpeg_of_mixed_sizes_match_the_in_process_model(served, expected):
    probs, class_map = served.arrays["bytes/probabilities"], served.arrays["bytes/class_map"]
    sizes = served.arrays["bytes/image_size"]
    assert sizes.tolist() == [[203, 317]] * 3 + [[150, 64], [97, 131]]
    assert probs.shape == (len(ALL), 203, 317, len(CLASSES))
    for i, name in enumerate(ALL):
        h, w = sizes[i]
        _check_maps(probs[i, :h, :w], class_map[i, :h, :w], expected[name])
        assert (class_map[i, h:] == -1).all() and (class_map[i, :, w:] == -1).all()
        assert (probs[i, h:] == 0).all() and (probs[i, :, w:] == 0).all()


@pytest.mark.parametrize("key", ["tagged", "tensor_tagged"])
def test_tags_restrict_the_classes(served, expected, key):
    probs, class_map = served.arrays[f"{key}/probabilities"], served.arrays[f"{key}/class_map"]
    allowed = TAGS_ROW.astype(bool)
    allowed[0] = True  # background is always allowed
    for i, name in enumerate(ALL[:len(probs)]):
        want = expected[name] * allowed
        want /= want.sum(-1, keepdims=True)
        h, w = want.shape[:2]
        assert (probs[i, :h, :w][..., ~allowed] == 0).all()
        _check_maps(probs[i, :h, :w], class_map[i, :h, :w], want)
        assert set(np.unique(class_map[i, :h, :w])) <= {0, 1, 3}


def test_rest_json_bodies_are_decoded_and_run(served, expected):
    info, arrays = served.info["rest"], served.arrays
    rows = arrays["rest_class_map_rows/class_map"]
    np.testing.assert_array_equal(rows, arrays["bytes/class_map"])
    cols = arrays["rest_class_map_columns/class_map"]
    assert cols.shape == (2, 150, 131)
    np.testing.assert_array_equal(cols[1, :97], arrays["bytes/class_map"][4, :97, :131])
    _check_maps(arrays["rest_tensor_columns/probabilities"][0],
                arrays["rest_tensor_columns/class_map"][0], expected[SAME_SIZE[0]])
    tagged = arrays["rest_tagged_rows/class_map"]
    np.testing.assert_array_equal(tagged, arrays["tagged/class_map"][:2])
    # TF Serving's row-format response of the light signature: class ids and sizes only
    rows_info = info["class_map_rows"]
    assert rows_info["prediction_keys"] == [["class_map", "image_size"]] * len(ALL)
    assert rows_info["image_sizes"][3:] == [[150, 64], [97, 131]]
    assert info["class_map_rows"]["response_bytes"] < info["tensor_columns"]["response_bytes"]


def test_grpc_predict_requests_are_decoded_and_run(served):
    if not served.info["have_serving_api"]:
        pytest.skip("tensorflow-serving-api is not installed (pip install --no-deps "
                    "tensorflow-serving-api)")
    grpc, arrays = served.info["grpc"], served.arrays
    assert grpc["bytes"]["model"] == "segmenter"
    np.testing.assert_allclose(arrays["grpc_bytes/probabilities"],
                               arrays["bytes/probabilities"], atol=TOL)
    assert grpc["filtered"]["outputs"] == ["class_map"]
    np.testing.assert_array_equal(arrays["grpc_filtered/class_map"][0],
                                  arrays["bytes/class_map"][0])
    np.testing.assert_allclose(arrays["grpc_tensor/probabilities"],
                               arrays["tensor/probabilities"], atol=TOL)
    assert "expects uint8 but float32 is provided" in served.info["errors"]["grpc_wrong_dtype"]


def test_warmup_requests_run_through_every_signature(served):
    if not served.info["have_serving_api"]:
        pytest.skip("tensorflow-serving-api is not installed")
    warm = served.info["warmup"]
    assert sorted(w["signature"] for w in warm) == served.info["signatures"]
    for w in warm:
        assert w["model"] == "tsss"
        assert w["shapes"]["class_map"] == [1, 64, 64]


def test_bad_inputs_give_clear_errors(served):
    errors = served.info["errors"]
    assert "neither a JPEG nor a PNG" in errors["not_an_image"]
    assert "[1]" in errors["not_an_image"]  # names the bad element
    assert "image_bytes: the batch is empty" in errors["empty_bytes"]
    assert "images: the batch is empty" in errors["empty_tensor"]
    assert "tags: values must be 0 or 1" in errors["bad_tags"]
    assert "expects uint8 but a float value" in errors["rest_float_pixels"]
    assert "expected to be a uint8 tensor but is a float tensor" in errors["tf2_float_images"]
