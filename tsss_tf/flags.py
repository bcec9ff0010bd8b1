"""absl flags and error handling shared by the entry points (train, evaluate, the tools)."""

import contextlib
import dataclasses
import functools
import json
import os
import re
import sys

from absl import app, flags

from tsss_tf.config import (ConfigError, ExperimentConfig, SourceDataConfig, SplitConfig,
                            apply_overrides, load_config)
from tsss_tf.errors import TsssError


# --recipe names: the hyperparameters of a shipped experiment, applied to the user's data.
RECIPES = {"photo": "msrc_things_50", "small": "embedded_50"}


def define_config_flags():
    flags.DEFINE_string("config", "embedded_50",
                        "A named experiment in configs/ (e.g. embedded_50, embedded_0, "
                        "msrc_things_50, camvid_full, voc2012_50, voc2012_0) or a .py file "
                        "defining get_config().")
    flags.DEFINE_string("model_dir", None, "Run folder (default runs/<config>_seed<seed>).")
    flags.DEFINE_integer("seed", None, "Overrides the config's seed.")
    flags.DEFINE_multi_string(
        "data_dir", [], "A data folder in the VOC layout (masks and/or ImageTags/ tag files); "
        "repeat it to merge folders by class name. Overrides data.data_dir (and "
        "data.extra_data_dirs). With a config of the embedded data set it switches that run to "
        "the folder, as --recipe=<config>.")
    flags.DEFINE_string("recipe", None,
                        "Train on --data_dir with the hyperparameters of a recipe and a split "
                        "inferred from the data: "
                        + ", ".join(f"{k} ({v})" for k, v in RECIPES.items())
                        + ", or any config name.")
    flags.DEFINE_multi_string("set", [],
                              "Field overrides, e.g. --set=pnet.steps=200 --set=data.crop_size=96;"
                              " repeatable; values are parsed as JSON when they can be.")


def _data_dirs(FLAGS) -> list:
    value = getattr(FLAGS, "data_dir", None)
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def apply_recipe(cfg: ExperimentConfig, data_dirs, recipe: str) -> ExperimentConfig:
    """`cfg`'s hyperparameters on the VOC-layout folders `data_dirs`, with a split inferred
    from the data (tsss_tf.data.sources.ExperimentData) and the sets train / val / test."""
    if not data_dirs:
        raise ConfigError(f"--recipe={recipe} needs --data_dir (a folder in the VOC layout)")
    cfg = ExperimentConfig.from_dict(cfg.to_dict())
    folder = os.path.basename(os.path.normpath(data_dirs[0])) or "data"
    cfg.name = f"{folder}_{recipe}"
    cfg.data = dataclasses.replace(
        cfg.data, dataset="voc", data_dir=data_dirs[0], extra_data_dirs=tuple(data_dirs[1:]),
        train_sets=("train",), val_set="val", test_set="test",
        source=SourceDataConfig(), source_ratio=None)
    cfg.split = SplitConfig(name="inferred", infer=True)
    return cfg


def _split_key(split) -> tuple:
    return (tuple(split.strong), tuple(split.weak), split.background, split.other, split.infer)


def resolve_config(FLAGS, prefer_model_dir: bool = False, notes=None):
    """(config, model_dir) from the flags. With prefer_model_dir, an existing run's
    config.json is the base (for scoring a finished run), else the named config, or the
    recipe on --data_dir. `notes` (a list) receives what the flags changed that a user should
    read first (a data set switched, a split renamed)."""
    notes = [] if notes is None else notes
    overrides = list(FLAGS.set)
    if FLAGS.seed is not None:
        overrides.append(f"seed={FLAGS.seed}")
    data_dirs = _data_dirs(FLAGS)
    recipe = getattr(FLAGS, "recipe", None)
    stored = os.path.join(FLAGS.model_dir or "", "config.json")
    if prefer_model_dir and FLAGS.model_dir and os.path.exists(stored):
        try:
            with open(stored, encoding="utf-8") as f:
                base = ExperimentConfig.from_dict(json.load(f))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ConfigError(f"{stored}: not a readable JSON config ({e})") from None
        except ConfigError as e:
            raise ConfigError(f"{stored}: {e}") from None
        if recipe:
            raise ConfigError(f"--recipe={recipe} starts a new run, but {stored} is the config "
                              "of the run in --model_dir; leave --recipe out")
        if data_dirs and base.data.dataset == "embedded":
            raise ConfigError(f"the run in {FLAGS.model_dir} is on the generated embedded data "
                              f"set: --data_dir={data_dirs[0]} cannot apply to it")
    else:
        base = load_config(RECIPES.get(recipe, recipe) if recipe else FLAGS.config)
        if recipe is None and data_dirs and base.data.dataset == "embedded":
            recipe = FLAGS.config
            notes.append(f"config '{FLAGS.config}' uses the generated embedded data set; "
                         f"--data_dir switches this run to {', '.join(data_dirs)} (VOC layout) "
                         f"with the split inferred from the data, as --recipe={recipe}")
    if recipe:
        base = apply_recipe(base, data_dirs, recipe)
    elif data_dirs:
        overrides[:0] = [f"data.data_dir={data_dirs[0]}",
                         f"data.extra_data_dirs={json.dumps(data_dirs[1:])}"]
    cfg = apply_overrides(base, overrides)
    if _split_key(cfg.split) != _split_key(base.split) and cfg.split.name == base.split.name:
        from tsss_tf.data.splits import Split

        cfg.split.name = f"{base.split.name}-{Split.from_config(cfg.split).content_hash()[:8]}"
        notes.append(f"--set changed the split of '{base.split.name}': it is named "
                     f"'{cfg.split.name}' in this run")
    cfg.validate()
    model_dir = FLAGS.model_dir or f"runs/{cfg.name}_seed{cfg.seed}"
    return cfg, model_dir


