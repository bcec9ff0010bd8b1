"""Metrics against hand-computed numbers, and distributed evaluation against the plain loop."""

import json
import math

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import two_cpu_strategy
from tsss_tf.evaluation.metrics import (StreamingConfusionMatrix, confusion_matrix,
                                        evaluate_dataset, iou_per_class, miou_report)

NAMES = ["background", "cat", "dog"]
# 3 classes, 4x4, two ignored pixels. Worked by hand:
TRUTH = np.array([[0, 0, 1, 1],
                  [0, 0, 1, 1],
                  [2, 2, 255, 255],
                  [2, 2, 2, 0]], np.uint8)
PRED = np.array([[0, 1, 1, 1],
                 [0, 0, 1, 2],
                 [2, 0, 0, 1],
                 [2, 2, 2, 0]], np.int64)
# truth 0: predicted 0 at (0,0) (1,0) (1,1) (3,3), 1 at (0,1)    -> [4, 1, 0]
# truth 1: predicted 1 at (0,2) (0,3) (1,2), 2 at (1,3)          -> [0, 3, 1]
# truth 2: predicted 2 at (2,0) (3,0) (3,1) (3,2), 0 at (2,1)    -> [1, 0, 4]
EXPECTED_CM = np.array([[4, 1, 0],
                        [0, 3, 1],
                        [1, 0, 4]])
# IoU = TP / (row + col - TP): 4/(5+5-4) = 2/3, 3/(4+4-3) = 3/5, 4/(5+5-4) = 2/3
EXPECTED_IOU = [2 / 3, 3 / 5, 2 / 3]


def test_confusion_matrix_by_hand_and_ignore_label():
    cm = confusion_matrix(TRUTH, PRED, 3)
    assert cm.dtype == tf.int64
    np.testing.assert_array_equal(cm.numpy(), EXPECTED_CM)
    assert int(tf.reduce_sum(cm)) == 14  # 16 pixels, 2 ignored
    # any truth >= num_classes (or negative) is dropped like the ignore label
    truth = TRUTH.astype(np.int32).copy()
    truth[0, 0], truth[0, 1] = 7, -1
    expected = EXPECTED_CM.copy()
    expected[0, 0] -= 1
    expected[0, 1] -= 1
    np.testing.assert_array_equal(confusion_matrix(truth, PRED, 3).numpy(), expected)
    # a custom ignore label, inside a tf.function
    fn = tf.function(lambda t, p: confusion_matrix(t, p, 3, ignore_label=2))
    got = fn(tf.constant(TRUTH), tf.constant(PRED)).numpy()
    np.testing.assert_array_equal(got, [[4, 1, 0], [0, 3, 1], [0, 0, 0]])
    # empty input gives zeros; a prediction out of range is an error, not silently dropped
    assert int(tf.reduce_sum(confusion_matrix(np.zeros((0, 4)), np.zeros((0, 4)), 3))) == 0
    with pytest.raises(tf.errors.InvalidArgumentError):
        confusion_matrix(TRUTH, np.full((4, 4), 3), 3)


def test_streaming_accumulator():
    acc = StreamingConfusionMatrix(3)
    acc.update(confusion_matrix(TRUTH, PRED, 3))
    acc.update(EXPECTED_CM)
    np.testing.assert_array_equal(acc.matrix, 2 * EXPECTED_CM)
    with pytest.raises(ValueError):
        acc.update(np.zeros((2, 2)))
    acc.reset()
    assert acc.matrix.sum() == 0 and acc.matrix.shape == (3, 3)


