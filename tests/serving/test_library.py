"""The serving library in this process: loading a trained P-Net, exporting, versions, tags."""

import dataclasses
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.serving.conftest import CLASSES, image_files
from tsss_tf.models import PNet
from tsss_tf.serving.errors import ExportError
from tsss_tf.serving.exporter import export_saved_model
from tsss_tf.serving.predictor import ExportedSegmenter
from tsss_tf.serving.trained_pnet import (checkpoint_blind_weights, checkpoint_path,
                                          experiment_classes, load_trained_pnet)
from tsss_tf.serving.versions import next_version, resolve_saved_model

TINY = {"width": 8, "stage3_blocks": 2}


def test_trained_pnet_is_the_checkpointed_one(run):
    model = load_trained_pnet(run.cfg, len(CLASSES), checkpoint_path(run.model_dir, "tsss"))
    x = np.random.default_rng(1).uniform(0, 255, (1, 40, 56, 3)).astype("float32")
    np.testing.assert_allclose(model(x).numpy(), run.model(x).numpy(), atol=1e-6)


def test_a_checkpoint_of_another_architecture_is_refused(run):
    cfg = dataclasses.replace(run.cfg, model=dataclasses.replace(run.cfg.model, head_width=16))
    with pytest.raises(ExportError, match="does not hold the P-Net of this config"):
        load_trained_pnet(cfg, len(CLASSES), checkpoint_path(run.model_dir, "tsss"))


@pytest.mark.parametrize("head", ["largefov", "aspp"])
def test_every_pnet_weight_is_reachable_by_a_checkpoint(head):
    model = PNet(3, backbone_kwargs=TINY, head=head, head_width=8)
    model.build((None, None, None, 3))
    assert checkpoint_blind_weights(tf.train.Checkpoint(generator=model), model) == []


def test_weights_held_only_in_a_list_are_detected():
    class Listed(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.parts = [keras.layers.Dense(2), keras.layers.Dense(3)]

        def call(self, x):
            return self.parts[1](self.parts[0](x))

    layer = Listed()
    layer(np.zeros((1, 4), "float32"))
    assert len(checkpoint_blind_weights(tf.train.Checkpoint(model=layer), layer)) == 4


def test_classes_come_from_the_data_set_or_a_classes_file(run, tmp_path):
    assert experiment_classes(run.cfg) == (CLASSES, 1)
    names = tmp_path / "classes.txt"
    names.write_text("background\ncow\nextra\ncat\nsheep\ndog\n")
    cfg = dataclasses.replace(run.cfg, data=dataclasses.replace(run.cfg.data,
                                                                data_dir="/nonexistent"))
    assert experiment_classes(cfg, str(names))[0] == ("background", "cow", "cat", "sheep", "dog")
    from tsss_tf.data.voc import DataError

    with pytest.raises(DataError, match="pass --classes_file"):
        experiment_classes(cfg)


def test_versions_and_refusals(tmp_path):
    base = str(tmp_path / "exports")
    assert next_version(base) == 1
    for v in ("1", "7", "tmp", ".tmp-8-x"):
        os.makedirs(os.path.join(base, v))
    assert next_version(base) == 8
    with pytest.raises(ExportError, match="no saved_model.pb"):
        resolve_saved_model(str(tmp_path))
    model = PNet(2, backbone_kwargs=TINY, head_width=8)
    model.build((None, None, None, 3))
    with pytest.raises(ExportError, match="already exists"):
        export_saved_model(model, ["a", "b"], 0, 32, base, version=7)
    with pytest.raises(ExportError, match="3 class names for a model of 2 classes"):
        export_saved_model(model, ["a", "b", "c"], 0, 32, base)


def test_export_without_background_and_tags(tmp_path, run):
    """A model without a background class (e.g. camvid_full): tags alone choose the classes."""
    keras.utils.set_random_seed(3)
    model = PNet(3, backbone_kwargs=TINY, head_width=8)
    model.build((None, None, None, 3))
    path = export_saved_model(model, ["sky", "road", "car"], 0, 48, str(tmp_path / "e"))
    segmenter = ExportedSegmenter(os.path.dirname(path))  # the versioned base works too
    assert segmenter.class_names == ("sky", "road", "car")
    files = image_files(run.cfg)[-2:]
    encoded = [open(p, "rb").read() for p in files]
    maps = segmenter.predict(encoded, tags=["road"])
    assert [m.shape for m in maps] == [(150, 64), (97, 131)]
    assert all((m == 1).all() for m in maps)
    with pytest.raises(ExportError, match="tag 'cat' is not a class"):
        segmenter.predict(encoded, tags=["cat"])
    with pytest.raises(ExportError, match="x.txt: neither a JPEG nor a PNG"):
        segmenter.predict([b"hello"], names=["x.txt"])
    sig = segmenter._loaded.signatures["class_map_with_tags"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="a row allows no class at all"):
        sig(image_bytes=tf.constant(encoded[:1]), tags=tf.zeros([1, 3], tf.int32))
