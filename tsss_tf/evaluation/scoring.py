"""Scores a segmentation model or a pseudo-label store on an experiment's data."""

from __future__ import annotations

import time

import numpy as np

from tsss_tf.data.pipeline import eval_dataset, weak_records
from tsss_tf.data.voc import IGNORE_LABEL, read_mask_file
from tsss_tf.evaluation.metrics import (StreamingConfusionMatrix, confusion_matrix,
                                        evaluate_dataset, miou_report)
from tsss_tf.transfer.stage import make_transfer_fn


def report_for(data, cm) -> dict:
    split = data.split
    return miou_report(cm, data.class_names, strong=[c for c in split.strong],
                       weak=[c for c in split.weak], background=split.background)


def evaluate_model(model, data, set_name: str, batch_size: int = 16, strategy=None,
                   progress: bool = False) -> dict:
    """mIoU report of a P-Net (logits at input size) on an image set (all masks, test time)."""
    ds = eval_dataset(data, set_name, batch_size)
    cm = evaluate_dataset(lambda x: model(x, training=False), ds, data.num_classes,
                          strategy=strategy, progress=progress)
    rep = report_for(data, cm)
    rep["set"] = set_name
    rep["num_images"] = len(data.records(set_name))
    return rep


def validation_fn(data, set_name: str, batch_size: int):
    """eval_fn(model) for a training loop: the model's mIoU (all, strong, weak) and per-class IoU
    (as "iou/<class>", for the classes that have one) on `set_name`."""

    def eval_fn(model):
        r = evaluate_model(model, data, set_name, batch_size)
        out = {k: r[k] for k in ("miou", "miou_strong", "miou_weak")}
        out.update({f"iou/{k}": v for k, v in r["per_class"].items() if v is not None})
        return out

    return eval_fn


def evaluate_pseudo_labels(data, store) -> dict:
    """mIoU of the transferred labels against the withheld masks of the weak images.

    This is the only place that opens a weak image's mask, and only to measure. Weak images
    without a mask (tags only) are not scored; with none that has one, every statistic is None
    and "not_scored" says why."""
    acc = StreamingConfusionMatrix(data.num_classes)
    labelled = ignored = 0
    weak = weak_records(data)
    scored = [r for r in weak if r.mask_path]
    luts = data.root_luts
    for r in scored:
        truth = luts[r.root][read_mask_file(r.mask_path, data.root_num_classes(r.root))]
        pred = store.read(r.name)
        labelled += int((pred != IGNORE_LABEL).sum())
        ignored += int((pred == IGNORE_LABEL).sum())
        keep = pred != IGNORE_LABEL
        t = np.where(keep, truth, IGNORE_LABEL)
        acc.update(confusion_matrix(t.astype(np.int32), pred.astype(np.int32),
                                    data.num_classes).numpy())
    rep = report_for(data, acc.matrix)
    rep["labelled_fraction"] = labelled / max(1, labelled + ignored) if scored else None
    rep["num_images"] = len(weak)
    rep["num_scored"] = len(scored)
    if not scored:
        rep["not_scored"] = "no weak training image has a mask to compare with"
    return rep


def evaluate_transfer(lnet, data, set_name: str, tcfg, size: int, batch_size: int = 16) -> dict:
    """Label transfer scored on a fully annotated image set (e.g. val), for choosing the
    transfer settings without opening a weak training image's mask.

    Every image is transferred with its image-level tags (from its mask, as for a weak image),
    at `size` (the eval resize and padding); the labels are compared with its mask where they
    are not IGNORE_LABEL. Returns the mIoU report plus "labelled_fraction", "num_images" and
    "ms_per_image" (L-Net forward + transfer)."""
    fn = make_transfer_fn(lnet, tcfg)
    acc = StreamingConfusionMatrix(data.num_classes)
    labelled = total = images = 0
    seconds = 0.0
    for batch in eval_dataset(data, set_name, batch_size, size=size):
        t = time.perf_counter()
        pred = fn(batch["image"], batch["labels"]).numpy()
        seconds += time.perf_counter() - t
        truth = batch["mask"].numpy()
        valid = truth != IGNORE_LABEL
        labelled += int((valid & (pred != IGNORE_LABEL)).sum())
        total += int(valid.sum())
        images += len(pred)
        kept = np.where(pred != IGNORE_LABEL, truth, IGNORE_LABEL)
        acc.update(confusion_matrix(kept.astype(np.int32), pred.astype(np.int32),
                                    data.num_classes).numpy())
    rep = report_for(data, acc.matrix)
    rep.update(labelled_fraction=labelled / max(1, total), num_images=images,
               ms_per_image=1e3 * seconds / max(1, images), set=set_name)
    return rep
