"""One tiny run (L-Net, transfer, tsss and the full baseline) read back from its event files,
its HParams sessions and its results figures."""

import io
import json
import os
import struct

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import one_cpu_strategy
from tsss_tf.config import load_config
from tsss_tf.evaluation import figures, hparams
from tsss_tf.evaluation.panels import panel_shape
from tsss_tf.experiment import Experiment

STEPS = 20          # two chunks of 10 steps (LoopSettings.steps_per_call)
PANEL_STEPS = [10, 20]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TSSS_TF_CACHE", str(tmp_path_factory.mktemp("cache")))
        model_dir = str(tmp_path_factory.mktemp("run"))
        cfg = load_config("tiny", [f"lnet.steps={STEPS}", f"pnet.steps={STEPS}",
                                   "eval_every=10", "image_every=10", "log_every=10"])
        exp = Experiment(cfg, model_dir, strategy=one_cpu_strategy(), progress=False)
        exp.run_stage("pnet")          # lnet, transfer, tsss
        exp.run_stage("full")
        results = exp.results()
        ea = EventAccumulator(os.path.join(model_dir, "tensorboard"),
                              size_guidance={"tensors": 0})
        ea.Reload()
        yield cfg, model_dir, results, exp, ea


def _scalars(ea, tag):
    return {e.step: float(tf.make_ndarray(e.tensor_proto)) for e in ea.Tensors(tag)}


def test_scalars_of_every_stage_at_the_log_steps(run):
    cfg, _, _, exp, ea = run
    tags = set(ea.Tags()["tensors"])
    expected = {
        "lnet": ["loss", "objectness_loss", "classification_loss", "cam_dense_loss",
                 "grad_norm", "learning_rate", "steps_per_second"],
        "tsss": ["g_loss", "seg_loss_strong", "seg_loss_weak", "adv_loss", "d_loss",
                 "d_loss_real", "d_loss_fake", "d_real", "d_fake", "grad_norm",
                 "disc_grad_norm", "adv_seg_ratio", "gan_health/unhealthy", "learning_rate",
                 "disc_learning_rate", "val/miou", "val/miou_strong", "val/miou_weak",
                 "val/iou/background"],
        "full": ["g_loss", "grad_norm", "learning_rate", "val/miou", "val/miou_strong",
                 "val/miou_weak", "val/iou/background"],
    }
    for stage, names in expected.items():
        for n in names:
            tag = f"{stage}/{n}"
            assert tag in tags, tag
            assert sorted(_scalars(ea, tag)) == [10, 20], tag
    assert "full/disc_grad_norm" not in tags and "full/adv_seg_ratio" not in tags
    for tag in ("lnet/grad_norm", "tsss/grad_norm", "tsss/disc_grad_norm", "full/grad_norm"):
        assert all(np.isfinite(v) and v > 0 for v in _scalars(ea, tag).values()), tag
    # the ratio is lambda_adv * adversarial loss / segmentation loss of the same steps
    adv, s, w = (_scalars(ea, f"tsss/{k}") for k in ("adv_loss", "seg_loss_strong",
                                                     "seg_loss_weak"))
    for step, ratio in _scalars(ea, "tsss/adv_seg_ratio").items():
        want = cfg.pnet.lambda_adv * adv[step] / (s[step] + cfg.pnet.lambda_weak * w[step])
        assert ratio == pytest.approx(want, rel=1e-5)
    assert set(_scalars(ea, "tsss/gan_health/unhealthy").values()) <= {0.0, 1.0}
    # per-class pseudo-label IoU of the transfer stage, at step 0
    for name, v in _transfer_per_class(run).items():
        assert _scalars(ea, f"transfer/pseudo_label/iou/{name}") == {0: pytest.approx(v)}


def _transfer_per_class(run):
    _, model_dir, _, _, _ = run
    quality = json.load(open(os.path.join(model_dir, "transfer", "metrics.json")))
    return {k: v for k, v in quality["pseudo_labels"]["per_class"].items() if v is not None}


