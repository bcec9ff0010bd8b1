"""One run per folder: a second run on a model_dir that a live run holds is refused with one line
naming the holder's pid and command, the first run's outputs are left intact, and the lock of a
run that was killed is taken over (and said so)."""

import json
import logging
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.reliability import cli
from tsss_tf.run_lock import LOCK_FILE, RunLockError, acquire_run_lock, holder

HOLD = ("import sys, time; from tsss_tf.run_lock import acquire_run_lock; "
        "acquire_run_lock(sys.argv[1]); print('locked', flush=True); time.sleep(120)")


def _hold(model_dir):
    """A process that takes the lock of model_dir and keeps it; returns it once it holds it."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(model_dir), "--marker=holder"],
                            cwd=cli.REPO, env=cli.environment(), stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_lock_is_refused_naming_the_holder(tmp_path):
    model_dir = tmp_path / "run"
    proc = _hold(model_dir)
    try:
        with pytest.raises(RunLockError) as info:
            acquire_run_lock(str(model_dir))
        msg = str(info.value)
        assert msg.startswith(f"model_dir '{model_dir}' is in use by another run: "
                              f"pid {proc.pid} on ")
        assert "--marker=holder)" in msg and msg.endswith("or use another --model_dir")
        assert "\n" not in msg
        assert holder(str(model_dir))["pid"] == proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_the_lock_of_a_killed_run_is_taken_over_and_released_at_the_end(tmp_path, caplog):
    model_dir = tmp_path / "run"
    proc = _hold(model_dir)
    os.kill(proc.pid, signal.SIGKILL)  # the kernel drops its flock; its record stays
    proc.wait()
    assert os.path.exists(model_dir / LOCK_FILE) and holder(str(model_dir)) is None
    with caplog.at_level(logging.WARNING):
        lock = acquire_run_lock(str(model_dir))
    assert f"the previous run, pid {proc.pid}" in caplog.text
    assert "ended without releasing its lock (it crashed or was killed)" in caplog.text
    assert json.loads((model_dir / LOCK_FILE).read_text())["pid"] == os.getpid()
    lock.release()
    assert not os.path.exists(model_dir / LOCK_FILE)
    assert os.path.isdir(model_dir)  # it existed before this lock: kept


def test_a_lock_on_a_new_folder_leaves_nothing_behind(tmp_path):
    model_dir = tmp_path / "new"
    lock = acquire_run_lock(str(model_dir))
    assert os.listdir(model_dir) == [LOCK_FILE]
    lock.release()
    lock.release()  # idempotent
    assert not os.path.exists(model_dir)


def test_workers_of_one_multi_worker_run_take_their_own_locks(tmp_path):
    chief = acquire_run_lock(str(tmp_path / "run"))
    worker = acquire_run_lock(str(tmp_path / "run"), task="worker_1")
    with pytest.raises(RunLockError):
        acquire_run_lock(str(tmp_path / "run"), task="worker_1")
    worker.release()
    chief.release()


def test_train_cli_refuses_a_folder_held_by_another_run(voc, tmp_path):
    model_dir = tmp_path / "run"
    proc = _hold(model_dir)
    try:
        out = cli.run(cli.train_argv(str(model_dir), voc, stage="lnet"))
    finally:
        proc.kill()
        proc.wait()
    assert out.returncode == 2, out.stderr[-3000:]
    assert "Traceback" not in out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: model_dir '{model_dir}' is in use by another run: "
                           f"pid {proc.pid} on "), last
    assert "--marker=holder)" in last
    assert sorted(os.listdir(model_dir)) == [LOCK_FILE]  # the refused run wrote nothing


@pytest.mark.slow
def test_two_concurrent_trainings_on_one_folder_the_second_is_refused(voc, tmp_path):
    """Two real `train` runs: the second is refused while the first trains, and the first
    finishes with all its outputs, as alone."""
    model_dir = str(tmp_path / "run")
    extra = ["lnet.steps=40", "checkpoint_every=10"]
    first = cli.start(cli.train_argv(model_dir, voc, stage="lnet", extra=extra),
                      log=str(tmp_path / "first.log"))
    try:
        deadline = time.monotonic() + 300
        while holder(model_dir) is None or not holder(model_dir).get("pid"):
            assert first.poll() is None, open(tmp_path / "first.log").read()[-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.1)
        second = cli.run(cli.train_argv(model_dir, voc, stage="lnet", extra=extra))
        assert first.poll() is None  # the refusal came while the first run held the folder
        assert first.wait(timeout=600) == 0, open(tmp_path / "first.log").read()[-3000:]
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert second.returncode == 2, second.stderr[-3000:]
    last = second.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: model_dir '{model_dir}' is in use by another run: "
                           f"pid {first.pid} on "), last
    assert "tests.reliability.driver" in last
    ckpt = os.path.join(model_dir, "lnet", "ckpt")
    assert cli.latest_step(ckpt) == 40
    values = cli.checkpoint_values(os.path.join(ckpt, "ckpt-40"))  # reads back whole
    assert values
    assert os.path.exists(os.path.join(model_dir, "lnet", "metrics.json"))
    assert not os.path.exists(os.path.join(model_dir, LOCK_FILE))  # released at its exit
