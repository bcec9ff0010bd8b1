"""`--strategy=multi_worker`: two worker processes on 127.0.0.1 train L-Net and the P-Net +
discriminator together (MultiWorkerMirroredStrategy from TF_CONFIG).

They must end with identical weights, equal to one process with the same global batch; only the
chief writes checkpoints (the other worker's temporary checkpoint folder is gone at the end);
evaluation runs on every worker.

This file is also the worker program:
    python test_multi_worker.py loops OUT.npz MODEL_DIR PSEUDO_DIR STRATEGY
runs the L-Net loop and the GAN loop ("tsss", on pseudo labels the test wrote) with periodic
evaluation; `python test_multi_worker.py cli OUT.npz [train flags]` runs `tsss_tf.train.main`
(every stage up to the P-Net, label transfer included; the slow test). Both write the final
L-Net, generator and discriminator weights to OUT.npz (the non-chief keeps no checkpoint).
"""

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

HERE = os.path.abspath(__file__)
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
# Per process. Three processes (two workers and the reference) on 2 cores: 63 s for the two
# workers alone, 130-300 s for all three while other jobs loaded the machine (load average
# up to 10): marked slow.
TIMEOUT_S = 480
STEPS = 4
OVERRIDES = [  # No dropout: its masks are drawn per replica, so 1 and 2 replicas legitimately differ.
    "model.head_dropout=0.0", f"lnet.steps={STEPS}", f"pnet.steps={STEPS}",
    f"eval_every={STEPS}", f"checkpoint_every={STEPS}"]


def _save(out, models):
    arrays = {}
    for name, model in models.items():
        for i, w in enumerate(model.weights):
            arrays[f"{name}/{i:03d}/{w.path}"] = np.asarray(w.numpy())
    np.savez(out, **arrays)


def _loops_main(out, model_dir, pseudo_dir, strategy_name):
    from tsss_tf.training.strategy import is_chief, make_strategy

    strategy = make_strategy(strategy_name)  # first in the program
    import keras

    from tsss_tf.config import load_config
    from tsss_tf.data.sources import ExperimentData
    from tsss_tf.data.splits import Split
    from tsss_tf.evaluation.scoring import evaluate_model
    from tsss_tf.training.gan_loop import train_pnet
    from tsss_tf.training.lnet_loop import train_lnet

    cfg = load_config("tiny", OVERRIDES)
    data = ExperimentData(cfg.data, Split.from_config(cfg.split))
    chief = is_chief(strategy)
    keras.utils.set_random_seed(cfg.seed)
    lnet, _ = train_lnet(cfg, data, strategy, model_dir, progress=False, is_chief=chief)
    keras.utils.set_random_seed(cfg.seed + 1)
    evals = []

    def eval_fn(model):
        evals.append(evaluate_model(model, data, "val", cfg.global_batch_size)["miou"])
        return {"miou": evals[-1]}

    gen, disc, _ = train_pnet(cfg, data, strategy, model_dir, "tsss", pseudo_dir=pseudo_dir,
                              progress=False, eval_fn=eval_fn, is_chief=chief)
    assert len(evals) == 1 and 0.0 <= evals[0] <= 1.0, evals
    _save(out, {"lnet": lnet, "generator": gen, "discriminator": disc})


def _cli_main(out, argv):
    from absl import flags

    import tsss_tf.experiment as experiment
    from tsss_tf import train

    models = {}

    def capture(fn, names):
        def wrapped(*a, **k):
            result = fn(*a, **k)
            models.update((n, v) for n, v in zip(names, result) if n)
            return result
        return wrapped

    experiment.train_lnet = capture(experiment.train_lnet, ["lnet"])
    experiment.train_pnet = capture(experiment.train_pnet, ["generator", "discriminator"])
    flags.FLAGS(["train"] + argv)
    train.main([])
    _save(out, models)


def _free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _start(args, env_extra, log):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO)
    env.pop("TF_CONFIG", None)
    env.update(env_extra)
    cmd = ["timeout", "-k", "5", str(TIMEOUT_S), sys.executable, HERE, *map(str, args)]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait(procs, logs):
    deadline = time.monotonic() + TIMEOUT_S + 15
    try:
        for p in procs:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for p in procs:  # never leave a worker behind (workers ignore SIGTERM)
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, log in zip(procs, logs):
        log.close()
        if p.returncode != 0:
            with open(log.name) as f:
                text = f.read()
            pytest.fail(f"{log.name}: exited with {p.returncode}:\n{text[-6000:]}")


def _materialise_tiny(cache):
    """The tiny embedded set, written once so that the processes do not race to write it."""
    from tsss_tf.config import load_config
    from tsss_tf.data.sources import ExperimentData
    from tsss_tf.data.splits import Split

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TSSS_TF_CACHE", str(cache))
        cfg = load_config("tiny", OVERRIDES)
        return ExperimentData(cfg.data, Split.from_config(cfg.split))


