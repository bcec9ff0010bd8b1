"""A trained P-Net of a run folder, and the class names it predicts.

A run (`python -m tsss_tf.train`) keeps each P-Net variant's checkpoints in
`MODEL_DIR/<variant>/ckpt/` as `tf.train.Checkpoint(generator=pnet, ...)`; only the generator is
read here (no L-Net, no discriminator, no optimizer).
"""

import os

from tsss_tf.data.splits import Split
from tsss_tf.data.voc import DataError, VocLayout
from tsss_tf.serving.errors import ExportError
from tsss_tf.training.restore import (CheckpointError, DamagedCheckpointError, latest_checkpoint,
                                      restore_trained, unreachable_weights)

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
    latest = latest_checkpoint(ckpt_dir)  # a garbled `checkpoint` file is named, not "none"
    if latest is None:
        raise ExportError(f"no checkpoint of variant '{variant}' in {ckpt_dir}")
    return latest


def load_trained_pnet(cfg, num_classes: int, checkpoint: str):
    """P-Net built from cfg.model with the generator weights of `checkpoint`.

    Every P-Net weight must come from the checkpoint (`training.restore.restore_trained`): a
    layer left at its random initial value would be served silently."""
    try:
        return restore_trained("pnet", cfg.model, num_classes, checkpoint, cfg.data.crop_size,
                               "the P-Net")
    except DamagedCheckpointError as e:
        raise ExportError(str(e)) from None
    except CheckpointError as e:
        raise ExportError(
            f"{e}. Checkpoints written before tsss_tf tracked the simple backbone's dilated "
            "blocks for tf.train.Checkpoint lack them: retrain that variant.") from None


# The weights a tf.train.Checkpoint root does not reach (exported for the serving tests).
checkpoint_blind_weights = unreachable_weights
