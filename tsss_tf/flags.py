"""absl flags shared by the entry points (train, evaluate)."""

from absl import flags

from tsss_tf.config import load_config


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


def resolve_config(FLAGS):
    overrides = list(FLAGS.set)
    if FLAGS.seed is not None:
        overrides.append(f"seed={FLAGS.seed}")
    if FLAGS.data_dir is not None:
        overrides.append(f"data.data_dir={FLAGS.data_dir}")
    cfg = load_config(FLAGS.config, overrides)
    model_dir = FLAGS.model_dir or f"runs/{cfg.name}_seed{cfg.seed}"
    return cfg, model_dir
