"""absl flags and error handling shared by the entry points (train, evaluate)."""

import contextlib
import json
import os
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
        with open(stored, encoding="utf-8") as f:
            try:
                cfg = ExperimentConfig.from_dict(json.load(f))
            except json.JSONDecodeError as e:
                raise ConfigError(f"{stored}: not valid JSON ({e})") from None
        cfg = apply_overrides(cfg, overrides)
    else:
        cfg = load_config(FLAGS.config, overrides)
    model_dir = FLAGS.model_dir or f"runs/{cfg.name}_seed{cfg.seed}"
    return cfg, model_dir


@contextlib.contextmanager
def user_errors():
    """A bad config, split or data set ends the program with one line naming the culprit on
    stderr and exit status 2, not a traceback."""
    from tsss_tf.data.splits import SplitError
    from tsss_tf.data.voc import DataError

    try:
        yield
    except (ConfigError, SplitError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
