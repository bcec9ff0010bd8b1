"""Redraws the test-prediction grid of a finished run, optionally without the photographs.

A run writes `test_predictions.png` (image | ground truth | each variant) next to its
results.md. For data sets whose licence forbids redistributing their images (msrc_things,
CamVid), --noimages draws ground truth and predictions only: the figure the README shows.

    python tools/prediction_figure.py --model_dir=runs/msrc_things_50_seed0 \\
        --out=docs/msrc_things_50_predictions.png --noimages
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
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from tsss_tf.evaluation import figures

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
