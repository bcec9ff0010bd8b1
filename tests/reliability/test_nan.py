"""A NaN or Inf loss stops training with the step and the loss named, and the last good
checkpoint is neither overwritten nor followed by a newer one."""

import os

import numpy as np
import pytest

from tests.reliability import cli
from tests.reliability.conftest import write_voc
from tests.reliability.toy_loop import train_one_weight
from tsss_tf.training.loop import NonFiniteLossError


def _snapshot(folder):
    return {fn: open(os.path.join(folder, fn), "rb").read() for fn in sorted(os.listdir(folder))}


def _train(directory, total, bad_value=None, bad_from=13):
    """The one-weight toy fitted to a stream of ones; batch `bad_from` on holds bad_value."""
    x = np.ones(40, np.float32)
    if bad_value is not None:
        x[bad_from:] = bad_value
    result, w, _ = train_one_weight(directory, total, x)
    return result, w


@pytest.mark.parametrize("bad", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_non_finite_loss_stops_at_the_step_and_keeps_the_last_good_checkpoint(bad, tmp_path):
    _train(tmp_path, 10)  # steps 1..10 and ckpt-10: the last good checkpoint
    ckpt = os.path.join(tmp_path, "ckpt")
    before = _snapshot(ckpt)
    with pytest.raises(NonFiniteLossError) as info:
        _train(tmp_path, 30, bad_value=bad)  # resumes at 10; batch 13 is step 14
    msg = str(info.value)
    assert msg.startswith("toy: non-finite loss at step 14: 'loss' (")
    assert f"last good checkpoint: {ckpt}/ckpt-10" in msg and "without saving" in msg
    assert _snapshot(ckpt) == before  # not overwritten, nothing newer
    assert cli.latest_step(ckpt) == 10


def test_a_finite_run_of_the_same_loop_saves_every_checkpoint(tmp_path):
    last, w = _train(tmp_path, 30)
    assert cli.latest_step(os.path.join(tmp_path, "ckpt")) == 30
    # gradient steps of 0.1 on (w - 1)^2 from 0: w_n = 1 - 0.8^n
    assert float(w.numpy()) == pytest.approx(1 - 0.8 ** 30, rel=1e-5)
    # the metrics are the mean over the last chunk (steps 21..30) of (w_{k-1} - 1)^2
    assert last["loss"] == pytest.approx(np.mean([0.64 ** j for j in range(20, 30)]), rel=1e-4)


@pytest.mark.slow
def test_train_cli_stops_on_a_nan_loss_with_exit_status_3(tmp_path):
    root = write_voc(tmp_path / "voc")
    model_dir = str(tmp_path / "run")
    argv = cli.train_argv(model_dir, root, stage="lnet",
                          extra=["lnet.steps=30", "checkpoint_every=10"])
    out = cli.run(argv, cli.environment(TSSS_TEST_POISON="lnet:13"))
    assert out.returncode == 3, out.stderr[-3000:]
    assert "Traceback" not in out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("error: lnet: non-finite loss at step 14: 'loss' (nan)"), last
    ckpt = os.path.join(model_dir, "lnet", "ckpt")
    assert last.endswith(f"last good checkpoint: {os.path.abspath(ckpt)}/ckpt-10") or \
        last.endswith(f"last good checkpoint: {ckpt}/ckpt-10"), last
    assert cli.latest_step(ckpt) == 10
    assert sorted(os.listdir(ckpt)) == ["checkpoint", "ckpt-10.data-00000-of-00001",
                                        "ckpt-10.index"]
    assert not os.path.exists(os.path.join(model_dir, "lnet", "metrics.json"))
    assert not os.path.exists(os.path.join(model_dir, "results.json"))
