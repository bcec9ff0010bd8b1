"""Restoring a trained model for use (evaluation, label transfer): all of it or an error.

`tf.train.Checkpoint.restore(...).expect_partial()` alone keeps every weight it does not find
at its random initial value and says nothing, so a checkpoint of another architecture (another
backbone, width or number of classes) would be evaluated or used for transfer silently. Here
the restore must bind every weight of the model:

    model = build_pnet(cfg.model, num_classes); build_variables(model, size)
    restore_model(tf.train.Checkpoint(generator=model), model, latest, "the P-Net 'tsss'")

Extra values in the file (optimizer slots, the discriminator) are allowed; a missing or
mis-shaped weight raises `CheckpointError` (a DataError: the entry points report it in one
line with exit status 2) naming the checkpoint and the first weights that did not match.
"""

from __future__ import annotations

import dataclasses
import re

import tensorflow as tf

from tsss_tf.data.voc import DataError
from tsss_tf.training.builders import build_lnet, build_pnet, build_variables

__all__ = ["CheckpointError", "restore_model", "unreachable_weights", "load_trained",
           "restore_trained"]


class CheckpointError(DataError):
    """A checkpoint that does not hold the model asked for; the message names the file."""


def unreachable_weights(root: tf.train.Checkpoint, model) -> list:
    """Paths of the model's weights that `root` does not reach (no checkpoint holds them)."""
    reached = {id(obj) for obj in tf.train.TrackableView(root).descendants()}
    return [w.path for w in model.weights
            if id(w) not in reached and id(getattr(w, "value", w)) not in reached]


def restore_model(root: tf.train.Checkpoint, model, path: str, what: str) -> None:
    """Restores `root` (a tf.train.Checkpoint holding `model`) from checkpoint `path`; every
    weight of `model` must come from the file."""
    lost = unreachable_weights(root, model)
    if lost:
        raise CheckpointError(
            f"{what}: {len(lost)} weights are not tracked by tf.train.Checkpoint, so checkpoint "
            f"'{path}' cannot hold them: {', '.join(lost[:4])}")
    detail = None
    try:
        status = root.restore(path)
        status.expect_partial()  # optimizer slots and other parts of the file are not wanted
        status.assert_existing_objects_matched()
    except (AssertionError, ValueError, IndexError, KeyError, tf.errors.OpError) as e:
        # IndexError: "Read less bytes than requested" from a truncated data file
        detail = _describe(e)
    if detail is not None:
        raise CheckpointError(
            f"checkpoint '{path}' does not hold {what} of this config (another architecture, "
            f"width or class list?): {detail}")


# The tf.train.Checkpoint key each training loop saves its model under.
_CHECKPOINT_KEY = {"lnet": "model", "pnet": "generator"}


def load_trained(kind: str, model_cfg, num_outputs: int, ckpt_dir: str, crop_size: int,
                 what: str, missing_hint: str = ""):
    """The trained L-Net (`kind="lnet"`, num_outputs = categories) or P-Net ("pnet", classes)
    whose latest checkpoint is in ckpt_dir (`restore_trained`). No checkpoint, or one of
    another model, is a CheckpointError."""
    latest = tf.train.latest_checkpoint(ckpt_dir)
    if latest is None:  # restore(None) would silently keep random weights
        raise CheckpointError(f"no checkpoint of {what} in {ckpt_dir}{missing_hint}")
    return restore_trained(kind, model_cfg, num_outputs, latest, crop_size, what)


def restore_trained(kind: str, model_cfg, num_outputs: int, checkpoint: str, crop_size: int,
                    what: str):
    """The L-Net or P-Net of `kind` built from model_cfg without reading a pretrained file,
    every weight restored from the checkpoint file `checkpoint`. Call it in the strategy's
    scope to place the variables there."""
    build = {"lnet": build_lnet, "pnet": build_pnet}[kind]
    model = build(dataclasses.replace(model_cfg, backbone_weights=None), num_outputs)
    build_variables(model, crop_size)
    restore_model(tf.train.Checkpoint(**{_CHECKPOINT_KEY[kind]: model}), model, checkpoint,
                  what)
    return model


def _describe(e: BaseException) -> str:
    text = str(e)
    paths = re.findall(r"path=([^,\s]+)", text)
    found = re.search(r"Found (\d+) Python objects", text)
    if paths:
        count = found.group(1) if found else len(paths)
        return f"{count} weights of the model are not in it, e.g. {', '.join(paths[:3])}"
    return text.strip().splitlines()[0][:300] if text.strip() else type(e).__name__
