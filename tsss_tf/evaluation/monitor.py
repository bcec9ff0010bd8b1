"""What an experiment shows in TensorBoard beyond the loops' scalars: image panels of fixed
images at a fixed cadence, per-class pseudo-label IoU, the test examples behind the results
figures, and the HParams dashboard (tsss_tf.evaluation.hparams).

`ExperimentMonitor(experiment)` is made by tsss_tf.experiment and hands the training loops
plain callbacks (`panel_fn(model, step)`), so training code never imports this module. It only
reads models in inference mode on the chief, outside the compiled training steps: the training
numbers do not change.

Panels (tsss_tf.evaluation.panels for the columns), as `tf.summary.image`:

    tag                          images                                  when
    lnet/panels/val              the first `panel_images` val images     every image_every L-Net
                                                                          steps and at the end
    transfer/panels/weak_train   the first weak training images (their   once, after the transfer
                                 stored transferred labels)
    <variant>/panels/val         the same val images, the P-Net of the   every image_every steps
                                 variant (and the finished L-Net)        and at the end

`panels/legend` (text) names the palette's colours.
"""

from __future__ import annotations

import os
from typing import Dict, Optional

import numpy as np
import tensorflow as tf

from tsss_tf.data.pipeline import eval_dataset, weak_records
from tsss_tf.data.voc import IGNORE_LABEL
from tsss_tf.evaluation import panels
from tsss_tf.evaluation.figures import EXAMPLES_FILE, save_examples
from tsss_tf.transfer.cam import normalize_cams
from tsss_tf.transfer.stage import make_transfer_fn

PANEL_DESCRIPTION = ("Columns: " + " | ".join(panels.COLUMNS) + ". Objectness: black 0 -> "
                     "white 1. Class colours: see panels/legend; white = ignore / unlabelled; "
                     "grey hatch = not available in this stage.")


def _first_batch(data, recs) -> Dict[str, np.ndarray]:
    ds = eval_dataset(data, recs=recs, batch_size=max(1, len(recs)))
    return {k: v.numpy() for k, v in next(iter(ds)).items()}


def covering_records(recs, n: int, first=()) -> list:
    """n records, in set order, chosen greedily to show categories not shown yet: first those
    with an unshown category of `first` (class ids), then those with any unshown category,
    then the remaining records in order.

    >>> from tsss_tf.data.sources import Record
    >>> recs = [Record(str(i), "", "", p, "strong") for i, p in enumerate([(1,), (1,), (2,), (3,)])]
    >>> [r.name for r in covering_records(recs, 3, first={3})]
    ['3', '0', '2']
    """
    chosen, shown = [], set()
    for pool in (set(first), None):
        for r in recs:
            if len(chosen) == n:
                return chosen
            new = set(r.present) - shown
            if r not in chosen and (new & pool if pool is not None else new):
                chosen.append(r)
                shown |= set(r.present)
    chosen += [r for r in recs if r not in chosen][:n - len(chosen)]
    return chosen


