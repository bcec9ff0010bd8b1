"""Runs the stages of an experiment (tsss_tf.stages) and writes its results.

Each finished stage leaves `<folder>/metrics.json`; a stage that has one is not run again, and
an interrupted stage resumes from its last checkpoint. `all` runs every stage, then writes
results.json and results.md.
"""

from __future__ import annotations

import os
import time

import keras
import tensorflow as tf

from tsss_tf.config import ExperimentConfig, transfer_image_size
from tsss_tf.data.experiment_data import open_experiment_data
from tsss_tf.data.splits import Split
from tsss_tf.evaluation import report
from tsss_tf.evaluation.monitor import ExperimentMonitor
from tsss_tf.evaluation.scoring import evaluate_model, evaluate_pseudo_labels, validation_fn
from tsss_tf.run_folder import check_model_dir
from tsss_tf.stages import BY_NAME, STAGES, Stage, stage
from tsss_tf.training.determinism import enable_determinism
from tsss_tf.training.gan_loop import train_pnet
from tsss_tf.training.lnet_loop import train_lnet
from tsss_tf.training.precision import dtype_policy
from tsss_tf.training.refine import refined_store, relabel_weak_images
from tsss_tf.training.restore import load_stage
from tsss_tf.training.strategy import is_chief, make_strategy
from tsss_tf.transfer.pseudo_labels import PseudoLabelStore
from tsss_tf.transfer.stage import label_store, run_transfer

FULL_SKIPPED = ("some training images have tags but no mask, so there is no fully supervised "
                "baseline to train")


def _unfinished(folder: str) -> str:
    return (f": {folder} is marked finished but holds no checkpoint; delete "
            f"{folder}/metrics.json to retrain it")