def test_miou_report_by_hand():
    np.testing.assert_allclose(iou_per_class(EXPECTED_CM), EXPECTED_IOU)
    r = miou_report(EXPECTED_CM, NAMES, strong=["cat"], weak=["dog"])
    assert r["miou"] == pytest.approx(29 / 45)          # (2/3 + 3/5 + 2/3) / 3
    assert r["miou_strong"] == pytest.approx(3 / 5)
    assert r["miou_weak"] == pytest.approx(2 / 3)
    assert r["miou_fg"] == pytest.approx(19 / 30)       # (3/5 + 2/3) / 2
    assert r["pixel_accuracy"] == pytest.approx(11 / 14)
    assert r["num_pixels"] == 14
    assert r["per_class"] == pytest.approx(dict(zip(NAMES, EXPECTED_IOU)))
    json.loads(json.dumps(r))
    # indices work as well as names; no weak categories -> None
    r2 = miou_report(EXPECTED_CM, NAMES, strong=[1, 2])
    assert r2["miou_strong"] == pytest.approx(19 / 30) and r2["miou_weak"] is None
    with pytest.raises(ValueError):
        miou_report(EXPECTED_CM, NAMES, strong=["horse"])
    with pytest.raises(ValueError):
        miou_report(EXPECTED_CM, NAMES + ["extra"])


def test_classes_without_truth_pixels_are_not_measurable_and_skipped():
    # 4 classes: "cow" absent from truth and prediction; "bird" only predicted (a false
    # positive with no truth pixel). Neither can be measured: IoU None, listed in
    # not_measurable, left out of every mean.
    names = ["background", "cat", "bird", "cow"]
    cm = np.array([[3, 0, 1, 0],
                   [0, 2, 0, 0],
                   [0, 0, 0, 0],
                   [0, 0, 0, 0]])
    iou = iou_per_class(cm)
    np.testing.assert_allclose(iou[:3], [3 / 4, 1.0, 0.0])
    assert math.isnan(iou[3])
    r = miou_report(cm, names, strong=["cat", "bird"], weak=["cow"])
    assert r["per_class"]["cow"] is None and r["per_class"]["bird"] is None
    assert r["not_measurable"] == ["bird", "cow"]
    assert r["miou"] == pytest.approx((3 / 4 + 1) / 2)
    assert r["miou_fg"] == pytest.approx(1.0)
    assert r["miou_strong"] == pytest.approx(1.0)  # cat only
    assert r["miou_weak"] is None  # its only class cannot be measured
    # no pixel at all: every mean is None, pixel accuracy None
    empty = miou_report(np.zeros((4, 4), int), names, strong=["cat"])
    assert empty["miou"] is None and empty["pixel_accuracy"] is None and empty["num_pixels"] == 0
    # no "background" class: miou_fg covers all classes
    assert miou_report(cm, ["a", "b", "c", "d"])["miou_fg"] == pytest.approx(r["miou"])
    json.loads(json.dumps(r))


C = 4


def _fake_predict(images):
    """One-hot logits of a deterministic function of the image (no model)."""
    return tf.one_hot(tf.cast(images[..., 0], tf.int32) // 64, C)


def _data(n=7, h=5, w=6):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)
    masks = rng.integers(0, C, size=(n, h, w)).astype(np.uint8)
    masks[rng.random(masks.shape) < 0.2] = 255
    pred = images[..., 0].astype(np.int64) // 64
    keep = masks != 255
    ref = np.bincount(masks[keep].astype(np.int64) * C + pred[keep], minlength=C * C)
    return images, masks, ref.reshape(C, C)


def test_evaluate_dataset_two_replicas_equals_plain_loop():
    images, masks, ref = _data()
    # 7 examples in batches of 2: the last batch holds 1 example, so one replica gets an empty
    # batch; no drop_remainder, every example counted once.
    ds = tf.data.Dataset.from_tensor_slices((images, masks)).batch(2)
    plain = evaluate_dataset(_fake_predict, ds, C)
    np.testing.assert_array_equal(plain, ref)
    dict_ds = tf.data.Dataset.from_tensor_slices(
        {"image": images, "mask": masks[..., None], "name": [f"x{i}" for i in range(7)]}).batch(2)
    dist = evaluate_dataset(_fake_predict, dict_ds, C, strategy=two_cpu_strategy(),
                            progress=True)
    assert dist.dtype == np.int64
    np.testing.assert_array_equal(dist, plain)
    assert dist.sum() == int((masks != 255).sum())
