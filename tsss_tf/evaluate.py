"""Scores a trained P-Net variant of a run on any image set of its data set.

    python -m tsss_tf.evaluate --model_dir=runs/embedded_50_seed0 --variant=tsss --eval_set=val
    python -m tsss_tf.evaluate --model_dir=RUN --config=msrc_things_50 --eval_set=test
"""

import json
import os
import sys

from absl import app, flags

from tsss_tf.flags import define_config_flags

define_config_flags()
flags.DEFINE_enum("variant", "tsss", ["tsss", "full", "strong_only", "lnet_only"],
                  "Which trained P-Net of the run.")
flags.DEFINE_string("eval_set", None, "Image set to score (default: the config's test_set).")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from tsss_tf.config import ConfigError, ExperimentConfig, apply_overrides
    from tsss_tf.data.sources import ExperimentData
    from tsss_tf.data.splits import Split, SplitError
    from tsss_tf.data.voc import DataError
    from tsss_tf.evaluation.scoring import evaluate_model
    from tsss_tf.flags import resolve_config
    from tsss_tf.training.builders import build_pnet, build_variables

    try:
        if FLAGS.model_dir and os.path.exists(os.path.join(FLAGS.model_dir, "config.json")):
            with open(os.path.join(FLAGS.model_dir, "config.json")) as f:
                cfg = ExperimentConfig.from_dict(json.load(f))
            over = list(FLAGS.set) + ([f"data.data_dir={FLAGS.data_dir}"] if FLAGS.data_dir
                                      else [])
            cfg = apply_overrides(cfg, over)
            model_dir = FLAGS.model_dir
        else:
            cfg, model_dir = resolve_config(FLAGS)
        ckpt_dir = os.path.join(model_dir, FLAGS.variant, "ckpt")
        latest = tf.train.latest_checkpoint(ckpt_dir)
        if latest is None:
            raise DataError(f"no checkpoint of variant '{FLAGS.variant}' in {ckpt_dir}")
        data = ExperimentData(cfg.data, Split.from_config(cfg.split))
        model = build_pnet(cfg.model, data.num_classes)
        build_variables(model, cfg.data.crop_size)
        tf.train.Checkpoint(generator=model).restore(latest).expect_partial()
        rep = evaluate_model(model, data, FLAGS.eval_set or cfg.data.test_set,
                             cfg.global_batch_size, progress=True)
    except (ConfigError, SplitError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(rep, indent=2))


if __name__ == "__main__":
    app.run(main)
