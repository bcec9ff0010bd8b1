"""Segmentation metrics: confusion matrix, IoU, mIoU over all / strong / weak categories.

    cm = evaluate_dataset(lambda x: model(x, training=False), ds, num_classes=21,
                          strategy=strategy)
    report = miou_report(cm, VOC_CLASSES, strong=split.strong, weak=split.weak)

Conventions: confusion matrix rows are the truth, columns the prediction. Pixels whose truth is the
ignore label (255), negative, or >= num_classes are dropped. `miou` is the mean IoU over every
class whose IoU is defined, background included (the VOC convention). A class with no pixel in the
truth cannot be measured (its IoU would be 0 for any false positive, or undefined): its IoU is
None, it is listed in `not_measurable` and left out of every mean.
"""

from __future__ import annotations

import math
from typing import Callable, Dict, Optional, Sequence

import numpy as np
import tensorflow as tf

from tsss_tf.data.voc import IGNORE_LABEL


def confusion_matrix(y_true, y_pred, num_classes: int, ignore_label: int = IGNORE_LABEL):
    """int64 [C, C] confusion matrix (rows: truth, columns: prediction) with TF ops.

    Usable eagerly and inside a `tf.function` / `strategy.run` replica step. `y_true` and `y_pred`
    are integer label maps of the same number of elements (any shape; an empty batch gives zeros).
    Predictions must lie in [0, num_classes): a prediction out of range fails an assertion rather
    than being silently dropped.
    """
    c = int(num_classes)
    y_true = tf.reshape(tf.cast(y_true, tf.int32), [-1])
    y_pred = tf.reshape(tf.cast(y_pred, tf.int32), [-1])
    keep = (y_true != ignore_label) & (y_true >= 0) & (y_true < c)
    y_true = tf.boolean_mask(y_true, keep)
    y_pred = tf.boolean_mask(y_pred, keep)
    with tf.control_dependencies([
            tf.debugging.assert_non_negative(y_pred, message="prediction < 0"),
            tf.debugging.assert_less(y_pred, c, message="prediction >= num_classes")]):
        index = y_true * c + y_pred
    counts = tf.math.bincount(index, minlength=c * c, maxlength=c * c, dtype=tf.int64)
    return tf.reshape(counts, [c, c])


class StreamingConfusionMatrix:
    """Accumulates [C, C] confusion matrices in numpy (int64)."""

    def __init__(self, num_classes: int):
        self.num_classes = int(num_classes)
        self.matrix = np.zeros((self.num_classes, self.num_classes), np.int64)

    def update(self, cm) -> np.ndarray:
        cm = np.asarray(cm.numpy() if hasattr(cm, "numpy") else cm)
        if cm.shape != self.matrix.shape:
            raise ValueError(f"confusion matrix of shape {cm.shape}, expected {self.matrix.shape}")
        self.matrix += cm.astype(np.int64)
        return self.matrix

    def reset(self):
        self.matrix = np.zeros_like(self.matrix)


