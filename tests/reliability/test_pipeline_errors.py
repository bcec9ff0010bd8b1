"""Files that pass the index's cheap checks but fail inside the tf.data pipeline are still
reported by the entry points in one line naming the file (flags.user_errors), not as a
TensorFlow traceback; a bad file that the index does check never reaches the pipeline."""

import os

import numpy as np
import pytest

from tests.reliability.conftest import voc_config
from tests.reliability.test_bad_inputs import png_with_valid_crc_but_bad_pixels
from tsss_tf.data import pipeline
from tsss_tf.data.sources import ExperimentData, find_undecodable_image
from tsss_tf.data.splits import Split
from tsss_tf.data.voc import write_palette_png
from tsss_tf.flags import user_errors


def _data(root):
    cfg = voc_config(root)
    return ExperimentData(cfg.data, Split.from_config(cfg.split))


def _exit_message(capsys, fn):
    with pytest.raises(SystemExit) as info:
        with user_errors():
            fn()
    lines = capsys.readouterr().err.strip().splitlines()
    return info.value.code, lines


def test_an_image_that_fails_only_in_the_decoder_is_named(voc, capsys):
    path = os.path.join(voc, "JPEGImages", "t2.png")
    with open(path, "wb") as f:
        f.write(png_with_valid_crc_but_bad_pixels(32, 40))
    data = _data(voc)
    assert [r.name for r in data.records("test")] == ["t1", "t2"]  # the header checks pass
    code, lines = _exit_message(
        capsys, lambda: list(pipeline.eval_dataset(data, "test", batch_size=1)))
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith(f"error: {path}: the image cannot be decoded (")
    assert find_undecodable_image()[0] == path


def test_a_pseudo_label_of_the_wrong_size_is_named(voc, tmp_path, capsys):
    data = _data(voc)
    labels = tmp_path / "pseudo"
    labels.mkdir()
    weak = [r for r in data.train_records() if r.kind == "weak"]
    for r in weak:
        write_palette_png(str(labels / f"{r.name}.png"), np.zeros((32, 40), np.uint8))
    bad = str(labels / f"{weak[1].name}.png")
    write_palette_png(bad, np.zeros((16, 40), np.uint8))
    ds = pipeline.train_dataset(data, "pnet", 4, seed=0, pseudo_dir=str(labels))
    code, lines = _exit_message(capsys, lambda: [b for b, _ in zip(ds, range(8))])
    assert code == 2 and len(lines) == 1
    assert lines[0] == (f"error: {bad}: mask size 40x16 differs from its image's 40x32")


def test_other_tf_errors_are_not_swallowed(capsys):
    import tensorflow as tf

    with pytest.raises(tf.errors.InvalidArgumentError):
        with user_errors():
            tf.reshape(tf.zeros([3]), [2])
    assert capsys.readouterr().err == ""


def test_a_nan_loss_error_exits_with_status_3(capsys):
    from tsss_tf.training.loop import NonFiniteLossError

    def fail():
        raise NonFiniteLossError("lnet: non-finite loss at step 14: 'loss' (nan)")
    code, lines = _exit_message(capsys, fail)
    assert code == 3 and lines == ["error: lnet: non-finite loss at step 14: 'loss' (nan)"]


def test_command_maps_errors_and_refuses_stray_arguments(capsys, monkeypatch):
    from absl import app

    from tsss_tf.errors import ConfigError
    from tsss_tf.flags import command

    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)

    @command
    def main():
        raise ConfigError("config field 'seed' is -1; it must be an integer in 0..2**31-1")

    with pytest.raises(app.UsageError, match="unexpected arguments: configs/x.py"):
        main(["train", "configs/x.py"])
    with pytest.raises(SystemExit) as e:
        main(["train"])
    assert e.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: config field 'seed' is -1; it must be an integer in 0..2**31-1")
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"  # set before TensorFlow would start
