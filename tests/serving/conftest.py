"""Fixtures of the serving tests: a tiny run folder written the way training writes one, its
export by `python -m tsss_tf.export`, and one fresh process that runs the export the way TF
Serving does (served_client.py).

The run: a VOC-layout folder of 5 images (three 203 x 317 PNGs, a 150 x 64 PNG, a 97 x 131 JPEG),
config.json from the config module, and `MODEL_DIR/tsss/ckpt/` holding a randomly initialised
small P-Net with a discriminator and a step counter, as `tf.train.Checkpoint(generator=...,
discriminator=..., step=...)` like the training loop saves it.
"""

import json
import os
import subprocess
import sys
import types

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests.helpers import blob_example, write_voc_fixture
from tsss_tf.config import DataConfig, ExperimentConfig, ModelConfig, SplitConfig

CLASSES = ("background", "cat", "cow", "dog", "sheep")
EVAL_SIZE = 64
SAME_SIZE = ("p0", "p1", "p2")  # 203 x 317: the uint8-tensor batch
ALL = SAME_SIZE + ("tall", "j0")
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
# Stable tags: cat (1) and dog (3) allowed.
TAGS_ROW = np.array([0, 1, 0, 1, 0], np.int32)


def run_cli(*args, timeout=240):
    """`python -m ...` in a fresh process from the repository root."""
    path = os.pathsep.join(p for p in (REPO, os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=path)
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def make_config(data_dir):
    return ExperimentConfig(
        name="serving_test",
        data=DataConfig(dataset="voc", data_dir=str(data_dir), crop_size=EVAL_SIZE,
                        eval_size=EVAL_SIZE, val_set="val", test_set="val"),
        split=SplitConfig(name="serving_test", strong=("cat", "dog"), weak=("cow", "sheep")),
        model=ModelConfig(backbone_width=8, head_width=8, disc_width=8))


def write_run(root):
    """A run folder with a random P-Net checkpoint; returns (cfg, model_dir, P-Net)."""
    from tsss_tf.training.builders import build_discriminator, build_pnet, build_variables

    rng = np.random.default_rng(0)
    data_dir = os.path.join(root, "voc")
    pngs = {n: blob_example(203, 317, [1, 3], rng) for n in SAME_SIZE}
    pngs["tall"] = blob_example(150, 64, [2], rng)
    sets = {"val": list(ALL)}
    write_voc_fixture(data_dir, CLASSES, pngs, sets, image_format="png")
    write_voc_fixture(data_dir, CLASSES, {"j0": blob_example(97, 131, [4], rng)}, sets,
                      image_format="jpg")
    cfg = make_config(data_dir)
    model_dir = os.path.join(root, "run")
    os.makedirs(model_dir)
    with open(os.path.join(model_dir, "config.json"), "w") as f:
        f.write(cfg.to_json() + "\n")
    keras.utils.set_random_seed(7)
    gen = build_pnet(cfg.model, len(CLASSES))
    build_variables(gen, EVAL_SIZE)
    # Spread the random logits so that class maps and tags have something to show.
    kernel = gen.head.classifier.kernel
    kernel.assign(kernel * 8.0)
    disc = build_discriminator(cfg.model, len(CLASSES))
    build_variables(disc, EVAL_SIZE, tf.zeros([1, EVAL_SIZE, EVAL_SIZE, len(CLASSES)]))
    ckpt = tf.train.Checkpoint(generator=gen, discriminator=disc,
                               step=tf.Variable(20, dtype=tf.int64))
    tf.train.CheckpointManager(ckpt, os.path.join(model_dir, "tsss", "ckpt"),
                               max_to_keep=1).save(checkpoint_number=20)
    return cfg, model_dir, gen


def image_files(cfg):
    from tsss_tf.data.voc import VocLayout

    layout = VocLayout(cfg.data.data_dir)
    return [layout.image_path(n) for n in ALL]


def decode(path):
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def reference(model, cfg):
    """{name: (probabilities, class_map)} at each image's own size, computed in this process
    with `python -m tsss_tf.evaluate`'s input pipeline (eval_dataset) and the in-memory P-Net:
    logits of the valid region resized back to the image size, softmax."""
    from tsss_tf.data.pipeline import eval_dataset
    from tsss_tf.data.sources import ExperimentData
    from tsss_tf.data.splits import Split

    data = ExperimentData(cfg.data, Split.from_config(cfg.split))
    out = {}
    for batch in eval_dataset(data, "val", batch_size=len(ALL)):
        logits = model(batch["image"], training=False)
        for i, name in enumerate(batch["name"].numpy()):
            vh, vw = batch["valid_size"][i].numpy()
            full = tf.image.resize(logits[i, :vh, :vw], batch["original_size"][i],
                                   method="bilinear")
            probs = tf.nn.softmax(full, axis=-1).numpy()
            out[name.decode()] = probs
    return out


def prepare_client_inputs(folder, cfg):
    """What served_client.py runs: files, a uint8 batch, tags, REST bodies and PredictRequests
    built with tsss_tf's client helpers (tensors by tf.make_tensor_proto)."""
    from tsss_tf.serving.protos import message_classes
    from tsss_tf.serving.requests import predict_request, rest_body

    os.makedirs(folder)
    files = image_files(cfg)
    with open(os.path.join(folder, "files.json"), "w") as f:
        json.dump(files, f)
    batch = np.stack([decode(p) for p in files[:len(SAME_SIZE)]])
    np.save(os.path.join(folder, "batch.npy"), batch)
    tags = np.tile(TAGS_ROW[None], (len(files), 1))
    np.save(os.path.join(folder, "tags.npy"), tags)
    encoded = [open(p, "rb").read() for p in files]
    bodies = {
        "class_map_rows": rest_body({"image_bytes": encoded}, "class_map"),
        "class_map_columns": rest_body({"image_bytes": encoded[-2:]}, "class_map",
                                       columnar=True),
        "tensor_columns": rest_body({"images": batch[:1]}, "tensor", columnar=True),
        "tagged_rows": rest_body({"image_bytes": encoded[:2], "tags": tags[:2]},
                                 "class_map_with_tags"),
    }
    for key, body in bodies.items():
        with open(os.path.join(folder, f"rest_{key}.json"), "w") as f:
            json.dump(body, f)
    requests = {
        "bytes": predict_request({"image_bytes": encoded}, model_name="segmenter"),
        "filtered": predict_request({"image_bytes": encoded[:1]},
                                    output_filter=["class_map"]),
        "tensor": predict_request({"images": batch}, "tensor"),
    }
    # A request TF Serving must refuse: float pixels for the uint8 input.
    request_cls, _ = message_classes()
    wrong = request_cls()
    wrong.model_spec.signature_name = "tensor"
    wrong.inputs["images"].ParseFromString(
        tf.make_tensor_proto(batch[:1].astype(np.float32)).SerializeToString())
    requests["wrong_dtype"] = wrong
    for key, request in requests.items():
        with open(os.path.join(folder, f"request_{key}.pb"), "wb") as f:
            f.write(request.SerializeToString())
    return types.SimpleNamespace(files=files, batch=batch, tags=tags, bodies=bodies)


@pytest.fixture(scope="session")
def run(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("serving"))
    cfg, model_dir, model = write_run(root)
    return types.SimpleNamespace(root=root, cfg=cfg, model_dir=model_dir, model=model)


@pytest.fixture(scope="session")
def exported(run):
    """The export written by the CLI: EXPORT_DIR/1."""
    export_dir = os.path.join(run.root, "exports")
    res = run_cli("-m", "tsss_tf.export", f"--model_dir={run.model_dir}",
                  f"--export_dir={export_dir}")
    assert res.returncode == 0, res.stderr[-3000:]
    path = res.stdout.strip().splitlines()[-1]
    return types.SimpleNamespace(base=export_dir, path=path, stdout=res.stdout)


@pytest.fixture(scope="session")
def served(run, exported):
    """Results of served_client.py on the export (fresh process, TF1 session loader)."""
    inputs = prepare_client_inputs(os.path.join(run.root, "client_in"), run.cfg)
    out = os.path.join(run.root, "client_out")
    os.makedirs(out)
    res = run_cli(os.path.join(HERE, "served_client.py"), exported.path,
                  os.path.join(run.root, "client_in"), out)
    assert res.returncode == 0, res.stderr[-3000:]
    arrays = dict(np.load(os.path.join(out, "results.npz")))
    with open(os.path.join(out, "results.json")) as f:
        info = json.load(f)
    return types.SimpleNamespace(arrays=arrays, info=info, inputs=inputs)


@pytest.fixture(scope="session")
def expected(run):
    return reference(run.model, run.cfg)
