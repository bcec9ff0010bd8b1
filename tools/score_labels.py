"""Scores the transferred labels of a run on tag-only data against masks it never saw.

A run on a tag-only copy (tools/make_tag_only.py) cannot score its own pseudo labels: its weak
images have no mask. Given the fully annotated folder the copy was made from, this scores them
the way a run on that folder does (tsss_tf.evaluation.scoring.evaluate_pseudo_labels): mIoU
over all / strong / weak classes where the label is not 255, and the labelled fraction.

    python tools/score_labels.py --model_dir=runs/msrc_tags_seed0 \\
        --masks_dir=../shared/data/msrc_things [--masks_dir=SECOND_FOLDER ...]
"""

import json
import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tsss_tf.flags import command  # noqa: E402

flags.DEFINE_string("model_dir", None, "A run whose transfer stage is finished.")
flags.DEFINE_multi_string("masks_dir", [], "The fully annotated folder(s) of the same images.")
flags.DEFINE_string("labels", "transfer/pseudo_labels", "Label folder under --model_dir.")
FLAGS = flags.FLAGS


@command
def main():
    import dataclasses

    from tsss_tf.config import ExperimentConfig
    from tsss_tf.data.experiment_data import open_experiment_data
    from tsss_tf.data.splits import Split
    from tsss_tf.data.voc import DataError
    from tsss_tf.evaluation.scoring import evaluate_pseudo_labels
    from tsss_tf.transfer.pseudo_labels import PseudoLabelStore

    if not FLAGS.model_dir or not FLAGS.masks_dir:
        raise DataError("--model_dir and --masks_dir are required")
    with open(os.path.join(FLAGS.model_dir, "config.json"), encoding="utf-8") as f:
        cfg = ExperimentConfig.from_dict(json.load(f))
    data_cfg = dataclasses.replace(cfg.data, data_dir=FLAGS.masks_dir[0],
                                   extra_data_dirs=tuple(FLAGS.masks_dir[1:]))
    data = open_experiment_data(data_cfg, Split.from_config(cfg.split))
    directory = os.path.join(FLAGS.model_dir, FLAGS.labels)
    manifest = os.path.join(directory, "manifest.json")
    if not os.path.exists(manifest):
        raise DataError(f"{manifest} is missing: the transfer stage has not finished")
    with open(manifest, encoding="utf-8") as f:
        store = PseudoLabelStore(directory, json.load(f)["fingerprint"])
    rep = evaluate_pseudo_labels(data, store)
    per = ", ".join(f"{k} {100 * v:.1f}" for k, v in rep["per_class"].items() if v is not None)
    print(f"pseudo labels of {rep['num_scored']} weak images: mIoU {100 * rep['miou']:.1f}, "
          f"strong {100 * (rep['miou_strong'] or 0):.1f}, weak {100 * rep['miou_weak']:.1f}, "
          f"labelled {100 * rep['labelled_fraction']:.1f}%\n  {per}")


if __name__ == "__main__":
    app.run(main)
