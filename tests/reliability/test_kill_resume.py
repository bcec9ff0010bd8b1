"""`kill -9` at any point, then the same command: training resumes from the last checkpoint.

The fast test kills the L-Net stage right after its first checkpoint (with every network
connection refused, which also makes it the "nothing reaches the network" test); the slow one
kills a whole run at several points (L-Net, label transfer, a P-Net baseline, the GAN) and, with
`--deterministic`, checks that the final weights, pseudo labels and results are bit-identical
to those of an uninterrupted run.
"""

import glob
import json
import os

import pytest

from tests.reliability import cli
from tests.reliability.conftest import temporaries, write_voc

STEPS = ["lnet.steps=20", "pnet.steps=20", "checkpoint_every=10", "log_every=2"]


def _event_steps(model_dir, pid, tag="lnet/loss"):
    """Steps at which process `pid` logged `tag`."""
    import tensorflow as tf

    steps = []
    for path in glob.glob(os.path.join(model_dir, "tensorboard", f"events.*.{pid}.*")):
        for raw in tf.data.TFRecordDataset(path):
            event = tf.compat.v1.Event.FromString(raw.numpy())
            steps += [event.step for v in event.summary.value if v.tag == tag]
    return sorted(steps)


def test_kill_after_the_first_checkpoint_resumes_from_it_offline(tmp_path):
    root = write_voc(tmp_path / "voc")
    model_dir = str(tmp_path / "run")
    ckpt = os.path.join(model_dir, "lnet", "ckpt")
    net_log = str(tmp_path / "network.txt")
    argv = cli.train_argv(model_dir, root, stage="lnet", extra=STEPS)
    env = cli.environment(TSSS_TEST_NO_NETWORK=net_log)

    first = cli.start(argv, env, log=str(tmp_path / "first.log"))
    assert cli.kill_when(first, lambda: os.path.exists(os.path.join(ckpt, "checkpoint"))), \
        open(tmp_path / "first.log").read()[-3000:]
    assert cli.latest_step(ckpt) == 10
    assert not os.path.exists(os.path.join(model_dir, "lnet", "metrics.json"))

    second = cli.run(argv, env)
    assert second.returncode == 0, second.stderr[-3000:]
    assert cli.latest_step(ckpt) == 20
    assert json.load(open(os.path.join(model_dir, "lnet", "metrics.json")))["last"]
    assert os.path.exists(os.path.join(model_dir, "results.json"))
    values = cli.checkpoint_values(os.path.join(ckpt, "ckpt-20"))
    assert int(values["step/.ATTRIBUTES/VARIABLE_VALUE"]) == 20
    # The loop logs at the end of each 10-step chunk: the killed process logged step 10, the
    # second one only step 20 (it did not train steps 1..10 again).
    assert _event_steps(model_dir, first.pid) == [10]
    assert _event_steps(model_dir, "*") == [10, 20]
    assert temporaries(model_dir) == []
    # nothing tried to reach the network, and tfds was not even imported
    assert open(net_log).read().splitlines() == ["tfds imported: False"]


