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

A damaged checkpoint (a data file cut short, an empty or garbled index, a garbled `checkpoint`
state file: a full disk or a crash of the file system) is told apart from one of another
architecture: `DamagedCheckpointError` names the file and the damage, and the newest intact
checkpoint of the folder. A resumed training (`resume_checkpoint`, training.loop) does not stop
there: it says in the log which checkpoint is damaged and resumes from the newest intact one.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re
from typing import List, Optional, Tuple

from absl import logging

import tensorflow as tf

from tsss_tf.errors import CheckpointError, DamagedCheckpointError
from tsss_tf.training.builders import build_lnet, build_pnet, build_variables

__all__ = ["CheckpointError", "DamagedCheckpointError", "restore_model", "unreachable_weights",
           "load_trained", "restore_trained", "checkpoint_damage", "latest_checkpoint",
           "resume_checkpoint"]


_READ_ERRORS = (tf.errors.OpError, IndexError, ValueError, OSError, RuntimeError)


def _damage_text(e: BaseException) -> str:
    text = (getattr(e, "message", None) or str(e)).strip()
    first = text.splitlines()[0][:200] if text else type(e).__name__
    if isinstance(e, IndexError) or "Read less bytes" in text:
        return f"its data file is cut short ({first})"
    if isinstance(e, tf.errors.NotFoundError):
        return f"its files are missing ({first})"
    if "sstable" in text or "index" in text.lower():
        return f"its index file is damaged ({first})"
    return first


def checkpoint_damage(path: str) -> Optional[str]:
    """None if every value of checkpoint `path` reads back (its index, and each tensor from
    its data files with TF's checksum), else what is wrong, in words."""
    try:
        reader = tf.train.load_checkpoint(path)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except _READ_ERRORS as e:
        return _damage_text(e)
    return None


def _number(path: str) -> int:
    found = re.search(r"-(\d+)$", path)
    return int(found.group(1)) if found else -1


def _candidates(ckpt_dir: str) -> Tuple[List[str], Optional[str]]:
    """(checkpoint prefixes of ckpt_dir, newest first; a problem with its state file or None).

    The state file `checkpoint` names them; when it is unreadable, the checkpoints whose index
    file is on disk are taken instead."""
    state_file = os.path.join(ckpt_dir, "checkpoint")
    on_disk = sorted((p[:-len(".index")] for p in glob.glob(os.path.join(ckpt_dir, "*.index"))),
                     key=_number, reverse=True)
    if not os.path.exists(state_file):
        return [], None
    problem = None
    try:
        from google.protobuf import text_format
        from tensorflow.python.checkpoint import checkpoint_management

        with open(state_file, encoding="utf-8") as f:
            state = text_format.Parse(f.read(), checkpoint_management.CheckpointState())
        named = [p if os.path.isabs(p) else os.path.join(ckpt_dir, p)
                 for p in list(state.all_model_checkpoint_paths) + [state.model_checkpoint_path]
                 if p]
        if not named:
            raise ValueError("it names no checkpoint")
    except (OSError, UnicodeDecodeError, ValueError, text_format.ParseError) as e:
        problem = f"damaged checkpoint state file {state_file} ({str(e).splitlines()[0][:200]})"
        return on_disk, problem
    ordered = sorted(set(named), key=_number, reverse=True)
    latest = named[-1]  # model_checkpoint_path: what tf.train.latest_checkpoint returns
    return [latest] + [p for p in ordered if p != latest], None


def _rewrite_state(ckpt_dir: str, latest: str, older: List[str]) -> None:
    from tensorflow.python.checkpoint import checkpoint_management

    kept = sorted(set(older) | {latest}, key=_number)
    kept.remove(latest)
    checkpoint_management.update_checkpoint_state_internal(
        save_dir=ckpt_dir, model_checkpoint_path=os.path.basename(latest),
        all_model_checkpoint_paths=[os.path.basename(p) for p in kept + [latest]],
        save_relative_paths=True)
    logging.warning("rewrote %s: it names the intact checkpoints only (latest: %s)",
                    os.path.join(ckpt_dir, "checkpoint"), os.path.basename(latest))


