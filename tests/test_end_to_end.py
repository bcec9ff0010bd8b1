"""Every stage of an experiment on the tiny config, through the same code as the CLI."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tsss_tf.config import ConfigError, load_config
from tsss_tf.experiment import Experiment
from tests.conftest import one_cpu_strategy

VARIANTS = ("full", "strong_only", "lnet_only", "tsss")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TSSS_TF_CACHE", str(tmp_path_factory.mktemp("cache")))
        model_dir = str(tmp_path_factory.mktemp("run"))
        cfg = load_config("tiny", ["lnet.steps=10", "pnet.steps=10", "eval_every=10"])
        exp = Experiment(cfg, model_dir, strategy=one_cpu_strategy(), progress=False)
        results = exp.run("all")
        yield cfg, model_dir, results, exp


def test_results_hold_every_variant_and_the_ratios(run):
    cfg, model_dir, results, exp = run
    on_disk = json.load(open(os.path.join(model_dir, "results.json")))
    assert on_disk == json.loads(json.dumps(results))
    assert set(results["variants"]) == set(VARIANTS)
    for v in VARIANTS:
        r = results["variants"][v]
        assert 0.0 <= r["miou"] <= 1.0 and set(r["per_class"]) == set(exp.data.class_names)
        assert r["num_images"] == cfg.data.embedded_num_test
    full, tsss = results["variants"]["full"], results["variants"]["tsss"]
    assert results["ratio_to_full"] == pytest.approx(tsss["miou"] / full["miou"])
    assert results["split"]["hash"] == exp.data.split.content_hash()
    assert results["seed"] == cfg.seed and results["config"] == "tiny"
    assert set(results["stage_wall_time_s"]) == {"lnet", "transfer", *VARIANTS}
    pl = results["pseudo_labels"]
    assert pl["num_images"] == sum(r.kind == "weak" for r in exp.data.train_records())
    assert 0.0 <= pl["labelled_fraction"] <= 1.0
    md = open(os.path.join(model_dir, "results.md")).read()
    assert "| tsss |" in md and "Per-class IoU" in md


def test_artifacts_config_checkpoints_pseudo_labels_and_tensorboard(run):
    cfg, model_dir, _, exp = run
    assert json.load(open(os.path.join(model_dir, "config.json"))) == json.loads(cfg.to_json())
    for stage in ("lnet",) + VARIANTS:
        assert os.listdir(os.path.join(model_dir, stage, "ckpt"))
    store = exp.store()
    assert store.is_complete()
    weak = [r for r in exp.data.train_records() if r.kind == "weak"]
    assert sorted(store.names()) == sorted(r.name for r in weak)
    from PIL import Image
    lab = store.read(weak[0].name)
    with Image.open(weak[0].image_path) as im:
        assert lab.shape == (im.height, im.width)
    assert set(np.unique(lab)) <= set(range(exp.data.num_classes)) | {255}
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    ea = EventAccumulator(os.path.join(model_dir, "tensorboard"), size_guidance={"tensors": 0})
    ea.Reload()
    tags = set(ea.Tags()["tensors"])
    for tag in ("lnet/objectness_loss", "lnet/classification_loss", "lnet/learning_rate",
                "tsss/d_loss", "tsss/d_real", "tsss/d_fake", "tsss/adv_loss", "tsss/g_loss",
                "tsss/disc_learning_rate", "tsss/val/miou", "full/val/miou_weak",
                "transfer/pseudo_label/miou"):
        assert tag in tags, tag


def test_rerun_skips_finished_stages_and_another_config_is_refused(run):
    cfg, model_dir, results, _ = run
    exp = Experiment(cfg, model_dir, strategy=one_cpu_strategy(), progress=False)
    again = exp.run("all")  # every stage has its metrics.json: nothing is trained again
    assert again["variants"] == results["variants"]
    other = load_config("tiny", ["lnet.steps=11"])
    with pytest.raises(ConfigError, match="lnet.steps"):
        Experiment(other, model_dir, strategy=one_cpu_strategy(), progress=False)


def test_cli_reports_a_bad_field_without_a_traceback(tmp_path):
    out = subprocess.run([sys.executable, "-m", "tsss_tf.train", "--config=tiny",
                          f"--model_dir={tmp_path}", "--set=pnet.stepz=3"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "pnet.stepz" in out.stderr and "Traceback" not in out.stderr


def test_finished_lnet_without_checkpoint_is_an_error_not_random_weights(run, tmp_path):
    import shutil

    from tsss_tf.data.voc import DataError

    cfg, model_dir, _, _ = run
    copy = str(tmp_path / "run")
    shutil.copytree(model_dir, copy)
    shutil.rmtree(os.path.join(copy, "lnet", "ckpt"))
    exp = Experiment(cfg, copy, strategy=one_cpu_strategy(), progress=False)
    with pytest.raises(DataError, match="holds no checkpoint"):
        exp.lnet()


def test_transfer_sweep_tool_scores_settings_on_val(run, tmp_path):
    """tools/transfer_sweep.py loads the run's L-Net and scores each grid setting on val."""
    cfg, model_dir, _, exp = run
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    tool = os.path.join(root, "tools", "transfer_sweep.py")
    out_json = str(tmp_path / "sweep.json")
    proc = subprocess.run([sys.executable, tool, f"--model_dir={model_dir}",
                           "--grid=transfer.cam_objectness=0,0.8", f"--json={out_json}"],
                          capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.load(open(out_json))
    assert [r["setting"] for r in rows] == [["transfer.cam_objectness=0"],
                                             ["transfer.cam_objectness=0.8"]]
    for r in rows:
        assert r["eval_set"] == cfg.data.val_set
        assert 0.0 <= r["miou"] <= 1.0 and 0.0 <= r["labelled_fraction"] <= 1.0
    assert "transfer.cam_objectness=0.8" in proc.stdout
    bad = subprocess.run([sys.executable, tool, f"--model_dir={model_dir}", "--grid=lnet.steps=1"],
                         capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert bad.returncode == 2 and "expected transfer.FIELD" in bad.stderr


def test_pseudo_labels_of_another_lnet_training_are_not_reused(run, tmp_path):
    """The pseudo-label fingerprint holds the L-Net checkpoint's identity: after the L-Net is
    retrained (here: a new checkpoint with changed weights), the old labels are refused."""
    import shutil

    import tensorflow as tf

    from tsss_tf.data.voc import DataError

    cfg, model_dir, _, _ = run
    copy = str(tmp_path / "run")
    shutil.copytree(model_dir, copy)
    exp = Experiment(cfg, copy, strategy=one_cpu_strategy(), progress=False)
    assert exp.store().is_complete()  # same L-Net: the labels are reused
    lnet = exp.lnet()
    lnet.trainable_variables[0].assign_add(tf.ones_like(lnet.trainable_variables[0]))
    tf.train.CheckpointManager(tf.train.Checkpoint(model=lnet),
                               os.path.join(copy, "lnet", "ckpt"), max_to_keep=None).save()
    with pytest.raises(DataError, match="fingerprint.*transfer the labels again"):
        Experiment(cfg, copy, strategy=one_cpu_strategy(), progress=False).store()


def test_transfer_with_test_time_views_writes_labels_and_refuses_plain_ones(run, tmp_path):
    """transfer.scales / transfer.flip: the stage transfers every weak image (at its size on
    disk, tags only) from the run's L-Net; its labels have their own fingerprint, so labels
    transferred without the views are not reused; the plain run's fingerprint is unchanged."""
    import shutil

    from PIL import Image

    from tsss_tf.data.voc import DataError

    _, model_dir, _, base = run
    cfg = load_config("tiny", ["lnet.steps=10", "pnet.steps=10", "eval_every=10",
                               "transfer.scales=[0.75,1.0,1.25]", "transfer.flip=true"])
    stale = str(tmp_path / "stale")
    for stage in ("lnet", "transfer"):
        shutil.copytree(os.path.join(model_dir, stage), os.path.join(stale, stage))
    with pytest.raises(DataError, match="fingerprint.*transfer the labels again"):
        Experiment(cfg, stale, strategy=one_cpu_strategy(), progress=False).store()

    copy = str(tmp_path / "run")
    shutil.copytree(os.path.join(model_dir, "lnet"), os.path.join(copy, "lnet"))
    exp = Experiment(cfg, copy, strategy=one_cpu_strategy(), progress=False)
    exp.run("transfer")
    store = exp.store()
    weak = [r for r in exp.data.train_records() if r.kind == "weak"]
    assert store.is_complete() and store.names() == sorted(r.name for r in weak)
    assert store.fingerprint != base.store().fingerprint
    manifest = json.load(open(os.path.join(model_dir, "transfer", "pseudo_labels",
                                           "manifest.json")))
    assert base.store().fingerprint == manifest["fingerprint"]
    for r in weak[:5]:
        lab = store.read(r.name)
        with Image.open(r.image_path) as im:
            assert lab.shape == (im.height, im.width)
        assert set(np.unique(lab)) <= {0, 255} | set(r.present), r.name


def test_label_refinement_rounds_relabel_the_weak_images_and_resume(run, tmp_path):
    """pnet.refine_rounds=1: round 0 of the full model's P-Net is trained on L-Net's labels,
    relabels every weak image (at its size on disk, tags only) and the final tsss is trained on
    those labels; results report the round; a rerun trains nothing again; labels of another
    P-Net are refused."""
    import shutil

    import tensorflow as tf

    from tsss_tf.data.voc import DataError

    _, model_dir, _, base = run
    cfg = load_config("tiny", ["lnet.steps=10", "pnet.steps=10", "eval_every=10",
                               "pnet.refine_rounds=1"])
    copy = str(tmp_path / "run")
    os.makedirs(copy)
    for stage in ("lnet", "transfer", "full", "strong_only", "lnet_only"):
        shutil.copytree(os.path.join(model_dir, stage), os.path.join(copy, stage))
    exp = Experiment(cfg, copy, strategy=one_cpu_strategy(), progress=False)
    results = exp.run("all")
    for stage in ("tsss_round0", "tsss"):
        assert os.listdir(os.path.join(copy, stage, "ckpt"))
    weak = [r for r in exp.data.train_records() if r.kind == "weak"]
    folder = os.path.join(copy, "refine", "round1", "pseudo_labels")
    from tsss_tf.transfer.pseudo_labels import PseudoLabelStore
    manifest = json.load(open(os.path.join(folder, "manifest.json")))
    store = PseudoLabelStore(folder, manifest["fingerprint"])
    assert store.is_complete() and store.names() == sorted(r.name for r in weak)
    from PIL import Image
    for r in weak[:5]:
        lab = store.read(r.name)
        with Image.open(r.image_path) as im:
            assert lab.shape == (im.height, im.width)
        allowed = {0, 255} | set(r.present)
        assert set(np.unique(lab)) <= allowed, r.name
    (rd,) = results["refinement"]
    assert rd["round"] == 0 and 0.0 <= rd["test"]["miou"] <= 1.0
    assert rd["pseudo_labels"]["num_images"] == len(weak)
    assert "Refinement round 1" in open(os.path.join(copy, "results.md")).read()
    assert results["variants"]["full"] == base.results()["variants"]["full"]
    stamp = os.path.getmtime(os.path.join(copy, "tsss", "metrics.json"))
    again = Experiment(cfg, copy, strategy=one_cpu_strategy(), progress=False).run("all")
    assert again["refinement"] == results["refinement"]
    assert os.path.getmtime(os.path.join(copy, "tsss", "metrics.json")) == stamp
    # another round-0 P-Net (changed weights): its labels would differ, the folder is refused
    exp2 = Experiment(cfg, copy, strategy=one_cpu_strategy(), progress=False)
    from tsss_tf.training.restore import load_trained
    gen = load_trained("pnet", cfg.model, exp2.data.num_classes,
                       os.path.join(copy, "tsss_round0", "ckpt"), cfg.data.crop_size, "round 0")
    gen.trainable_variables[0].assign_add(tf.ones_like(gen.trainable_variables[0]))
    from tsss_tf.training.refine import refined_store
    with pytest.raises(DataError, match="relabel the weak images"):
        refined_store(copy, cfg, exp2.store().fingerprint, 1, gen)
