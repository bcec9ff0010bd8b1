"""Scores a trained P-Net variant of a run on any image set of its data set.

    python -m tsss_tf.evaluate --model_dir=runs/embedded_50_seed0 --variant=tsss --eval_set=val
    python -m tsss_tf.evaluate --model_dir=RUN --config=msrc_things_50 --eval_set=test
"""

import dataclasses
import json
import os

from absl import app, flags

from tsss_tf.flags import define_config_flags, resolve_config, user_errors

define_config_flags()
flags.DEFINE_enum("variant", "tsss", ["tsss", "full", "strong_only", "lnet_only"],
                  "Which trained P-Net of the run.")
flags.DEFINE_string("eval_set", None, "Image set to score (default: the config's test_set).")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from tsss_tf.data.sources import ExperimentData
    from tsss_tf.data.splits import Split
    from tsss_tf.data.voc import DataError
    from tsss_tf.evaluation.scoring import evaluate_model
    from tsss_tf.training.builders import build_pnet, build_variables
    from tsss_tf.training.restore import restore_model

    with user_errors():
        cfg, model_dir = resolve_config(FLAGS, prefer_model_dir=True)
        ckpt_dir = os.path.join(model_dir, FLAGS.variant, "ckpt")
        latest = tf.train.latest_checkpoint(ckpt_dir)
        if latest is None:
            raise DataError(f"no checkpoint of variant '{FLAGS.variant}' in {ckpt_dir}")
        data = ExperimentData(cfg.data, Split.from_config(cfg.split))
        # Every weight comes from the checkpoint: no pretrained file is read (or downloaded).
        model = build_pnet(dataclasses.replace(cfg.model, backbone_weights=None),
                           data.num_classes)
        build_variables(model, cfg.data.crop_size)
        restore_model(tf.train.Checkpoint(generator=model), model, latest,
                      f"the P-Net '{FLAGS.variant}'")
        rep = evaluate_model(model, data, FLAGS.eval_set or cfg.data.test_set,
                             cfg.global_batch_size, progress=True)
    print(json.dumps(rep, indent=2))


if __name__ == "__main__":
    app.run(main)
