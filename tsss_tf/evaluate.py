"""Scores a trained P-Net variant of a run on any image set of its data set.

    python -m tsss_tf.evaluate --model_dir=runs/embedded_50_seed0 --variant=tsss --eval_set=val
    python -m tsss_tf.evaluate --model_dir=RUN --config=msrc_things_50 --eval_set=test
"""

import json

from absl import app, flags

from tsss_tf.flags import command, define_config_flags, open_run

define_config_flags()
flags.DEFINE_enum("variant", "tsss", ["tsss", "full", "strong_only", "lnet_only"],
                  "Which trained P-Net of the run.")
flags.DEFINE_string("eval_set", None, "Image set to score (default: the config's test_set).")
FLAGS = flags.FLAGS


@command
def main():
    from tsss_tf.evaluation.scoring import evaluate_model
    from tsss_tf.training.restore import load_stage

    cfg, model_dir, data = open_run(FLAGS)
    model = load_stage(cfg, data, model_dir, FLAGS.variant)
    rep = evaluate_model(model, data, FLAGS.eval_set or cfg.data.test_set,
                         cfg.global_batch_size, progress=True)
    print(json.dumps(rep, indent=2))


if __name__ == "__main__":
    app.run(main)
