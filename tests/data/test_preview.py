"""The data preview grid and its command line."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tsss_tf.data import embedded, preview
from tsss_tf.data.palette import colorize
from tsss_tf.data.voc import VocLayout

SMALL = dict(size=48, num_train=6, num_source=3, num_val=1, num_test=1)


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("prev") / "set")
    return embedded.generate(root, seed=0, progress=False, **SMALL)


def test_preview_grid_layout(small_set):
    ds = VocLayout(small_set)
    names = ds.image_ids("train")[:5]
    grid = preview.preview_grid(ds, names, columns=2, legend=False)
    gap, pair = preview.GAP, preview.PAIR_GAP
    assert grid.dtype == np.uint8
    assert grid.shape == (gap + 3 * (48 + gap), gap + 2 * (2 * 48 + pair + gap), 3)
    image, mask = ds.read_example(names[0])
    assert np.array_equal(grid[gap:gap + 48, gap:gap + 48], image)
    x = gap + 48 + pair
    assert np.array_equal(grid[gap:gap + 48, x:x + 48], colorize(mask))
    with_legend = preview.preview_grid(ds, names, columns=2)
    assert with_legend.shape[0] > grid.shape[0] and with_legend.shape[1] == grid.shape[1]


def test_write_png_atomic(tmp_path):
    out = preview.write_png(str(tmp_path / "sub" / "p.png"), np.zeros((5, 7, 3), np.uint8))
    assert Image.open(out).size == (7, 5)
    assert os.listdir(tmp_path / "sub") == ["p.png"]


def test_cli_writes_png(small_set, tmp_path):
    out = tmp_path / "preview.png"
    subprocess.run([sys.executable, "-m", "tsss_tf.data.preview", f"--data_dir={small_set}",
                    "--set=source", "--num=3", "--columns=3", f"--out={out}"], check=True,
                   capture_output=True)
    with Image.open(out) as im:
        assert im.mode == "RGB"
        width, height = im.size
    assert width == preview.GAP + 3 * (2 * 48 + preview.PAIR_GAP + preview.GAP)
    assert height > preview.GAP + 48 + preview.GAP


def test_resolve_data_dir_from_config_file(small_set, tmp_path, monkeypatch):
    """--config resolution, with a config file written here (configs/ may be empty)."""
    cfg_file = tmp_path / "my_config.py"
    cfg_file.write_text(
        "from tsss_tf.config import ExperimentConfig\n"
        "def get_config():\n"
        "    cfg = ExperimentConfig()\n"
        f"    cfg.data.dataset = 'voc'\n    cfg.data.data_dir = {small_set!r}\n"
        "    return cfg\n")
    assert preview.resolve_data_dir(config=str(cfg_file)) == small_set
    emb_file = tmp_path / "emb_config.py"
    emb_file.write_text(
        "from tsss_tf.config import ExperimentConfig\n"
        "def get_config():\n"
        "    cfg = ExperimentConfig()\n"
        "    cfg.data.embedded_size = 40\n"
        "    cfg.data.embedded_num_train = 2\n    cfg.data.embedded_num_source = 1\n"
        "    cfg.data.embedded_num_val = 1\n    cfg.data.embedded_num_test = 1\n"
        "    return cfg\n")
    monkeypatch.setenv("TSSS_TF_CACHE", str(tmp_path / "cache"))
    root = preview.resolve_data_dir(config=str(emb_file), progress=False)
    assert root.startswith(str(tmp_path / "cache")) and len(VocLayout(root).image_ids("train")) == 2
    with pytest.raises(ValueError, match="exactly one"):
        preview.resolve_data_dir(data_dir=small_set, embedded=True)
