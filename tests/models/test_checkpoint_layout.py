"""The checkpoint layout of the models does not change by accident.

A tf.train.Checkpoint names each variable by the attribute path to it (`model/backbone/stage1/
conv1/conv/_kernel/...`), so renaming an attribute or a layer in a list tracked by name
(`track_by_name`) makes every saved checkpoint unreadable. checkpoint_layout.json holds the keys
and shapes written by the models before the backbone / model base classes were introduced
(issue 23); a refactor must keep them. Change the file only for an intended, announced break
of the old checkpoints.
"""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tsss_tf.models import Discriminator, LNet, PNet

LAYOUT_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "checkpoint_layout.json")
IMAGES = np.zeros((1, 37, 45, 3), "float32")
MODELS = {
    "lnet_simple": lambda: LNet(3, backbone_kwargs={"width": 8}),
    "pnet_simple_aspp": lambda: PNet(4, backbone_kwargs={"width": 8, "output_stride": 16},
                                     head="aspp", head_width=16),
    "lnet_effnet": lambda: LNet(2, backbone="efficientnet_lite0",
                                backbone_kwargs={"output_stride": 16, "head_conv": True},
                                objectness_width=8),
    "discriminator": lambda: Discriminator(4, width=8, input_noise=0.1),
}


def _inputs(name):
    if name == "discriminator":
        return (IMAGES, np.zeros(IMAGES.shape[:3] + (4,), "float32"))
    return IMAGES


@pytest.mark.parametrize("name", sorted(MODELS))
def test_checkpoint_keys_and_shapes_are_unchanged(name, tmp_path):
    with open(LAYOUT_FILE) as f:
        expected = json.load(f)[name]
    model = MODELS[name]()
    model(_inputs(name))
    path = tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt"))
    written = {key: list(shape) for key, shape in tf.train.list_variables(path)
               if key != "_CHECKPOINTABLE_OBJECT_GRAPH"}
    missing = sorted(set(expected) - set(written))
    new = sorted(set(written) - set(expected))
    assert not missing and not new, f"{name}: missing {missing[:5]}, new {new[:5]}"
    assert written == expected