def _run_cluster(root, cache, make_args):
    """Two workers and one single-process run, all started together; returns their weights.
    make_args(name, model_dir, strategy) -> the worker program's arguments."""
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs, logs = [], []
    jobs = [("worker0", root / "run", "multi_worker", 0), ("worker1", root / "run", "multi_worker", 1),
            ("single", root / "single", "one_device", None)]
    for name, model_dir, strategy, index in jobs:
        env = {"TSSS_TF_CACHE": str(cache)}
        if index is not None:
            env["TF_CONFIG"] = json.dumps({"cluster": cluster,
                                           "task": {"type": "worker", "index": index}})
        log = open(root / f"{name}.log", "w")
        procs.append(_start(make_args(root / f"{name}.npz", model_dir, strategy), env, log))
        logs.append(log)
    _wait(procs, logs)
    return {name: dict(np.load(root / f"{name}.npz")) for name, *_ in jobs}


@pytest.fixture(scope="module")
def loops_run(tmp_path_factory):
    from tsss_tf.data.pipeline import weak_records
    from tsss_tf.data.voc import read_mask_file, write_palette_png

    cache = tmp_path_factory.mktemp("cache")
    data = _materialise_tiny(cache)
    root = tmp_path_factory.mktemp("mw")
    pseudo = root / "pseudo"
    pseudo.mkdir()
    for r in weak_records(data):  # stand-in transferred labels: the true masks
        mask = data.lut[read_mask_file(r.mask_path, data.layout.num_classes)]
        write_palette_png(str(pseudo / f"{r.name}.png"), mask)
    weights = _run_cluster(root, cache, lambda out, model_dir, strategy: [
        "loops", out, model_dir, pseudo, strategy])
    return weights, root / "run"


def _check_weights(weights):
    w0, w1, single = weights["worker0"], weights["worker1"], weights["single"]
    assert set(w0) == set(w1) == set(single)
    assert {k.split("/")[0] for k in w0} == {"lnet", "generator", "discriminator"}
    assert len(w0) > 30
    for k in w0:
        np.testing.assert_array_equal(w0[k], w1[k], err_msg=k)
    for k in w0:
        np.testing.assert_allclose(w0[k], single[k], rtol=1e-4, atol=1e-5, err_msg=k)


def _check_chief_files(weights, run_dir, stages, event_files):
    import tensorflow as tf

    for stage in stages:
        ckpt = run_dir / stage / "ckpt"
        latest = tf.train.latest_checkpoint(str(ckpt))
        assert latest is not None and latest.endswith(f"-{STEPS}"), latest
    assert not list(run_dir.parent.rglob("*workertemp*"))
    # The chief's checkpoint holds the weights both workers ended with.
    reader = tf.train.load_checkpoint(str(run_dir / "tsss" / "ckpt"))
    # A variable is saved once, under the first path to it in the object graph: the generator's
    # trainable variables may sit under the optimizer that tracks them.
    names = [k for k in reader.get_variable_to_shape_map()
             if (k.startswith("generator/") and "OPTIMIZER" not in k and "kernel" in k)
             or k.startswith("g_optimizer/_trainable_variables/")]
    assert len(names) > 5
    ours = {v.tobytes() for k, v in weights.items() if k.startswith("generator/")}
    assert {reader.get_tensor(k).tobytes() for k in names} <= ours
    tb = run_dir / "tensorboard"
    assert len(list(tb.iterdir()) if tb.exists() else []) == event_files


@pytest.mark.slow
def test_workers_end_identical_and_equal_to_one_process(loops_run):
    weights, _ = loops_run
    _check_weights(weights)


@pytest.mark.slow
def test_only_the_chief_keeps_checkpoints(loops_run):
    weights, run_dir = loops_run
    _check_chief_files(weights["worker0"], run_dir, ("lnet", "tsss"), event_files=0)


@pytest.mark.slow
def test_train_cli_multi_worker_through_label_transfer(tmp_path):
    cache = tmp_path / "cache"
    _materialise_tiny(cache)
    flags = ["--config=tiny", "--stage=pnet", "--progress=false",
             *(f"--set={o}" for o in OVERRIDES)]
    weights = _run_cluster(tmp_path, cache, lambda out, model_dir, strategy: [
        "cli", out, f"--model_dir={model_dir}", f"--strategy={strategy}", *flags])
    _check_weights(weights)
    run_dir = tmp_path / "run"
    _check_chief_files(weights["worker0"], run_dir, ("lnet", "tsss"), event_files=1)
    metrics = json.loads((run_dir / "tsss" / "metrics.json").read_text())
    assert 0.0 <= metrics["test"]["miou"] <= 1.0


if __name__ == "__main__":
    if sys.argv[1] == "loops":
        _loops_main(*sys.argv[2:])
    else:
        _cli_main(sys.argv[2], sys.argv[3:])