def _image(ea, tag):
    out = {}
    for e in ea.Tensors(tag):
        w, h, png = tf.make_ndarray(e.tensor_proto)
        im = np.asarray(Image.open(io.BytesIO(png)))
        assert im.shape[:2] == (int(h), int(w))
        out[e.step] = im
    return out


def test_image_panels_at_the_image_steps_with_the_expected_size(run):
    cfg, _, _, exp, ea = run
    want = panel_shape(cfg.panel_images, cfg.data.eval_size)
    assert want == (276, 398, 3)
    for tag, steps in (("lnet/panels/val", PANEL_STEPS), ("tsss/panels/val", PANEL_STEPS),
                       ("full/panels/val", PANEL_STEPS), ("transfer/panels/weak_train", [0])):
        images = _image(ea, tag)
        assert sorted(images) == steps, tag
        for im in images.values():
            assert im.shape == want, tag
    # the P-Net prediction (5th column) changes between the two panels; the input column not
    lo, hi = (_image(ea, "tsss/panels/val")[s] for s in PANEL_STEPS)
    x = 2 + 4 * (64 + 2)
    assert not np.array_equal(lo[:, x:x + 64], hi[:, x:x + 64])
    np.testing.assert_array_equal(lo[:, 2:66], hi[:, 2:66])
    legend = tf.make_ndarray(ea.Tensors("panels/legend")[0].tensor_proto).item().decode()
    for name in exp.data.class_names:
        assert f"| {name} |" in legend


def test_hparams_sessions_list_the_variants_with_their_final_metrics(run):
    cfg, model_dir, results, _, _ = run
    root = os.path.join(model_dir, hparams.HPARAMS_DIR)
    assert os.listdir(os.path.join(model_dir, "tensorboard")) == \
        [f for f in os.listdir(os.path.join(model_dir, "tensorboard")) if "tfevents" in f]
    sessions = _read_sessions(root)
    assert set(sessions) == {"full", "tsss"}
    for v, (hp, metrics) in sessions.items():
        assert hp["variant"] == v and hp["seed"] == cfg.seed and hp["config"] == "tiny"
        assert hp["split"] == "embedded_50" and hp["pnet_steps"] == STEPS
        assert metrics["test/miou"] == pytest.approx(results["variants"][v]["miou"])
        assert metrics["test/ratio_to_full"] == pytest.approx(results["ratios"][v]["all"])
    assert _experiment_metrics(root) == [t for t, _ in hparams.METRICS]


def test_hparams_of_all_four_variants(tmp_path):
    cfg = load_config("tiny", ["seed=3"])
    rep = {"miou": 0.5, "miou_strong": 0.6, "miou_weak": 0.4}
    results = {"split": {"name": "embedded_50", "hash": "abc"},
               "variants": {v: dict(rep, miou=0.1 * (i + 1)) for i, v in
                            enumerate(["tsss", "lnet_only", "strong_only", "full"])},
               "ratios": {v: {"all": 1.0, "weak": None} for v in ["tsss", "full"]}}
    hparams.write_hparams(str(tmp_path), cfg, results)
    sessions = _read_sessions(str(tmp_path))
    assert sorted(sessions) == ["full", "lnet_only", "strong_only", "tsss"]
    assert sessions["lnet_only"][0]["seed"] == 3
    assert sessions["lnet_only"][1]["test/miou"] == pytest.approx(0.2)
    assert "test/ratio_to_full_weak" not in sessions["tsss"][1]   # None is not written


