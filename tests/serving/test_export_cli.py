"""`python -m tsss_tf.export` on a run folder, and the export as `saved_model_cli` sees it."""

import json
import os

import numpy as np
import tensorflow as tf

from tests.serving.conftest import CLASSES, EVAL_SIZE, SAME_SIZE, decode, image_files, run_cli
from tsss_tf.serving.signatures import SIGNATURES, output_names
from tsss_tf.serving.warmup import read_warmup


def test_export_is_a_complete_version_folder(exported, run):
    assert exported.path == os.path.join(exported.base, "1")
    assert os.listdir(exported.base) == ["1"]  # the temporary folder is gone
    files = set(os.listdir(exported.path))
    assert {"saved_model.pb", "variables", "assets", "assets.extra"} <= files
    with open(os.path.join(exported.path, "assets", "class_names.txt")) as f:
        assert f.read().splitlines() == list(CLASSES)
    with open(os.path.join(exported.path, "assets.extra", "tsss_export.json")) as f:
        meta = json.load(f)
    assert meta["class_names"] == list(CLASSES) and meta["eval_size"] == EVAL_SIZE
    assert meta["num_background"] == 1 and meta["version"] == 1
    assert meta["source"]["variant"] == "tsss" and meta["source"]["config"] == "serving_test"
    assert meta["source"]["checkpoint"].endswith(os.path.join("tsss", "ckpt", "ckpt-20"))


def test_export_holds_pnet_alone_one_copy_of_each_weight(exported, run):
    saved = tf.train.list_variables(os.path.join(exported.path, "variables", "variables"))
    saved = {name: shape for name, shape in saved if name != "_CHECKPOINTABLE_OBJECT_GRAPH"}
    weights = run.model.weights
    assert len(saved) == len(weights)
    assert sum(int(np.prod(s)) for s in saved.values()) == \
        sum(int(np.prod(w.shape)) for w in weights)
    assert not [n for n in saved if "discriminator" in n or "OPTIMIZER" in n]


def test_warmup_file_holds_one_request_per_signature(exported):
    requests = read_warmup(exported.path)
    assert [r.model_spec.signature_name for r in requests] == list(SIGNATURES)
    for request in requests:
        assert set(request.inputs) == set(SIGNATURES[request.model_spec.signature_name].inputs)
        assert request.model_spec.name == "tsss"


def test_saved_model_cli_show_lists_the_signatures(exported):
    res = run_cli("-m", "tensorflow.python.tools.saved_model_cli", "show", "--all", "--dir",
                  exported.path)
    assert res.returncode == 0, res.stderr[-2000:]
    for name, sig in SIGNATURES.items():
        assert f"signature_def['{name}']" in res.stdout
        block = res.stdout.split(f"signature_def['{name}']")[1].split("signature_def[")[0]
        for key in sig.inputs:
            assert f"inputs['{key}']" in block
        for key in output_names(name):
            assert f"outputs['{key}']" in block
    assert "DT_UINT8" in res.stdout and "(-1, -1, -1, 3)" in res.stdout


def test_saved_model_cli_run_on_an_odd_sized_batch(exported, run, expected, tmp_path):
    batch = np.stack([decode(p) for p in image_files(run.cfg)[:2]])
    assert batch.shape == (2, 203, 317, 3)
    np.save(tmp_path / "batch.npy", batch)
    res = run_cli("-m", "tensorflow.python.tools.saved_model_cli", "run", "--dir",
                  exported.path, "--tag_set", "serve", "--signature_def", "tensor", "--inputs",
                  f"images={tmp_path / 'batch.npy'}", "--outdir", str(tmp_path / "out"))
    assert res.returncode == 0, res.stderr[-2000:]
    probs = np.load(tmp_path / "out" / "probabilities.npy")
    for i, name in enumerate(SAME_SIZE[:2]):
        assert np.abs(probs[i] - expected[name]).max() <= 1e-5
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "class_map.npy"),
                                  probs.argmax(-1))


def test_cli_refuses_a_variant_without_checkpoint_and_an_existing_version(exported, run):
    res = run_cli("-m", "tsss_tf.export", f"--model_dir={run.model_dir}",
                  f"--export_dir={exported.base}", "--variant=full")
    assert res.returncode == 2
    assert "no checkpoint of variant 'full'" in res.stderr
    assert "Traceback" not in res.stderr
    assert os.listdir(exported.base) == ["1"]