def _files_of(prefix: str) -> str:
    return f"{prefix}.index, {prefix}.data-*"


def latest_checkpoint(ckpt_dir: str) -> Optional[str]:
    """tf.train.latest_checkpoint, except that a garbled `checkpoint` state file next to
    checkpoint files is a DamagedCheckpointError (TF would say there is no checkpoint)."""
    candidates, problem = _candidates(ckpt_dir)
    if problem is not None:
        intact = next((p for p in candidates if checkpoint_damage(p) is None), None)
        hint = (f"; the newest intact checkpoint there is '{intact}': replace the state file "
                f"with the line model_checkpoint_path: \"{os.path.basename(intact)}\" to use it "
                "(a resumed training does that itself)" if intact else "")
        raise DamagedCheckpointError(problem + hint)
    return candidates[0] if candidates else None


def _damaged_error(path: str, damage: str) -> DamagedCheckpointError:
    older = [p for p in _candidates(os.path.dirname(path))[0] if _number(p) < _number(path)]
    intact = next((p for p in older if checkpoint_damage(p) is None), None)
    hint = (f"; the newest intact checkpoint is '{intact}': delete {_files_of(path)} to use it"
            if intact else "; no older intact checkpoint: retrain")
    return DamagedCheckpointError(f"damaged checkpoint '{path}': {damage}{hint}")


def resume_checkpoint(ckpt_dir: str, what: str = "training", repair: bool = False
                      ) -> Optional[str]:
    """The newest intact checkpoint of ckpt_dir to resume from (None: there is none yet).

    A damaged newer one is named in the log and skipped; when every checkpoint is damaged it is
    a DamagedCheckpointError (resuming from scratch would silently drop the training done).
    repair (the process that writes ckpt_dir: the chief): after a damage, the state file
    `checkpoint` is rewritten to name the intact checkpoints only, the one resumed from last
    (tf.train.CheckpointManager reads it; a garbled one it cannot even open)."""
    candidates, problem = _candidates(ckpt_dir)
    if problem is not None:
        logging.warning("%s: %s; looking for the checkpoint files themselves", what, problem)
    damaged = []
    for i, path in enumerate(candidates):
        damage = checkpoint_damage(path)
        if damage is None:
            if damaged:
                logging.warning("%s: resuming from '%s', the newest intact checkpoint (damaged "
                                "and skipped: %s)", what, path, "; ".join(damaged))
            if repair and (damaged or problem is not None):
                _rewrite_state(ckpt_dir, path, [p for p in candidates[i + 1:]
                                                if checkpoint_damage(p) is None])
            return path
        damaged.append(f"'{path}': {damage}")
        logging.warning("%s: damaged checkpoint '%s': %s", what, path, damage)
    if damaged:
        raise DamagedCheckpointError(
            f"{what}: every checkpoint in {ckpt_dir} is damaged ({'; '.join(damaged)}); delete "
            f"{ckpt_dir} to train this stage again from the start")
    return None


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
        damage = checkpoint_damage(path)
        if damage is not None:
            raise _damaged_error(path, damage) from None
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
    latest = latest_checkpoint(ckpt_dir)
    if latest is None:  # restore(None) would silently keep random weights
        raise CheckpointError(f"no checkpoint of {what} in {ckpt_dir}{missing_hint}")
    return restore_trained(kind, model_cfg, num_outputs, latest, crop_size, what)


def load_stage(cfg, data, model_dir: str, stage: str, missing_hint: str = ""):
    """The trained model of one stage of a run: the L-Net ("lnet", over data's categories) or
    the P-Net of a variant ("tsss", "full", "strong_only", "lnet_only", "tsss_round<r>", over
    its classes), from model_dir/<stage>/ckpt (`load_trained`)."""
    if stage == "lnet":
        return load_trained("lnet", cfg.model, data.num_categories,
                            os.path.join(model_dir, "lnet", "ckpt"), cfg.data.crop_size,
                            "the L-Net", missing_hint)
    return load_trained("pnet", cfg.model, data.num_classes,
                        os.path.join(model_dir, stage, "ckpt"), cfg.data.crop_size,
                        f"the P-Net '{stage}'", missing_hint)


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
