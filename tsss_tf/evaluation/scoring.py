"""Scores a segmentation model or a pseudo-label store on an experiment's data."""

from __future__ import annotations

import time

import numpy as np

from tsss_tf.data.pipeline import eval_dataset, weak_records
from tsss_tf.data.voc import read_mask_file
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


def evaluate_pseudo_labels(data, store) -> dict:
    """mIoU of the transferred labels against the withheld masks of the weak images.

    This is the only place that opens a weak image's mask, and only to measure."""
    acc = StreamingConfusionMatrix(data.num_classes)
    labelled = ignored = 0
    for r in weak_records(data):
        truth = data.lut[read_mask_file(r.mask_path, data.layout.num_classes)]
        pred = store.read(r.name)
        labelled += int((pred != 255).sum())
        ignored += int((pred == 255).sum())
        keep = pred != 255
        t = np.where(keep, truth, 255)
        acc.update(confusion_matrix(t.astype(np.int32), pred.astype(np.int32),
                                    data.num_classes).numpy())
    rep = report_for(data, acc.matrix)
    rep["labelled_fraction"] = labelled / max(1, labelled + ignored)
    rep["num_images"] = len(weak_records(data))
    return rep


def evaluate_transfer(lnet, data, set_name: str, tcfg, size: int, batch_size: int = 16) -> dict:
    """Label transfer scored on a fully annotated image set (e.g. val), for choosing the
    transfer settings without opening a weak training image's mask.

    Every image is transferred with its image-level tags (from its mask, as for a weak image),
    at `size` (the eval resize and padding); the labels are compared with its mask where they
    are not 255. Returns the mIoU report plus "labelled_fraction", "num_images" and
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
        valid = truth != 255
        labelled += int((valid & (pred != 255)).sum())
        total += int(valid.sum())
        images += len(pred)
        acc.update(confusion_matrix(np.where(pred != 255, truth, 255).astype(np.int32),
                                    pred.astype(np.int32), data.num_classes).numpy())
    rep = report_for(data, acc.matrix)
    rep.update(labelled_fraction=labelled / max(1, total), num_images=images,
               ms_per_image=1e3 * seconds / max(1, images), set=set_name)
    return rep
