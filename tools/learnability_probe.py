"""How fast can a plain model learn a data set? The control used to tune the embedded set.

Trains a small functional Keras encoder-decoder (skip connections, BatchNorm) with `fit` on the
fully supervised stream of a config for N steps and prints the val mIoU per class. Not the
method: a yardstick for the data and for tsss_tf's own P-Net.

    python tools/learnability_probe.py --config=embedded_50 --steps=600
    (embedded v6, batch 16: 63.7% val mIoU in 159 s on the 2-core CPU)
"""

import time

import keras
import tensorflow as tf
from absl import app, flags

from tsss_tf.config import load_config
from tsss_tf.data import pipeline
from tsss_tf.data.experiment_data import open_experiment_data
from tsss_tf.data.voc import IGNORE_LABEL
from tsss_tf.data.splits import Split
from tsss_tf.evaluation.scoring import evaluate_model

flags.DEFINE_string("config", "embedded_50", "Named config.")
flags.DEFINE_integer("steps", 600, "Training steps.")
flags.DEFINE_multi_string("set", [], "Config overrides.")
FLAGS = flags.FLAGS


def _conv(x, filters, strides=1, dilation=1):
    x = keras.layers.Conv2D(filters, 3, strides=strides, dilation_rate=dilation, padding="same",
                            use_bias=False)(x)
    return keras.layers.ReLU()(keras.layers.BatchNormalization()(x))


def control_model(num_classes: int) -> keras.Model:
    inp = keras.Input((None, None, 3))
    x = keras.layers.Rescaling(1 / 127.5, -1)(inp)
    x1 = _conv(_conv(x, 16, 2), 16)
    x2 = _conv(_conv(x1, 32, 2), 32)
    x3 = _conv(_conv(x2, 64, 2), 64)
    x3 = _conv(_conv(x3, 64, 1, 2), 64, 1, 4)
    u = keras.layers.UpSampling2D(2, interpolation="bilinear")(x3)
    u = _conv(keras.layers.Concatenate()([u, x2]), 32)
    u = keras.layers.UpSampling2D(2, interpolation="bilinear")(u)
    u = _conv(keras.layers.Concatenate()([u, x1]), 32)
    u = keras.layers.UpSampling2D(2, interpolation="bilinear")(u)
    return keras.Model(inp, keras.layers.Conv2D(num_classes, 1)(u))


def _loss(y, logits):
    y = tf.cast(y, tf.int32)
    valid = y != IGNORE_LABEL
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(tf.where(valid, y, 0), logits)
    return tf.reduce_mean(tf.boolean_mask(ce, valid))


def main(argv):
    del argv
    cfg = load_config(FLAGS.config, FLAGS.set)
    data = open_experiment_data(cfg.data, Split.from_config(cfg.split))
    model = control_model(data.num_classes)
    model.compile(keras.optimizers.Adam(1e-3), _loss)
    ds = pipeline.train_dataset(data, "full", cfg.global_batch_size, seed=cfg.seed)
    t = time.perf_counter()
    model.fit(ds.map(lambda b: (b["image"], b["mask"])), steps_per_epoch=FLAGS.steps, epochs=1,
              verbose=0)
    seconds = time.perf_counter() - t
    r = evaluate_model(model, data, cfg.data.val_set, cfg.global_batch_size)
    print(f"{FLAGS.config}: {FLAGS.steps} steps in {seconds:.0f} s, val mIoU {r['miou']:.3f}")
    for name, iou in r["per_class"].items():
        print(f"  {name:12s} {'-' if iou is None else f'{iou:.2f}'}")


if __name__ == "__main__":
    app.run(main)
