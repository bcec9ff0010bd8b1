"""Label refinement (tsss_tf.training.refine): a P-Net's prediction, restricted to the image's
tags, as the next round's labels."""

import numpy as np
import pytest
import tensorflow as tf

from tsss_tf.training.refine import restricted_labels


def test_only_background_and_tagged_categories_can_win():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 8, 9, 6)).astype(np.float32) * 4
    tags = np.array([[1, 0, 0, 1, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1]], np.float32)
    labels = restricted_labels(logits, tags, confidence=0.0).numpy()
    assert labels.dtype == np.uint8 and labels.shape == (3, 8, 9)
    for b in range(3):
        allowed = [0] + [k + 1 for k in np.flatnonzero(tags[b])]
        assert set(np.unique(labels[b])) <= set(allowed)
        # the winner is the argmax over the allowed classes
        np.testing.assert_array_equal(labels[b], np.array(allowed)[
            logits[b][..., allowed].argmax(-1)])
    assert (labels[1] == 0).all()  # no tag: background everywhere


def test_unconfident_pixels_are_ignored_by_the_restricted_probability():
    # class 2 dominates the raw logits but is not a tag: over {0, 1} the pixel is a tie
    logits = np.array([[[[0.0, 0.0, 10.0], [0.0, 5.0, 0.0]]]], np.float32)
    tags = np.array([[1.0, 0.0]], np.float32)
    np.testing.assert_array_equal(restricted_labels(logits, tags, 0.6).numpy(), [[[255, 1]]])
    np.testing.assert_array_equal(restricted_labels(logits, tags, 0.0).numpy(), [[[0, 1]]])


@pytest.mark.parametrize("confidence", [-0.1, 1.0, 1.5])
def test_confidence_outside_zero_one_is_refused(confidence):
    with pytest.raises(ValueError, match="confidence"):
        restricted_labels(tf.zeros([1, 2, 2, 3]), tf.ones([1, 2]), confidence)
