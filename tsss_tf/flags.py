"""absl flags and error handling shared by the entry points (train, evaluate)."""

import contextlib
import dataclasses
import json
import math
import os
import re
import sys

from absl import flags

from tsss_tf.config import ConfigError, ExperimentConfig, apply_overrides, load_config


def define_config_flags():
    flags.DEFINE_string("config", "embedded_50",
                        "A named experiment in configs/ (e.g. embedded_50, embedded_0, "
                        "msrc_things_50, camvid_full, voc2012_50, voc2012_0) or a .py file "
                        "defining get_config().")
    flags.DEFINE_string("model_dir", None, "Run folder (default runs/<config>_seed<seed>).")
    flags.DEFINE_integer("seed", None, "Overrides the config's seed.")
    flags.DEFINE_string("data_dir", None, "Overrides data.data_dir (a folder in VOC layout).")
    flags.DEFINE_multi_string("set", [],
                              "Field overrides, e.g. --set=pnet.steps=200 --set=data.crop_size=96;"
                              " repeatable; values are parsed as JSON when they can be.")


def resolve_config(FLAGS, prefer_model_dir: bool = False):
    """(config, model_dir) from the flags. With prefer_model_dir, an existing run's
    config.json is the base (for scoring a finished run), else the named config."""
    overrides = list(FLAGS.set)
    if FLAGS.seed is not None:
        overrides.append(f"seed={FLAGS.seed}")
    if FLAGS.data_dir is not None:
        overrides.append(f"data.data_dir={FLAGS.data_dir}")
    stored = os.path.join(FLAGS.model_dir or "", "config.json")
    if prefer_model_dir and FLAGS.model_dir and os.path.exists(stored):
        try:
            with open(stored, encoding="utf-8") as f:
                cfg = ExperimentConfig.from_dict(json.load(f))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ConfigError(f"{stored}: not a readable JSON config ({e})") from None
        except ConfigError as e:
            raise ConfigError(f"{stored}: {e}") from None
        cfg = apply_overrides(cfg, overrides)
    else:
        cfg = load_config(FLAGS.config, overrides)
    check_values(cfg)
    model_dir = FLAGS.model_dir or f"runs/{cfg.name}_seed{cfg.seed}"
    return cfg, model_dir


# (field, test, what it must be): values that load but would fail (or loop, or divide by
# zero) deep inside training.
_VALUE_RULES = (
    ("seed", lambda v: 0 <= v < 2 ** 31, "an integer in 0..2**31-1"),
    ("global_batch_size", lambda v: v >= 1, "at least 1"),
    ("log_every", lambda v: v >= 1, "at least 1"),
    ("checkpoint_every", lambda v: v >= 1, "at least 1"),
    ("eval_every", lambda v: v >= 0, "0 (never) or more"),
    ("data.crop_size", lambda v: v >= 8, "at least 8 pixels"),
    ("data.eval_size", lambda v: v >= 8, "at least 8 pixels"),
    ("data.min_scale", lambda v: v > 0, "positive"),
    ("data.shuffle_buffer", lambda v: v >= 0, "0 or more"),
    ("lnet.steps", lambda v: v >= 0, "0 or more"),
    ("pnet.steps", lambda v: v >= 0, "0 or more"),
    ("lnet.learning_rate", lambda v: v > 0, "positive"),
    ("pnet.learning_rate", lambda v: v > 0, "positive"),
    ("pnet.disc_learning_rate", lambda v: v > 0, "positive"),
    ("transfer.batch_size", lambda v: v >= 1, "at least 1"),
    ("transfer.steps", lambda v: v >= 0, "0 or more"),
    ("pnet.adv_on", lambda v: v in ("weak", "all"), "'weak' or 'all'"),
)


def _get(cfg, dotted):
    for part in dotted.split("."):
        cfg = getattr(cfg, part)
    return cfg


def _numbers(obj, prefix=""):
    """(dotted name, value) of every float field of a config."""
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if dataclasses.is_dataclass(v):
            yield from _numbers(v, f"{prefix}{f.name}.")
        elif isinstance(v, float):
            yield f"{prefix}{f.name}", v


def check_values(cfg: ExperimentConfig) -> None:
    """ConfigError naming the field for a value out of its range (a NaN or infinite number,
    a zero batch, a negative step count, ...)."""
    for name, value in _numbers(cfg):
        if not math.isfinite(value):
            raise ConfigError(f"config field '{name}' is {value}; it must be a finite number")
    for name, ok, want in _VALUE_RULES:
        value = _get(cfg, name)
        if not ok(value):
            raise ConfigError(f"config field '{name}' is {value!r}; it must be {want}")
    if cfg.data.max_scale < cfg.data.min_scale:
        raise ConfigError(f"config field 'data.max_scale' ({cfg.data.max_scale}) is below "
                          f"data.min_scale ({cfg.data.min_scale})")


@contextlib.contextmanager
def user_errors():
    """A bad config, split or data set ends the program with one line naming the culprit on
    stderr and exit status 2, not a traceback; so does a bad file met inside the tf.data
    pipeline (an image that does not decode, a label file that does not check). A NaN or Inf
    loss (training.loop.NonFiniteLossError) ends it with its message and exit status 3."""
    from tsss_tf.data.splits import SplitError
    from tsss_tf.data.voc import DataError

    try:
        yield
    except (ConfigError, SplitError, DataError) as e:
        _exit(str(e), 2)
    except FloatingPointError as e:  # NonFiniteLossError, without importing TF here
        _exit(str(e), 3)
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
    """The one-line message of a data error raised by a TF op (tf.data iteration), or None."""
    tf = sys.modules.get("tensorflow")
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
