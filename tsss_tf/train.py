"""Trains an experiment: `python -m tsss_tf.train` (no flags: the embedded default).

    python -m tsss_tf.train                                  # every stage of embedded_50
    python -m tsss_tf.train --config=embedded_0 --seed=1
    python -m tsss_tf.train --config=msrc_things_50 --stage=lnet --set=lnet.steps=500
    python -m tsss_tf.train --data_dir=A --data_dir=B --recipe=photo   # your own data
    python -m tsss_tf.train --config=tiny --deterministic    # bit-identical reruns
    TF_CONFIG=... python -m tsss_tf.train --strategy=multi_worker   # on every worker
    tensorboard --logdir runs/
"""

import os

from absl import app, flags, logging

from tsss_tf.config import ConfigError
from tsss_tf.flags import command, define_config_flags, resolve_config
from tsss_tf.stages import STAGE_NAMES

define_config_flags()
flags.DEFINE_enum("stage", "all", list(STAGE_NAMES), "Which stage to run (see tsss_tf.stages).")
flags.DEFINE_enum("strategy", "mirrored", ["mirrored", "one_device", "multi_worker"],
                  "tf.distribute strategy. multi_worker: MultiWorkerMirroredStrategy from the "
                  "TF_CONFIG environment variable; start every worker with the same flags and "
                  "--model_dir (see tsss_tf.training.strategy).")
flags.DEFINE_bool("deterministic", False,
                  "Op determinism and seeding from the config's seed: two runs of the same "
                  "config give bit-identical weights (sets the config's `deterministic`).")
flags.DEFINE_bool("progress", True, "Progress bars on the console.")
FLAGS = flags.FLAGS


@command
def main():
    notes = []
    cfg, model_dir = resolve_config(FLAGS, notes=notes)
    for note in notes:
        print(f"note: {note}", flush=True)
    if FLAGS.deterministic:
        cfg.deterministic = True
    from tsss_tf.training.strategy import make_strategy

    try:  # first: a multi-worker strategy must exist before the TF runtime starts
        strategy = make_strategy(FLAGS.strategy)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    from tsss_tf.evaluation.report import to_markdown
    from tsss_tf.experiment import Experiment
    from tsss_tf.run_lock import acquire_run_lock
    from tsss_tf.training.strategy import is_chief, task_name

    logging.info("config %s, model_dir %s, %d replica(s)", cfg.name, model_dir,
                 strategy.num_replicas_in_sync)
    # One run per folder: the lock is held until this process ends (tsss_tf.run_lock); the
    # other workers of a multi-worker run take their own.
    acquire_run_lock(model_dir, None if is_chief(strategy) else task_name(strategy))
    exp = Experiment(cfg, model_dir, strategy=strategy, progress=FLAGS.progress)
    if exp.chief:
        print("\n".join(exp.data.describe()), flush=True)
    results = exp.run(FLAGS.stage)
    print(to_markdown(results))
    print(f"results: {os.path.join(model_dir, 'results.json')}")


if __name__ == "__main__":
    app.run(main)
