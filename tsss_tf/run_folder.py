"""The model_dir of a run: config.json is written first, and a folder that holds another
config's run is refused rather than mixed with it."""

from __future__ import annotations

import json
import os

from tsss_tf.config import ConfigError, ExperimentConfig
from tsss_tf.evaluation import report
from tsss_tf.stages import STAGES


def check_model_dir(cfg: ExperimentConfig, model_dir: str) -> None:
    """Writes config.json into model_dir, or refuses a model_dir that holds another run.

    A config.json with no trained output next to it (a run that failed before its first
    checkpoint, e.g. on a bad split) is replaced, so fixing the config is enough to go on."""
    if os.path.exists(model_dir) and not os.path.isdir(model_dir):
        raise ConfigError(f"model_dir '{model_dir}' is a file, not a folder")
    try:
        os.makedirs(model_dir, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"model_dir '{model_dir}' cannot be created: {e.strerror}") from None
    path = os.path.join(model_dir, "config.json")
    try:
        stored = report.read_json(path)
        old = None if stored is None else ExperimentConfig.from_dict(stored)
    except (ValueError, OSError) as e:  # JSONDecodeError and ConfigError are ValueErrors
        if holds_outputs(model_dir):
            raise ConfigError(f"{path}: cannot read the config of the run in model_dir "
                              f"'{model_dir}' ({e}); use a new --model_dir") from None
        stored = old = None
    # compared after parsing, so a field added to the config since (at its default) is no change
    if (old is not None and json.loads(old.to_json()) != json.loads(cfg.to_json())
            and holds_outputs(model_dir)):
        new, prev = _flatten(cfg.to_dict()), _flatten(old.to_dict())
        diff = [k for k in new if prev.get(k) != new[k]]
        raise ConfigError(
            f"model_dir '{model_dir}' holds a run of another config "
            f"('{stored.get('name')}'); differing fields: {', '.join(diff[:8]) or 'none'}. "
            "Use a new --model_dir.")
    try:
        report.atomic_write_text(path, cfg.to_json() + "\n")
    except OSError as e:
        raise ConfigError(f"cannot write {path}: {e.strerror}") from None


def holds_outputs(model_dir: str) -> bool:
    """Whether any stage of model_dir has written a checkpoint, label or metrics file."""
    for stage in STAGES:
        for _, _, files in os.walk(os.path.join(model_dir, stage.folder)):
            if files:
                return True
    return os.path.exists(os.path.join(model_dir, "results.json"))


def _flatten(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
