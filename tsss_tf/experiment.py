"""Runs the stages of an experiment and writes its results.

    stage        what it does                                       writes under model_dir
    lnet         trains L-Net                                       lnet/
    transfer     L-Net -> transferred labels of the weak images     transfer/pseudo_labels/
    pnet         P-Net + discriminator (the full model, "tsss")     tsss/
                 with pnet.refine_rounds = R > 0, first R rounds of    tsss_round<r>/,
                 it, each relabelling the weak images for the next     refine/round<r+1>/
    full         baseline: every mask                               full/
    strong_only  baseline: strong images only                       strong_only/
    lnet_only    baseline: strong masks + L_w, no adversarial term  lnet_only/
    all          every stage above, then results.json / results.md

Each finished stage leaves `<stage>/metrics.json`; a stage that has one is not run again, and
an interrupted stage resumes from its last checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import time

import keras
import numpy as np
import tensorflow as tf

from tsss_tf.config import ConfigError, ExperimentConfig, transfer_image_size
from tsss_tf.data.experiment_data import open_experiment_data
from tsss_tf.data.splits import Split
from tsss_tf.data.voc import DataError
from tsss_tf.evaluation import report
from tsss_tf.evaluation.monitor import ExperimentMonitor
from tsss_tf.evaluation.scoring import evaluate_model, evaluate_pseudo_labels
from tsss_tf.training.determinism import enable_determinism
from tsss_tf.training.gan_loop import train_pnet
from tsss_tf.training.lnet_loop import train_lnet
from tsss_tf.training.refine import relabel_weak_images
from tsss_tf.training.restore import load_trained
from tsss_tf.training.strategy import is_chief, make_strategy
from tsss_tf.transfer.pseudo_labels import PseudoLabelStore
from tsss_tf.transfer.stage import NO_AUGMENTATION, augmentation, run_transfer, transfer_kwargs

STAGES = ("all", "lnet", "transfer", "pnet", "full", "strong_only", "lnet_only")
STAGE_VARIANT = {"pnet": "tsss", "full": "full", "strong_only": "strong_only",
                 "lnet_only": "lnet_only"}
ORDER = ("lnet", "transfer", "full", "strong_only", "lnet_only", "pnet")
SEED_OFFSET = {s: i * 1000 for i, s in enumerate(ORDER)}
FULL_SKIPPED = ("some training images have tags but no mask, so there is no fully supervised "
                "baseline to train")


def weights_id(model) -> str:
    """sha256 of a model's weights (shapes and values, in the model's order): what names the
    model that produced a folder of labels. Taken from the model in memory, not from a
    checkpoint file: every worker of a multi-worker run holds the same weights, while a
    non-chief worker can read the chief's checkpoint folder before its last save lands.
    (Weight names are left out: Keras numbers the layers of a second model built in one
    process differently.)"""
    digest = hashlib.sha256()
    for w in model.weights:
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(w))
        digest.update(str(value.shape).encode())
        digest.update(value.tobytes())
    return digest.hexdigest()[:16]


def check_model_dir(cfg: ExperimentConfig, model_dir: str) -> None:
    """Writes config.json into model_dir, or refuses a model_dir that holds another run.

    A config.json with no trained output next to it (a run that failed before its first
    checkpoint, e.g. on a bad split) is replaced, so fixing the config is enough to go on."""
    if os.path.exists(model_dir) and not os.path.isdir(model_dir):
        raise ConfigError(f"model_dir '{model_dir}' is a file, not a folder")
    try:
        os.makedirs(model_dir, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"model_dir '{model_dir}' cannot be created: {e.strerror}") from None
    path = os.path.join(model_dir, "config.json")
    try:
        stored = report.read_json(path)
        old = None if stored is None else ExperimentConfig.from_dict(stored)
    except (ValueError, OSError) as e:  # JSONDecodeError and ConfigError are ValueErrors
        if _holds_outputs(model_dir):
            raise ConfigError(f"{path}: cannot read the config of the run in model_dir "
                              f"'{model_dir}' ({e}); use a new --model_dir") from None
        stored = old = None
    # compared after parsing, so a field added to the config since (at its default) is no change
    if (old is not None and json.loads(old.to_json()) != json.loads(cfg.to_json())
            and _holds_outputs(model_dir)):
        new, prev = _flatten(cfg.to_dict()), _flatten(old.to_dict())
        diff = [k for k in new if prev.get(k) != new[k]]
        raise ConfigError(
            f"model_dir '{model_dir}' holds a run of another config "
            f"('{stored.get('name')}'); differing fields: {', '.join(diff[:8]) or 'none'}. "
            "Use a new --model_dir.")
    try:
        report.atomic_write_text(path, cfg.to_json() + "\n")
    except OSError as e:
        raise ConfigError(f"cannot write {path}: {e.strerror}") from None


def _fingerprint_fields(data_cfg) -> dict:
    """The data fields that name a run's labels: not the image size limits (they refuse files,
    they change no label), and extra_data_dirs only when set, so that the labels of
    single-folder runs keep their fingerprint."""
    fields = {k: v for k, v in data_cfg.__dict__.items()
              if k not in ("max_image_pixels", "max_image_side")}
    if not fields.get("extra_data_dirs"):
        fields.pop("extra_data_dirs", None)
    return fields


def _holds_outputs(model_dir: str) -> bool:
    """Whether any stage of model_dir has written a checkpoint, label or metrics file."""
    for stage in ORDER + tuple(STAGE_VARIANT.values()):
        folder = os.path.join(model_dir, stage)
        for _, _, files in os.walk(folder):
            if files:
                return True
    return os.path.exists(os.path.join(model_dir, "results.json"))


def _flatten(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


class Experiment:
    """One experiment in one model_dir."""

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

    # -- paths and fingerprints ---------------------------------------------------------
    def stage_dir(self, stage: str) -> str:
        return os.path.join(self.model_dir, STAGE_VARIANT.get(stage, stage))

    def pseudo_dir(self) -> str:
        return os.path.join(self.model_dir, "transfer", "pseudo_labels")

    def _lnet_weights_id(self) -> str:
        """`weights_id` of the L-Net, so that labels from another training of it are never
        reused."""
        return weights_id(self.lnet())

    def store(self) -> PseudoLabelStore:
        c = self.cfg
        fields = {"split": self.data.split.content_hash(), "seed": c.seed,
                  "data": _fingerprint_fields(c.data), "model": c.model.__dict__,
                  "lnet": c.lnet.__dict__, "transfer": transfer_kwargs(c.transfer),
                  "size": transfer_image_size(c), "lnet_weights": self._lnet_weights_id()}
        aug = augmentation(c.transfer)
        if aug != NO_AUGMENTATION:  # absent otherwise: older runs' labels keep their fingerprint
            fields["augmentation"] = aug
        fp = json.dumps(fields, sort_keys=True, default=str)
        try:
            return PseudoLabelStore(self.pseudo_dir(),
                                    hashlib.sha256(fp.encode()).hexdigest()[:16])
        except ValueError as e:
            raise DataError(f"{e}. Delete {os.path.dirname(self.pseudo_dir())} to transfer "
                            "the labels again from this L-Net.") from None

    def refined_store(self, round_: int, pnet) -> PseudoLabelStore:
        """The labels written by the full model's P-Net of round `round_ - 1` (`pnet`)."""
        pnet_cfg = {k: v for k, v in self.cfg.pnet.__dict__.items() if k != "refine_rounds"}
        fp = json.dumps({"base": self.store().fingerprint, "round": round_, "pnet": pnet_cfg,
                         "size": self.cfg.data.eval_size, "pnet_weights": weights_id(pnet)},
                        sort_keys=True, default=str)
        directory = os.path.join(self.model_dir, "refine", f"round{round_}", "pseudo_labels")
        try:
            return PseudoLabelStore(directory, hashlib.sha256(fp.encode()).hexdigest()[:16])
        except ValueError as e:
            raise DataError(f"{e}. Delete {os.path.dirname(directory)} to relabel the weak "
                            "images from this P-Net.") from None

    def done(self, stage: str) -> bool:
        return os.path.exists(os.path.join(self.stage_dir(stage), "metrics.json"))

    def _finish(self, stage: str, metrics: dict, t0: float) -> dict:
        metrics = dict(metrics, wall_time_s=time.perf_counter() - t0)
        os.makedirs(self.stage_dir(stage), exist_ok=True)
        if self.chief:
            report.write_json(os.path.join(self.stage_dir(stage), "metrics.json"), metrics)
        return metrics

    # -- stages ---------------------------------------------------------------------------
    def lnet(self):
        if self._lnet is None:
            if self.done("lnet"):
                with self.strategy.scope():
                    self._lnet = load_trained(
                        "lnet", self.cfg.model, self.data.num_categories,
                        os.path.join(self.stage_dir("lnet"), "ckpt"), self.cfg.data.crop_size,
                        "the L-Net", missing_hint=": stage lnet is marked finished but holds "
                        "no checkpoint; delete lnet/metrics.json to retrain it")
            else:
                self.run_stage("lnet")
        return self._lnet

    def run_stage(self, stage: str) -> dict:
        if stage not in STAGES or stage == "all":
            raise ValueError(f"unknown stage '{stage}' ({', '.join(STAGES)})")
        keras.utils.set_random_seed(self.cfg.seed + SEED_OFFSET[stage])
        t0 = time.perf_counter()
        if stage == "lnet":
            model, last = train_lnet(self.cfg, self.data, self.strategy, self.model_dir,
                                     writer=self.writer, progress=self.progress,
                                     is_chief=self.chief,
                                     panel_fn=self.monitor.lnet_panel_fn())
            self._lnet = model
            return self._finish("lnet", {"last": last}, t0)
        if stage == "transfer":
            lnet = self.lnet()
            t0 = time.perf_counter()
            store = self.store()
            run_transfer(lnet, self.data, store, self.cfg.transfer,
                         transfer_image_size(self.cfg), progress=self.progress)
            quality = evaluate_pseudo_labels(self.data, store)
            store.mark_complete({"miou": quality["miou"]})
            self._log_scalars("transfer/pseudo_label", quality, 0)
            self.monitor.after_transfer(lnet, store, quality)
            return self._finish("transfer", {"pseudo_labels": quality}, t0)
        variant = STAGE_VARIANT[stage]
        if variant == "full" and self.data.has_tag_only_training():
            return self._finish(stage, {"skipped": FULL_SKIPPED}, t0)
        pseudo = None
        if variant in ("tsss", "lnet_only"):
            if not self.done("transfer"):
                self.run_stage("transfer")
                t0 = time.perf_counter()
            pseudo = self.pseudo_dir()
        if variant == "tsss" and self.cfg.pnet.refine_rounds:
            pseudo = self._refine(pseudo)  # its time counts in this stage's
            keras.utils.set_random_seed(self.cfg.seed + SEED_OFFSET[stage]
                                        + self.cfg.pnet.refine_rounds)
        _, metrics = self._train_variant(variant, variant, pseudo)
        return self._finish(stage, metrics, t0)

    def _train_variant(self, variant: str, name: str, pseudo) -> tuple:
        """Trains P-Net `variant` into model_dir/`name`; returns it and {"last", "test"}."""
        val = self.cfg.data.val_set

        def eval_fn(model):
            r = evaluate_model(model, self.data, val, self.cfg.global_batch_size)
            out = {"miou": r["miou"], "miou_strong": r["miou_strong"],
                   "miou_weak": r["miou_weak"]}
            out.update({f"iou/{k}": v for k, v in r["per_class"].items() if v is not None})
            return out

        gen, _, last = train_pnet(self.cfg, self.data, self.strategy, self.model_dir, variant,
                                  pseudo_dir=pseudo, writer=self.writer, progress=self.progress,
                                  eval_fn=eval_fn if val else None, is_chief=self.chief,
                                  panel_fn=self.monitor.variant_panel_fn(name), name=name)
        test = evaluate_model(gen, self.data, self.cfg.data.test_set, self.cfg.global_batch_size)
        self._log_scalars(f"{name}/test", test, self.cfg.pnet.steps)
        self.monitor.after_variant(name, gen)
        return gen, {"last": last, "test": test}

    def _refine(self, pseudo: str) -> str:
        """Rounds 0 .. R-1 of the full model's P-Net (R = pnet.refine_rounds), each trained on
        the labels of the round before (round 0 on L-Net's) and relabelling the weak training
        images for the next (tsss_tf.training.refine). Resumable round by round; returns the
        folder of the last round's labels."""
        pc = self.cfg.pnet
        for r in range(pc.refine_rounds):
            name = f"tsss_round{r}"
            t0 = time.perf_counter()
            if self.done(name):
                gen = load_trained("pnet", self.cfg.model, self.data.num_classes,
                                   os.path.join(self.stage_dir(name), "ckpt"),
                                   self.cfg.data.crop_size, f"the P-Net '{name}'",
                                   missing_hint=f": {name} is marked finished but holds no "
                                   f"checkpoint; delete {name}/metrics.json to retrain it")
            else:
                keras.utils.set_random_seed(self.cfg.seed + SEED_OFFSET["pnet"] + r)
                gen, metrics = self._train_variant("tsss", name, pseudo)
                self._finish(name, metrics, t0)
            store = self.refined_store(r + 1, gen)
            if not store.is_complete():
                t0 = time.perf_counter()
                relabel_weak_images(gen, self.data, store, pc.refine_confidence,
                                    self.cfg.data.eval_size, self.cfg.transfer.batch_size,
                                    progress=self.progress)
                quality = evaluate_pseudo_labels(self.data, store)
                store.mark_complete({"miou": quality["miou"]})
                self._log_scalars(f"refine/round{r + 1}/pseudo_label", quality, 0)
                self._finish(os.path.join("refine", f"round{r + 1}"),
                             {"pseudo_labels": quality}, t0)
            pseudo = store.directory
        return pseudo

    def _log_scalars(self, prefix, rep, step):
        if not self.chief:
            return
        with self.writer.as_default(step=step):
            for k in ("miou", "miou_strong", "miou_weak"):
                if rep.get(k) is not None:
                    tf.summary.scalar(f"{prefix}/{k}", rep[k])
        self.writer.flush()

    def run(self, stage: str = "all") -> dict:
        stages = ORDER if stage == "all" else (stage,)
        for s in stages:
            if stage == "all" and self.done(s):
                continue
            self.run_stage(s)
        return self.results()

    def results(self) -> dict:
        split = self.data.split
        kinds = {n: ("background" if k == 0 else "strong" if k == 1 else "weak")
                 for n, k in zip(self.data.class_names, self.data.class_kinds)}
        header = {"config": self.cfg.name, "seed": self.cfg.seed,
                  "dataset": self.cfg.data.dataset, "eval_set": self.cfg.data.test_set,
                  "split": {"name": split.name, "hash": split.content_hash(),
                            "strong": list(split.strong), "weak": list(split.weak)},
                  # In class-id order (the JSON dicts are written with sorted keys).
                  "class_names": list(self.data.class_names), "class_kinds": kinds}
        res = report.gather(self.model_dir, header)
        if self.chief:
            report.write_json(os.path.join(self.model_dir, "results.json"), res)
            report.atomic_write_text(os.path.join(self.model_dir, "results.md"),
                                     report.to_markdown(res) + self.monitor.after_results(res))
        return res
