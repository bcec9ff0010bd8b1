"""Choose label-transfer settings on a fully annotated set, not on the weak training masks.

Loads the trained L-Net of a run and scores the transferred labels of every image of --eval_set
(default: the config's val set) for each combination of the --grid values: the images are
transferred with their image-level tags, exactly as weak images are, and compared with their
masks. Prints a table (mIoU all / strong / weak, labelled fraction, ms per image) and writes it
as JSON with --json.

    python tools/transfer_sweep.py --model_dir=runs/msrc_things_50_seed0 \\
        --grid=transfer.cam_objectness=0,0.8 --grid=transfer.confidence=0.6,0.7

    (msrc_things_50 seed 0, val: cam_objectness 0 -> 0.8 is the measurement the config's
    value comes from; see configs/msrc_things_50.py)

A list field such as transfer.scales cannot go in a grid (the grid splits its values at commas);
set it for the whole sweep with --set, once per sweep:

    python tools/transfer_sweep.py --model_dir=runs/msrc_things_50_seed0 \
        --set=transfer.scales=[0.75,1.0,1.25] --grid=transfer.flip=false,true
"""

import itertools
import json
import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tsss_tf.config import ConfigError  # noqa: E402
from tsss_tf.flags import command, define_config_flags, open_run  # noqa: E402

define_config_flags()
flags.DEFINE_multi_string("grid", [], "FIELD=V1,V2,... (a transfer.* field); repeatable, the "
                          "product of all grids is scored.")
flags.DEFINE_string("eval_set", None, "Image set to score (default: the config's val set).")
flags.DEFINE_string("json", None, "Also write the rows to this JSON file.")
FLAGS = flags.FLAGS


def _grid(specs):
    axes = []
    for spec in specs:
        field, _, values = spec.partition("=")
        if not field.startswith("transfer.") or not values:
            raise ConfigError(f"--grid={spec}: expected transfer.FIELD=V1,V2,...")
        axes.append([f"{field}={v}" for v in values.split(",")])
    return [list(c) for c in itertools.product(*axes)] or [[]]


@command
def main():
    from tsss_tf.atomic import atomic_open
    from tsss_tf.config import apply_overrides, transfer_image_size
    from tsss_tf.evaluation.scoring import evaluate_transfer
    from tsss_tf.training.restore import load_stage

    cfg, model_dir, data = open_run(FLAGS)
    lnet = load_stage(cfg, data, model_dir, "lnet")
    eval_set = FLAGS.eval_set or cfg.data.val_set
    rows = []
    print(f"{'setting':48s} {'mIoU':>6s} {'strong':>6s} {'weak':>6s} {'labelled':>8s} "
          f"{'ms/img':>7s}")
    for overrides in _grid(FLAGS.grid):
        run_cfg = apply_overrides(cfg, overrides)
        rep = evaluate_transfer(lnet, data, eval_set, run_cfg.transfer,
                                transfer_image_size(run_cfg))
        rows.append({"setting": overrides, "eval_set": eval_set,
                     **{k: rep[k] for k in ("miou", "miou_strong", "miou_weak",
                                            "labelled_fraction", "ms_per_image", "per_class")}})
        print(f"{' '.join(overrides) or '(config)':48s} {_pct(rep['miou']):>6s} "
              f"{_pct(rep['miou_strong']):>6s} {_pct(rep['miou_weak']):>6s} "
              f"{_pct(rep['labelled_fraction']):>7s}% {rep['ms_per_image']:7.1f}", flush=True)
    if FLAGS.json:
        with atomic_open(FLAGS.json, "w") as f:
            json.dump(rows, f, indent=2, sort_keys=True)


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


if __name__ == "__main__":
    app.run(main)