class ExperimentMonitor:
    """Panels, examples and hparams of one Experiment (duck-typed: cfg, data, writer, chief,
    model_dir, done(stage), lnet())."""

    def __init__(self, exp):
        self.exp = exp
        self._val: Optional[dict] = None
        self._fixed_lnet = None           # (lnet, its maps on the val batch) for P-Net stages
        self._transfer_fns: dict = {}
        self._legend_written = False

    # -- fixed images ----------------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        c = self.exp.cfg
        return bool(self.exp.chief and c.panel_images > 0 and c.image_every > 0)

    def val_batch(self) -> Optional[dict]:
        """The first cfg.panel_images images of the val set, at eval size (cached)."""
        if self._val is None:
            c = self.exp.cfg
            recs = self.exp.data.records(c.data.val_set)[:c.panel_images] if c.data.val_set \
                else []
            self._val = _first_batch(self.exp.data, recs) if recs else {}
        return self._val or None

    # -- model outputs ---------------------------------------------------------------------
    def _transfer_fn(self, lnet):
        key = id(lnet)
        if key not in self._transfer_fns:
            self._transfer_fns = {key: (lnet, make_transfer_fn(lnet, self.exp.cfg.transfer))}
        return self._transfer_fns[key][1]

    def lnet_maps(self, lnet, batch) -> dict:
        """objectness M, normalised CAMs of the tagged categories and the transferred label of
        each image of `batch`, from `lnet` in inference mode."""
        images = tf.convert_to_tensor(batch["image"], tf.float32)
        tags = tf.convert_to_tensor(batch["labels"], tf.float32)
        out = lnet(images, training=False)
        size = images.shape[1:3]
        m = tf.sigmoid(tf.cast(out["objectness_logits"][..., 0], tf.float32))
        cams = normalize_cams(out["cams"], tags, size=size)
        transferred = self._transfer_fn(lnet)(images, tags)
        return {"objectness": m.numpy(), "cams": cams.numpy(), "tags": batch["labels"],
                "transferred": np.asarray(transferred)}

    def _write(self, tag: str, step: int, grid: np.ndarray) -> None:
        writer = self.exp.writer
        with writer.as_default(step=step):
            if not self._legend_written:
                kinds = ["background" if k == 0 else "strong" if k == 1 else "weak"
                         for k in self.exp.data.class_kinds]
                tf.summary.text("panels/legend",
                                panels.legend_markdown(self.exp.data.class_names, kinds))
                self._legend_written = True
            tf.summary.image(tag, grid[None], max_outputs=1, description=PANEL_DESCRIPTION)
        writer.flush()

    def _render(self, batch, maps=None, prediction=None, truth=True, transferred=None):
        maps = maps or {}
        return panels.render_panels(
            batch["image"], objectness=maps.get("objectness"), cams=maps.get("cams"),
            tags=maps.get("tags"),
            transferred=maps.get("transferred") if transferred is None else transferred,
            prediction=prediction, truth=batch["mask"] if truth else None,
            num_background=self.exp.data.num_background)

    def log_scalars(self, prefix: str, rep: dict, step: int) -> None:
        """`prefix`/miou, /miou_strong and /miou_weak of an mIoU report (those it has), on the
        chief."""
        if not self.exp.chief:
            return
        with self.exp.writer.as_default(step=step):
            for k in ("miou", "miou_strong", "miou_weak"):
                if rep.get(k) is not None:
                    tf.summary.scalar(f"{prefix}/{k}", rep[k])
        self.exp.writer.flush()

    # -- callbacks for the stages ------------------------------------------------------------
    def lnet_panel_fn(self):
        """panel_fn(model, step) for the L-Net stage, or None when panels are off."""
        if not self.enabled or self.val_batch() is None:
            return None

        def fn(model, step):
            batch = self.val_batch()
            self._write("lnet/panels/val", step, self._render(batch, self.lnet_maps(model, batch)))

        return fn

    def pnet_panel_fn(self):
        """panel_fn(model, step) for a P-Net stage. The L-Net columns come from the finished
        L-Net when there is one (it is never trained for the pictures)."""
        if not self.enabled or self.val_batch() is None:
            return None

        def fn(model, step, tag):
            batch = self.val_batch()
            if self._fixed_lnet is None:
                maps = self.lnet_maps(self.exp.lnet(), batch) if self.exp.done("lnet") else {}
                self._fixed_lnet = maps
            pred = model(tf.convert_to_tensor(batch["image"], tf.float32), training=False)
            grid = self._render(batch, self._fixed_lnet, prediction=np.asarray(pred))
            self._write(tag, step, grid)

        return fn

    def variant_panel_fn(self, variant: str):
        fn = self.pnet_panel_fn()
        return None if fn is None else (lambda model, step: fn(model, step,
                                                               f"{variant}/panels/val"))

    def after_transfer(self, lnet, store, quality: dict) -> None:
        """Per-class pseudo-label IoU scalars and the panel of the first weak training images
        with their stored transferred labels (their masks are read here only to be shown, as
        evaluate_pseudo_labels reads them only to measure)."""
        if not self.exp.chief:
            return
        with self.exp.writer.as_default(step=0):
            for k, v in (quality.get("per_class") or {}).items():
                if v is not None:
                    tf.summary.scalar(f"transfer/pseudo_label/iou/{k}", v)
        if not self.enabled:
            return
        recs = weak_records(self.exp.data)[:self.exp.cfg.panel_images]
        if not recs:
            return
        batch = _first_batch(self.exp.data, recs)
        size = batch["image"].shape[1]
        stored = np.full((len(recs), size, size), IGNORE_LABEL, np.int32)
        for i, r in enumerate(recs):
            lab = store.read(r.name)
            vh, vw = (int(v) for v in batch["valid_size"][i])
            small = tf.image.resize(lab[..., None].astype(np.int32), (vh, vw), method="nearest")
            stored[i, :vh, :vw] = small.numpy()[..., 0]
        maps = self.lnet_maps(lnet, batch)
        self._write("transfer/panels/weak_train", 0, self._render(batch, maps,
                                                                  transferred=stored))

    # -- after a variant, after the experiment ----------------------------------------------
    def after_variant(self, variant: str, model) -> None:
        """Saves the prediction of the variant on a few test images that show as many
        categories as they can, weak ones first (`covering_records`), for the figures."""
        c = self.exp.cfg
        if not self.exp.chief or not c.data.test_set:
            return
        weak = {i for i, k in enumerate(self.exp.data.class_kinds) if k == 2}
        recs = covering_records(self.exp.data.records(c.data.test_set),
                                max(c.panel_images, 1), first=weak)
        if not recs:
            return
        batch = _first_batch(self.exp.data, recs)
        pred = model(tf.convert_to_tensor(batch["image"], tf.float32), training=False)
        save_examples(os.path.join(self.exp.model_dir, variant, EXAMPLES_FILE),
                      image=panels.to_uint8_image(batch["image"]),
                      truth=batch["mask"].astype(np.uint8),
                      prediction=np.asarray(pred).argmax(-1).astype(np.uint8),
                      names=np.array([n.decode("utf-8") for n in batch["name"]]))

    def after_results(self, results: dict) -> str:
        """Writes the figures and the HParams runs; returns the markdown to append to
        results.md (links to the figures, or a one-line note)."""
        if not self.exp.chief:
            return ""
        from tsss_tf.evaluation import figures, hparams

        hparams.write_hparams(os.path.join(self.exp.model_dir, hparams.HPARAMS_DIR),
                              self.exp.cfg, results)
        return figures.write_figures(self.exp.model_dir, results)

