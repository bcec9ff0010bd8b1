"""A trained P-Net of a run folder, and the class names it predicts.

A run (`python -m tsss_tf.train`) keeps each P-Net variant's checkpoints in
`MODEL_DIR/<variant>/ckpt/` as `tf.train.Checkpoint(generator=pnet, ...)`; only the generator is
read here (no L-Net, no discriminator, no optimizer).
"""

import dataclasses
import os
import re

import tensorflow as tf

from tsss_tf.data.splits import Split
from tsss_tf.data.voc import DataError, VocLayout
from tsss_tf.models.factory import build_pnet
from tsss_tf.serving.errors import ExportError

VARIANTS = ("tsss", "full", "strong_only", "lnet_only")


def dataset_class_names(data_cfg, classes_file=None) -> tuple:
    """The data set's classes in index order: `classes_file` if given, the embedded set's, or
    those of the VOC-layout folder data_cfg.data_dir (its classes.txt, else VOC's 21)."""
    if classes_file:
        try:
            with open(classes_file, encoding="utf-8") as f:
                names = tuple(line.strip() for line in f if line.strip())
        except OSError as e:
            raise ExportError(f"classes file '{classes_file}': {e.strerror}") from None
        if not names:
            raise ExportError(f"classes file '{classes_file}' holds no class name")
        return names
    if data_cfg.dataset == "embedded":
        from tsss_tf.data.embedded import EMBEDDED_CLASSES

        return EMBEDDED_CLASSES
    if not data_cfg.data_dir:
        raise DataError("data.data_dir is not set: the class names come from the data set's "
                        "classes.txt (or pass a classes file)")
    try:
        return VocLayout(data_cfg.data_dir).class_names
    except DataError as e:
        raise DataError(f"{e}; the class names come from that folder's classes.txt: point "
                        "--data_dir at it or pass --classes_file") from None


def experiment_classes(cfg, classes_file=None):
    """(class names of the experiment, number of background classes) for a config."""
    split = Split.from_config(cfg.split)
    return split.class_names(dataset_class_names(cfg.data, classes_file)), split.num_background()


def checkpoint_path(model_dir: str, variant: str) -> str:
    """The latest checkpoint of a P-Net variant of the run in model_dir."""
    if variant not in VARIANTS:
        raise ExportError(f"unknown variant '{variant}' ({', '.join(VARIANTS)})")
    ckpt_dir = os.path.join(model_dir, variant, "ckpt")
    latest = tf.train.latest_checkpoint(ckpt_dir)
    if latest is None:
        raise ExportError(f"no checkpoint of variant '{variant}' in {ckpt_dir}")
    return latest


def load_trained_pnet(cfg, num_classes: int, checkpoint: str):
    """P-Net built from cfg.model with the generator weights of `checkpoint`.

    Every P-Net weight must come from the checkpoint: a layer left at its random initial value
    would be served silently."""
    model = build_pnet(dataclasses.replace(cfg.model, backbone_weights=None), num_classes)
    model.build((None, None, None, 3))
    root = tf.train.Checkpoint(generator=model)
    lost = checkpoint_blind_weights(root, model)
    if lost:
        raise ExportError(
            f"{len(lost)} P-Net weights are not reachable by tf.train.Checkpoint (e.g. layers "
            f"kept only in a Python list), so no checkpoint holds them: {lost[:4]}")
    try:
        status = root.restore(checkpoint).expect_partial()
        status.assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
        text = str(e)
        paths = re.findall(r"path=([^,\s]+)", text)
        detail = (f"it lacks {', '.join(paths[:4])}{', ...' if len(paths) > 4 else ''}"
                  if paths else text.splitlines()[0][:300])
        raise ExportError(
            f"checkpoint '{checkpoint}' does not hold the P-Net of this config (its model "
            f"section): {detail}. Checkpoints written before tsss_tf tracked the simple "
            "backbone's dilated blocks for tf.train.Checkpoint lack them: retrain that "
            "variant.") from None
    return model


def checkpoint_blind_weights(root, model) -> list:
    """Paths of the model's weights that `root` (a tf.train.Checkpoint holding the model) does
    not reach: a checkpoint neither saves nor restores them."""
    reached = {id(obj) for obj in tf.train.TrackableView(root).descendants()}
    return [w.path for w in model.weights
            if id(w) not in reached and id(getattr(w, "value", w)) not in reached]