def iou_per_class(cm) -> np.ndarray:
    """IoU of each class = TP / (TP + FP + FN); NaN where the union is 0."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    union = cm.sum(axis=0) + cm.sum(axis=1) - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, tp / np.where(union > 0, union, 1.0), np.nan)


def _mean(values) -> Optional[float]:
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else None


def _indices(names, class_names, what) -> list:
    out = []
    for n in names:
        if isinstance(n, (int, np.integer)) and not isinstance(n, bool):
            if not 0 <= n < len(class_names):
                raise ValueError(f"{what} class index {n} out of range 0..{len(class_names) - 1}")
            out.append(int(n))
        elif n in class_names:
            out.append(class_names.index(n))
        else:
            raise ValueError(f"{what} class '{n}' is not one of the class names {class_names}")
    return out


def miou_report(cm, class_names: Sequence[str], strong: Sequence = (), weak: Sequence = (),
                background: Optional[str] = "background") -> Dict:
    """A JSON-serialisable dict of the IoU statistics of a confusion matrix.

    Keys: `miou` (all classes, background included), `miou_strong`, `miou_weak` (the given
    categories, by name or index), `miou_fg` (all classes but `background`), `per_class`
    {name: IoU or None}, `not_measurable` (names of the classes with no pixel in the truth,
    whose IoU is None), `pixel_accuracy` (None with no pixel), `num_pixels`. Means skip the
    None IoUs; a mean over nothing is None.
    """
    cm = np.asarray(cm, dtype=np.int64)
    class_names = list(class_names)
    if cm.shape != (len(class_names), len(class_names)):
        raise ValueError(f"confusion matrix {cm.shape} does not match {len(class_names)} classes")
    iou = iou_per_class(cm)
    absent = cm.sum(axis=1) == 0
    iou[absent] = np.nan
    strong_i = _indices(strong, class_names, "strong")
    weak_i = _indices(weak, class_names, "weak")
    bg = class_names.index(background) if background in class_names else None
    total = int(cm.sum())
    return {
        "miou": _mean(iou),
        "miou_strong": _mean(iou[strong_i]),
        "miou_weak": _mean(iou[weak_i]),
        "miou_fg": _mean([v for i, v in enumerate(iou) if i != bg]),
        "per_class": {n: (None if math.isnan(v) else float(v)) for n, v in zip(class_names, iou)},
        "not_measurable": [n for n, a in zip(class_names, absent) if a],
        "pixel_accuracy": float(np.trace(cm)) / total if total else None,
        "num_pixels": total,
    }


def _as_pair(*batch):
    # Dataset.map unpacks a tuple element into positional arguments.
    if len(batch) == 1 and isinstance(batch[0], dict):
        return batch[0]["image"], batch[0]["mask"]
    return batch[0], batch[1]


def evaluate_dataset(predict_fn: Callable, dataset: tf.data.Dataset, num_classes: int,
                     strategy: Optional[tf.distribute.Strategy] = None,
                     ignore_label: int = IGNORE_LABEL, progress: bool = False) -> np.ndarray:
    """Confusion matrix (int64 numpy [C, C]) of `predict_fn` over a batched dataset.

    `dataset` yields `(images, masks)` batches or dicts with "image" and "mask" (other keys are
    dropped). `predict_fn(images)` returns logits [B, H, W, C] at the mask's resolution; masks are
    [B, H, W] (or [B, H, W, 1]). With a `strategy`, the dataset is distributed with
    `strategy.experimental_distribute_dataset`, each replica computes the confusion matrix of its
    share and the matrices are summed with `strategy.reduce(SUM)`. A partial last batch needs no
    `drop_remainder`: tf.distribute splits it unevenly (possibly giving a replica an empty batch,
    whose matrix is zero), so every example is counted exactly once.
    """
    ds = dataset.map(_as_pair)
    c = int(num_classes)

    def replica_step(images, masks):
        logits = predict_fn(images)
        if masks.shape.rank == 4:
            masks = tf.squeeze(masks, axis=-1)
        pred = tf.argmax(logits, axis=-1, output_type=tf.int32)
        return confusion_matrix(masks, pred, c, ignore_label)

    if strategy is None:
        step = tf.function(replica_step, input_signature=list(ds.element_spec))
        iterator = iter(ds)
    else:
        dist = strategy.experimental_distribute_dataset(ds)

        @tf.function(input_signature=[dist.element_spec])
        def step(batch):
            per_replica = strategy.run(replica_step, args=batch)
            return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

        iterator = iter(dist)

    acc = StreamingConfusionMatrix(c)
    total = int(dataset.cardinality())
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=total if total >= 0 else None, desc="evaluate", unit="batch")
    for batch in iterator:
        acc.update(step(*batch) if strategy is None else step(batch))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return acc.matrix