class Experiment:
    """One experiment in one model_dir: the data opened and checked, then the stages.

    Example (the embedded default, every stage; about 8 minutes on two CPU cores):

        exp = Experiment(load_config("embedded_50"), "runs/embedded_50_seed0")
        results = exp.run()               # or exp.run("lnet"), exp.run("pnet"), ...
        print(results["ratio_to_full"])
    """

    def __init__(self, cfg: ExperimentConfig, model_dir: str, strategy=None,
                 progress: bool = True):
        self.cfg, self.model_dir, self.progress = cfg, model_dir, progress
        cfg.validate()
        if cfg.deterministic:
            enable_determinism(cfg.seed)
        self.strategy = strategy or make_strategy("mirrored")
        self.chief = is_chief(self.strategy)
        # The data is opened and every set indexed before anything is written to model_dir.
        self.data = open_experiment_data(cfg.data, Split.from_config(cfg.split),
                                         infer=cfg.split.infer)
        cfg.split.strong, cfg.split.weak = self.data.split.strong, self.data.split.weak
        self.data.validate()
        check_model_dir(cfg, model_dir)
        self.writer = (tf.summary.create_file_writer(os.path.join(model_dir, "tensorboard"))
                       if self.chief else tf.summary.create_noop_writer())
        self._lnet = None
        self.monitor = ExperimentMonitor(self)  # TensorBoard panels, figures, hparams

    # -- running ----------------------------------------------------------------------------
    def run(self, stage_name: str = "all") -> dict:
        """Runs one stage (and what it needs), or with "all" every unfinished stage; returns the
        results gathered so far."""
        for s in (STAGES if stage_name == "all" else (stage(stage_name),)):
            if stage_name != "all" or not self.done(s.name):
                self.run_stage(s.name)
        return self.results()

    def run_stage(self, name: str) -> dict:
        """Runs stage `name` after what it needs; returns and writes its metrics."""
        s = stage(name)
        self._ensure(s.needs)
        keras.utils.set_random_seed(self.cfg.seed + s.seed_offset)
        t0 = time.perf_counter()
        metrics = getattr(self, f"_run_{s.kind}")(s)
        return self._finish(s.folder, metrics, t0)

    def _ensure(self, needed: str) -> None:
        if needed == "lnet":
            self.lnet()
        elif needed and not self.done(needed):
            self.run_stage(needed)

    def _run_lnet(self, s: Stage) -> dict:
        self._lnet, last = train_lnet(self.cfg, self.data, self.strategy, self.model_dir,
                                      writer=self.writer, progress=self.progress,
                                      is_chief=self.chief,
                                      panel_fn=self.monitor.lnet_panel_fn())
        return {"last": last}

    def _run_transfer(self, s: Stage) -> dict:
        lnet, store = self.lnet(), self.store()
        run_transfer(lnet, self.data, store, self.cfg.transfer, transfer_image_size(self.cfg),
                     progress=self.progress)
        quality = self._score_labels(store, "transfer/pseudo_label")
        self.monitor.after_transfer(lnet, store, quality)
        return {"pseudo_labels": quality}

    def _run_variant(self, s: Stage) -> dict:
        if s.folder == "full" and self.data.has_tag_only_training():
            return {"skipped": FULL_SKIPPED}
        labels = self.pseudo_dir() if s.needs == "transfer" else None
        if s.folder == "tsss" and self.cfg.pnet.refine_rounds:
            labels = self._refine(labels)  # its time counts in this stage's
            keras.utils.set_random_seed(self.cfg.seed + s.seed_offset
                                        + self.cfg.pnet.refine_rounds)
        return self._train_variant(s.folder, s.folder, labels)[1]

    def _train_variant(self, variant: str, name: str, labels) -> tuple:
        """Trains P-Net `variant` into model_dir/`name`; returns it and {"last", "test"}."""
        val = self.cfg.data.val_set
        gen, _, last = train_pnet(
            self.cfg, self.data, self.strategy, self.model_dir, variant, pseudo_dir=labels,
            writer=self.writer, progress=self.progress, is_chief=self.chief, name=name,
            eval_fn=validation_fn(self.data, val, self.cfg.global_batch_size) if val else None,
            panel_fn=self.monitor.variant_panel_fn(name))
        test = evaluate_model(gen, self.data, self.cfg.data.test_set, self.cfg.global_batch_size)
        self.monitor.log_scalars(f"{name}/test", test, self.cfg.pnet.steps)
        self.monitor.after_variant(name, gen)
        return gen, {"last": last, "test": test}

    def _refine(self, labels: str) -> str:
        """Rounds 0 .. R-1 of the full model's P-Net (R = pnet.refine_rounds), each trained on
        the labels of the round before (round 0 on L-Net's) and relabelling the weak training
        images for the next (tsss_tf.training.refine). Resumable round by round; returns the
        folder of the last round's labels."""
        base = self.store().fingerprint
        for r in range(self.cfg.pnet.refine_rounds):
            name, t0 = f"tsss_round{r}", time.perf_counter()
            if self.done(name):
                gen = load_stage(self.cfg, self.data, self.model_dir, name, _unfinished(name))
            else:
                keras.utils.set_random_seed(self.cfg.seed + stage("pnet").seed_offset + r)
                gen, metrics = self._train_variant("tsss", name, labels)
                self._finish(name, metrics, t0)
            store = refined_store(self.model_dir, self.cfg, base, r + 1, gen)
            if not store.is_complete():
                t0 = time.perf_counter()
                relabel_weak_images(gen, self.data, store, self.cfg.pnet.refine_confidence,
                                    self.cfg.data.eval_size, self.cfg.transfer.batch_size,
                                    progress=self.progress)
                quality = self._score_labels(store, f"refine/round{r + 1}/pseudo_label")
                self._finish(os.path.join("refine", f"round{r + 1}"),
                             {"pseudo_labels": quality}, t0)
            labels = store.directory
        return labels

    # -- state ------------------------------------------------------------------------------
    def lnet(self):
        """The trained L-Net: this run's, or trained now when stage lnet is not finished."""
        if self._lnet is None:
            if not self.done("lnet"):
                self.run_stage("lnet")
            else:
                with self.strategy.scope(), dtype_policy(self.cfg.mixed_precision):
                    self._lnet = load_stage(self.cfg, self.data, self.model_dir, "lnet",
                                            _unfinished("lnet"))
        return self._lnet

    def store(self) -> PseudoLabelStore:
        """The store of the L-Net's transferred labels (tsss_tf.transfer.stage.label_store)."""
        return label_store(self.pseudo_dir(), self.cfg, self.data.split.content_hash(),
                           self.lnet())

    def pseudo_dir(self) -> str:
        return os.path.join(self.model_dir, "transfer", "pseudo_labels")

    def done(self, name: str) -> bool:
        """Whether stage (or folder) `name` has finished: its metrics.json exists."""
        folder = BY_NAME[name].folder if name in BY_NAME else name
        return os.path.exists(os.path.join(self.model_dir, folder, "metrics.json"))

    def _score_labels(self, store: PseudoLabelStore, tag: str) -> dict:
        quality = evaluate_pseudo_labels(self.data, store)
        store.mark_complete({"miou": quality["miou"]})
        self.monitor.log_scalars(tag, quality, 0)
        return quality

    def _finish(self, folder: str, metrics: dict, t0: float) -> dict:
        metrics = dict(metrics, wall_time_s=time.perf_counter() - t0)
        os.makedirs(os.path.join(self.model_dir, folder), exist_ok=True)
        if self.chief:
            report.write_json(os.path.join(self.model_dir, folder, "metrics.json"), metrics)
        return metrics

    def results(self) -> dict:
        """results.json and results.md from every finished stage's metrics (chief only)."""
        res = report.gather(self.model_dir, report.results_header(self.cfg, self.data))
        if self.chief:
            report.write_json(os.path.join(self.model_dir, "results.json"), res)
            report.atomic_write_text(os.path.join(self.model_dir, "results.md"),
                                     report.to_markdown(res) + self.monitor.after_results(res))
        return res
