"""The TensorBoard HParams dashboard of an experiment: one session per P-Net variant.

    <model_dir>/hparams/            the experiment summary (hparams and metrics)
    <model_dir>/hparams/<variant>/  one session: its hparams and final metrics

Each session's hparams are the variant, the config's name, seed, split, data set and the key
training values; its metrics are the test mIoU over all / strong / weak classes and the ratios
to the fully supervised baseline. `tensorboard --logdir runs/` lists the sessions of every
experiment under runs/ in its HPARAMS tab (table, parallel coordinates, scatter plots), so the
results of several seeds and splits can be filtered and sorted together, and
`tensorboard --logdir <model_dir>` shows one experiment's sessions next to its training
summaries (`<model_dir>/tensorboard`, which stays the chief's one event file).

The folder is rewritten from results.json each time the results are gathered.
"""

from __future__ import annotations

import os
import shutil

import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

from tsss_tf.evaluation.report import VARIANTS

HPARAMS_DIR = "hparams"
METRICS = (("test/miou", "mIoU all"), ("test/miou_strong", "mIoU strong"),
           ("test/miou_weak", "mIoU weak"), ("test/ratio_to_full", "mIoU / full (all)"),
           ("test/ratio_to_full_weak", "mIoU / full (weak)"))


def hparam_values(cfg, results: dict, variant: str) -> dict:
    """The hparams of one variant's session, by name."""
    split = results.get("split", {})
    return {
        "variant": variant,
        "config": cfg.name,
        "seed": int(cfg.seed),
        "split": str(split.get("name", cfg.split.name)),
        "split_hash": str(split.get("hash", "")),
        "dataset": cfg.data.dataset,
        "backbone": cfg.model.backbone,
        "global_batch_size": int(cfg.global_batch_size),
        "lnet_steps": int(cfg.lnet.steps),
        "pnet_steps": int(cfg.pnet.steps),
        "pnet_learning_rate": float(cfg.pnet.learning_rate),
        "lambda_weak": float(cfg.pnet.lambda_weak),
        "lambda_adv": float(cfg.pnet.lambda_adv),
    }


def _hparam(name, value):
    if name == "variant":
        return hp.HParam(name, hp.Discrete(list(VARIANTS)))
    return hp.HParam(name)


def write_hparams(root: str, cfg, results: dict) -> list:
    """Writes the experiment summary and one session per variant in results["variants"];
    returns the session folders written."""
    shutil.rmtree(root, ignore_errors=True)
    variants = [v for v in VARIANTS if v in results.get("variants", {})]
    if not variants:
        return []
    names = list(hparam_values(cfg, results, variants[0]))
    writer = tf.summary.create_file_writer(root)
    with writer.as_default():
        hp.hparams_config(hparams=[_hparam(n, None) for n in names],
                          metrics=[hp.Metric(tag, display_name=d) for tag, d in METRICS])
    writer.close()
    out = []
    ratios = results.get("ratios", {})
    for v in variants:
        r = results["variants"][v]
        folder = os.path.join(root, v)
        w = tf.summary.create_file_writer(folder)
        values = {"test/miou": r.get("miou"), "test/miou_strong": r.get("miou_strong"),
                  "test/miou_weak": r.get("miou_weak"),
                  "test/ratio_to_full": ratios.get(v, {}).get("all"),
                  "test/ratio_to_full_weak": ratios.get(v, {}).get("weak")}
        with w.as_default(step=int(cfg.pnet.steps)):
            hp.hparams(hparam_values(cfg, results, v),
                       trial_id=f"{cfg.name}/seed{cfg.seed}/{v}")
            for tag, value in values.items():
                if value is not None:
                    tf.summary.scalar(tag, float(value))
        w.close()
        out.append(folder)
    return out