@pytest.mark.slow
@pytest.mark.skipif(not cli.HAVE_DETERMINISTIC, reason="needs --deterministic")
def test_kills_at_several_points_resume_to_bit_identical_results(tmp_path):
    root = write_voc(tmp_path / "voc")
    extra = STEPS + ["transfer.batch_size=1"]
    ref_dir, run_dir = str(tmp_path / "reference"), str(tmp_path / "killed")
    ref = cli.run(cli.train_argv(ref_dir, root, extra=extra, deterministic=True))
    assert ref.returncode == 0, ref.stderr[-3000:]

    argv = cli.train_argv(run_dir, root, extra=extra, deterministic=True)
    pseudo = os.path.join(run_dir, "transfer", "pseudo_labels")

    def has_ckpt(stage):
        return lambda: os.path.exists(os.path.join(run_dir, stage, "ckpt", "checkpoint"))

    def transfer_half_done():
        return len(glob.glob(os.path.join(pseudo, "*.png"))) >= 1

    kill_points = [("lnet checkpoint 10", has_ckpt("lnet")),
                   ("during label transfer", transfer_half_done),
                   ("full checkpoint 10", has_ckpt("full")),
                   ("tsss checkpoint 10", has_ckpt("tsss"))]
    killed = []
    for i, (what, condition) in enumerate(kill_points):
        proc = cli.start(argv, log=str(tmp_path / f"run{i}.log"))
        if cli.kill_when(proc, condition):
            killed.append(what)
        assert proc.returncode in (-9, 0), open(tmp_path / f"run{i}.log").read()[-3000:]
    assert len(killed) >= 3, killed  # a fast stage may finish between two polls
    last = cli.run(argv)
    assert last.returncode == 0, last.stderr[-3000:]

    for stage in ("lnet", "full", "strong_only", "lnet_only", "tsss"):
        a = os.path.join(ref_dir, stage, "ckpt", "ckpt-20")
        b = os.path.join(run_dir, stage, "ckpt", "ckpt-20")
        cli.assert_same_values(cli.checkpoint_values(a), cli.checkpoint_values(b), stage)
    ref_labels = sorted(os.listdir(os.path.join(ref_dir, "transfer", "pseudo_labels")))
    assert sorted(os.listdir(pseudo)) == ref_labels
    for fn in ref_labels:
        if fn.endswith(".png"):
            assert open(os.path.join(pseudo, fn), "rb").read() == open(
                os.path.join(ref_dir, "transfer", "pseudo_labels", fn), "rb").read(), fn
    a = json.load(open(os.path.join(ref_dir, "results.json")))
    b = json.load(open(os.path.join(run_dir, "results.json")))
    assert a["variants"] == b["variants"] and a["pseudo_labels"] == b["pseudo_labels"]
    # A kill may leave a temporary (a hidden `*.tmp*` file or folder) but never a file
    # under a final name that is not complete: every label, JSON file and checkpoint above
    # matched the reference byte for byte or value for value.
    for rel in temporaries(run_dir):
        assert ".tmp" in os.path.basename(rel) or "_temp" in rel, rel


def _dropout_run(directory, stop_at, total=20):
    """A Dense + Dropout model trained by run_loop up to `stop_at` (a killed run that saved at
    that step) and then, in fresh objects, resumed to `total`."""
    import keras
    import numpy as np
    import tensorflow as tf

    from tests.conftest import one_cpu_strategy
    from tsss_tf.training.loop import LoopSettings, run_loop

    strategy = one_cpu_strategy()
    for steps in ((stop_at, total) if stop_at else (total,)):
        keras.utils.set_random_seed(0)
        with strategy.scope():
            model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8),
                                      keras.layers.Dropout(0.5), keras.layers.Dense(1)])
            opt = keras.optimizers.SGD(0.05)
            opt.build(model.trainable_variables)
            step = tf.Variable(0, dtype=tf.int64)
        x = np.random.default_rng(1).normal(size=(total, 4)).astype(np.float32)

        def replica_step(batch):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(model(batch, training=True) - 1.0))
            grads = tape.gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables))
            return {"loss": loss}

        run_loop(name="drop", strategy=strategy,
                 make_dataset=lambda start: tf.data.Dataset.from_tensor_slices(x).batch(
                     1).skip(start),
                 replica_step=replica_step,
                 checkpoint=tf.train.Checkpoint(model=model, optimizer=opt, step=step),
                 step=step, directory=str(directory),
                 settings=LoopSettings(total_steps=steps, checkpoint_every=5, log_every=5,
                                       steps_per_call=5, progress=False))
    return [w.numpy() for w in model.weights]


def test_resume_continues_the_dropout_masks(tmp_path):
    """The seed generator of a Dropout layer is a model variable that tf.train.Checkpoint does
    not reach: the loop saves it, so a resumed run equals an uninterrupted one exactly."""
    import numpy as np

    straight = _dropout_run(tmp_path / "a", None)
    resumed = _dropout_run(tmp_path / "b", 10)
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a, b)