def open_run(FLAGS):
    """(config, model_dir, data) of a finished run, for the tools that score it (evaluate,
    tools/transfer_sweep.py): the run's config.json with the flags' overrides, its data
    opened (tsss_tf.data.experiment_data)."""
    from tsss_tf.data.experiment_data import open_experiment_data
    from tsss_tf.data.splits import Split

    cfg, model_dir = resolve_config(FLAGS, prefer_model_dir=True)
    return cfg, model_dir, open_experiment_data(cfg.data, Split.from_config(cfg.split))


def command(body):
    """main(argv) for `app.run` from a command's body (a function of no arguments): a stray
    positional argument is a usage error, TensorFlow's C++ logging is quieted before TensorFlow
    starts, and the errors of `user_errors` end the program with one line."""

    @functools.wraps(body)
    def main(argv):
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])} (every option "
                                 "is a --flag)")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        with user_errors():
            return body()

    return main


@contextlib.contextmanager
def user_errors():
    """A bad config, split or data set ends the program with one line naming the culprit on
    stderr and exit status 2, not a traceback; so does a bad file met inside the tf.data
    pipeline (an image that does not decode, a label file that does not check). A NaN or Inf
    loss (training.loop.NonFiniteLossError) ends it with its message and exit status 3."""
    try:
        yield
    except TsssError as e:  # every error of tsss_tf.errors, with its exit status
        _exit(str(e), e.exit_status)
    except Exception as e:
        message = _pipeline_data_error(e)
        if message is None:
            raise
        _exit(message, 2)


def _exit(message: str, status: int):
    # The error is the last line: TensorFlow's warnings at shutdown (e.g. the values a refused
    # checkpoint restore left unmatched) are not printed after it.
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        tf.get_logger().setLevel("ERROR")
    print(f"error: {message}", file=sys.stderr)
    sys.exit(status)


_DECODE_FAILURES = ("Invalid JPEG data", "Invalid PNG data", "Unknown image file format",
                    "jpeg::Uncompress", "Invalid GIF data", "Invalid BMP", "Invalid WebP",
                    "Error in decoding WebP")


def _pipeline_data_error(e: BaseException):
    """The one-line message of a data error raised by a TF op (tf.data iteration), of a full
    disk (an OSError ENOSPC / EDQUOT, or TF's "No space left on device", anywhere in the
    exception's chain) or of PIL's DecompressionBombError, or None."""
    import errno

    tf = sys.modules.get("tensorflow")
    seen, cause = set(), e
    while cause is not None and id(cause) not in seen and len(seen) < 8:
        seen.add(id(cause))
        if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT):
            where = f" writing {cause.filename}" if cause.filename else ""
            return (f"no space left on the device{where} ({cause.strerror}): free some space "
                    "or write elsewhere, then run the same command again")
        text = (getattr(cause, "message", None) or str(cause)) if tf is not None and isinstance(
            cause, tf.errors.OpError) else ""
        if "No space left on device" in text or "Disk quota exceeded" in text:
            line = re.sub(r"\{\{[^}]*\}\}\s*|\s*\[Op:\w+\]", "",
                          text.strip().splitlines()[0]).strip()
            return (f"no space left on the device ({line}): free some space or write "
                    "elsewhere, then run the same command again")
        # PIL refuses a file that declares a huge image (no OSError: it would escape as a
        # traceback); also when raised inside tf.numpy_function (the mask reader).
        bomb = (str(cause) if type(cause).__name__ == "DecompressionBombError" else
                (re.findall(r"DecompressionBombError: ([^\n]+)", text) or [None])[-1])
        if bomb:
            return (f"an image or mask of the data set is too large to decode ({bomb.strip()}): "
                    "downscale it")
        cause = cause.__cause__ or cause.__context__
    if tf is None or not isinstance(e, tf.errors.OpError):
        return None
    text = e.message or ""
    # A DataError raised in Python inside tf.numpy_function (the mask and label reader).
    found = re.findall(r"(?:DataError|SplitError|ConfigError): (.+)", text)
    if found:
        return found[-1].strip()
    if any(k in text for k in _DECODE_FAILURES):
        from tsss_tf.data.sources import find_undecodable_image

        problem = re.sub(r"\{\{[^}]*\}\}\s*", "", text.strip().splitlines()[-1]).strip()
        culprit = find_undecodable_image()
        if culprit is not None:
            return f"{culprit[0]}: the image cannot be decoded ({problem})"
        return f"an image of the data set cannot be decoded ({problem})"
    return None