def _read_sessions(root):
    from tensorboard.plugins.hparams import metadata, plugin_data_pb2

    out = {}
    for v in sorted(os.listdir(root)):
        if not os.path.isdir(os.path.join(root, v)):
            continue
        ea = EventAccumulator(os.path.join(root, v), size_guidance={"tensors": 0})
        ea.Reload()
        content = ea.PluginTagToContent(metadata.PLUGIN_NAME)
        start = plugin_data_pb2.HParamsPluginData.FromString(
            content[metadata.SESSION_START_INFO_TAG]).session_start_info
        hp = {}
        for k, val in start.hparams.items():
            kind = val.WhichOneof("kind")
            hp[k] = int(val.number_value) if k in ("seed", "pnet_steps") else getattr(val, kind)
        metrics = {t: float(tf.make_ndarray(ea.Tensors(t)[0].tensor_proto))
                   for t in ea.Tags()["tensors"] if t.startswith("test/")}
        out[v] = (hp, metrics)
    return out


def _experiment_metrics(root):
    from tensorboard.plugins.hparams import metadata, plugin_data_pb2

    ea = EventAccumulator(root, size_guidance={"tensors": 0})
    ea.Reload()
    content = ea.PluginTagToContent(metadata.PLUGIN_NAME)[metadata.EXPERIMENT_TAG]
    exp = plugin_data_pb2.HParamsPluginData.FromString(content).experiment
    variant = [h for h in exp.hparam_infos if h.name == "variant"][0]
    assert sorted(x.string_value for x in variant.domain_discrete.values) == sorted(
        ["full", "strong_only", "lnet_only", "tsss"])
    return [m.name.tag for m in exp.metric_infos]


def _png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_results_figures_are_pngs_of_the_expected_size_linked_from_results_md(run):
    _, model_dir, _, _, _ = run
    bar = os.path.join(model_dir, figures.BAR_FILE)
    grid = os.path.join(model_dir, figures.GRID_FILE)
    assert _png_size(bar) == (860, 450)       # 11 classes: 8.6 x 4.5 in at 100 dpi
    assert _png_size(grid) == (710, 790)      # 4 images, 2 variants: 7.1 x 7.9 in
    for path in (bar, grid):
        with Image.open(path) as im:
            im.load()
            assert im.mode in ("RGBA", "RGB")
    md = open(os.path.join(model_dir, "results.md")).read()
    assert f"]({figures.BAR_FILE})" in md and f"]({figures.GRID_FILE})" in md
    assert not [f for f in os.listdir(model_dir) if ".tmp" in f]


def test_a_figure_that_cannot_be_drawn_is_a_one_line_note(run, monkeypatch, tmp_path):
    import builtins

    _, _, results, _, _ = run
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    note = figures.write_figures(str(tmp_path), results)
    assert note.strip() == "Figures skipped: ImportError: No module named 'matplotlib'"
    assert os.listdir(tmp_path) == []


def test_figures_take_class_ids_from_results_not_the_sorted_json_keys(run):
    # A prediction's colour is its class id: the legend must name classes in id order, which
    # the per-class dicts of results.json (sorted keys) do not keep.
    from tsss_tf.data.embedded import TARGET_CATEGORIES

    _, _, results, _, _ = run
    names = figures.class_names_from_results(results)
    assert names == ["background", *TARGET_CATEGORIES]
    assert names != sorted(names)
    with pytest.raises(ValueError, match="class_names"):
        figures.class_names_from_results({"variants": results["variants"]})


def test_prediction_figure_tool_draws_without_the_photographs(run, tmp_path):
    """tools/prediction_figure.py --noimages: the grid without the image column (a figure
    that redistributes no photograph), one 1.7-inch column narrower than the run's own;
    --recompute predicts the examples again from the checkpoints."""
    import subprocess
    import sys

    _, model_dir, _, _, _ = run
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = str(tmp_path / "grid.png")
    proc = subprocess.run([sys.executable, os.path.join(root, "tools", "prediction_figure.py"),
                           f"--model_dir={model_dir}", f"--out={out}", "--noimages",
                           "--recompute"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _png_size(out) == (540, 790)       # 7.1 - 1.7 in wide, same height
