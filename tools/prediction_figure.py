"""Redraws the test-prediction grid of a finished run, optionally without the photographs.

A run writes `test_predictions.png` (image | ground truth | each variant) next to its
results.md. For data sets whose licence forbids redistributing their images (msrc_things,
CamVid), --noimages draws ground truth and predictions only: the figure docs/results.md shows.

    python tools/prediction_figure.py --model_dir=runs/msrc_things_50_seed0 \\
        --out=docs/msrc_things_50_predictions.png --noimages --recompute
"""

import json
import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

flags.DEFINE_string("model_dir", None, "A finished run (results.json and the variants' "
                    "test examples).", required=True)
flags.DEFINE_string("out", None, "PNG to write.", required=True)
flags.DEFINE_boolean("images", True, "Draw the photograph column.")
flags.DEFINE_boolean("recompute", False, "First predict the test examples again with each "
                     "variant's checkpoint (runs of older versions saved the first test images; "
                     "this picks images that show as many categories as they can).")
FLAGS = flags.FLAGS


def recompute_examples(model_dir: str) -> None:
    from tsss_tf.config import ExperimentConfig
    from tsss_tf.evaluation import figures
    from tsss_tf.experiment import Experiment
    from tsss_tf.training.restore import load_trained

    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        cfg = ExperimentConfig.from_dict(json.load(f))
    exp = Experiment(cfg, model_dir, progress=False)
    for variant in figures.VARIANTS:
        ckpt_dir = os.path.join(model_dir, variant, "ckpt")
        if os.path.isdir(ckpt_dir):
            model = load_trained("pnet", cfg.model, exp.data.num_classes, ckpt_dir,
                                 cfg.data.crop_size, f"the P-Net '{variant}'")
            exp.monitor.after_variant(variant, model)


def main(argv):
    del argv
    from tsss_tf.evaluation import figures

    if FLAGS.recompute:
        recompute_examples(FLAGS.model_dir)

    with open(os.path.join(FLAGS.model_dir, "results.json"), encoding="utf-8") as f:
        results = json.load(f)
    examples = {v: e for v in figures.VARIANTS
                if (e := figures.load_examples(
                    os.path.join(FLAGS.model_dir, v, figures.EXAMPLES_FILE)))}
    if not examples:
        sys.exit(f"{FLAGS.model_dir}: no saved test examples of any variant")
    names = figures.class_names_from_results(results)
    path = figures.prediction_grid(examples, names, FLAGS.out, with_images=FLAGS.images)
    print(path)


if __name__ == "__main__":
    app.run(main)
