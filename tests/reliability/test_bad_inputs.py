"""Bad inputs: each fails with an error naming the culprit, and leaves no partial output.

The data and split cases go through the experiment runner (`Experiment(...).run("lnet")`,
what `python -m tsss_tf.train` does) and must fail before any checkpoint, label, metrics or
temporary file is written; a config.json (rewritten once the config is fixed) and an empty
TensorBoard log are all a failed run may leave.
"""

import io
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from tests.conftest import one_cpu_strategy
from tests.reliability.conftest import (SIZE, leftovers, temporaries, voc_config,
                                        voc_overrides)
from tsss_tf.config import ConfigError, load_config
from tsss_tf.data.splits import SplitError
from tsss_tf.data.voc import DataError
from tsss_tf.experiment import Experiment


def _img(root, name, ext="png"):
    return os.path.join(root, "JPEGImages", f"{name}.{ext}")


def _mask(root, name):
    return os.path.join(root, "SegmentationClass", f"{name}.png")


def _set(root, name):
    return os.path.join(root, "ImageSets", "Segmentation", f"{name}.txt")


def _png_bytes(array, mode=None):
    b = io.BytesIO()
    Image.fromarray(array, mode=mode).save(b, "PNG")
    return b.getvalue()


def _rgb(h=SIZE[0], w=SIZE[1]):
    return np.random.default_rng(1).integers(0, 255, (h, w, 3), dtype=np.uint8)


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def _truncate(path, keep=0.5):
    data = open(path, "rb").read()
    _write(path, data[: int(len(data) * keep)])


def _damage_png_crc(path):
    data = bytearray(open(path, "rb").read())
    i = data.index(b"IDAT") + 8
    data[i:i + 16] = bytes(16)
    _write(path, bytes(data))


def png_with_valid_crc_but_bad_pixels(h, w):
    """A PNG whose chunks all have correct checksums but whose pixel data does not inflate:
    it passes the index's header checks and fails only in tf.io.decode_image."""
    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", b"\x78\x9c" + bytes(range(7, 200))) + chunk(b"IEND", b""))


# (id, damage(root) -> None, config overrides, error type, regex naming the culprit)
DATA_CASES = [
    ("missing_data_folder", None, ["data.data_dir={root}/nope"], DataError,
     r"voc/nope' does not exist"),
    ("not_voc_layout", lambda r: os.rename(os.path.join(r, "SegmentationClass"),
                                           os.path.join(r, "Masks")),
     [], DataError, r"no SegmentationClass/ folder"),
    ("unknown_image_set", None, ["data.train_sets=trainx"], DataError,
     r"image set 'trainx' not found.*trainx\.txt.*available: test, train, val"),
    ("empty_image_set", lambda r: _write(_set(r, "train"), b"\n\n"), [], DataError,
     r"train\.txt: the image set is empty"),
    ("set_names_missing_image", lambda r: open(_set(r, "train"), "a").write("ghost\n"), [],
     DataError, r"image 'ghost' is missing"),
    ("missing_mask", lambda r: os.remove(_mask(r, "w2")), [], DataError,
     r"train\.txt lists 'w2' but .*SegmentationClass/w2\.png is missing"),
    ("image_not_an_image", lambda r: _write(_img(r, "w3"), b"<html>404</html>"), [],
     DataError, r"JPEGImages/w3\.png: not a readable image"),
    ("empty_image_file", lambda r: _write(_img(r, "s4"), b""), [], DataError,
     r"JPEGImages/s4\.png: not a readable image"),
    ("truncated_png", lambda r: _truncate(_img(r, "s2")), [], DataError,
     r"JPEGImages/s2\.png: not a readable image"),
    ("png_with_damaged_pixels", lambda r: _damage_png_crc(_img(r, "s1")), [], DataError,
     r"JPEGImages/s1\.png: not a readable image \(broken PNG"),
    ("truncated_jpeg", lambda r: (os.remove(_img(r, "w4")),  # w4.png and w4.jpg: ambiguous
                                  Image.fromarray(_rgb()).save(_img(r, "w4", "jpg")),
                                  _truncate(_img(r, "w4", "jpg"), 0.7)), [], DataError,
     r"JPEGImages/w4\.jpg: the JPEG file is cut short"),
    ("tiff_named_png", lambda r: Image.fromarray(_rgb()).save(_img(r, "w1"), "TIFF"), [],
     DataError, r"JPEGImages/w1\.png: a TIFF image"),
    ("mask_size_differs", lambda r: _write(_mask(r, "w1"), _png_bytes(
        np.zeros((10, 12), np.uint8), "L")), [], DataError,
     r"SegmentationClass/w1\.png: mask size 12x10 differs from its image's 40x32"),
    ("label_out_of_range", lambda r: _write(_mask(r, "s3"), _png_bytes(
        np.full(SIZE, 7, np.uint8), "L")), [], DataError,
     r"SegmentationClass/s3\.png: label values \[7\] are outside the 5 classes"),
    ("rgb_mask", lambda r: _write(_mask(r, "s3"), _png_bytes(_rgb())), [], DataError,
     r"SegmentationClass/s3\.png: a mask must be a palette or grey PNG.*mode RGB"),
    ("corrupt_mask", lambda r: _write(_mask(r, "w2"), b"\x89PNG\r\n\x1a\nbroken"), [],
     DataError, r"SegmentationClass/w2\.png: cannot decode the mask"),
    ("duplicate_class_name", lambda r: _write(os.path.join(r, "classes.txt"),
                                              b"background\ncat\ndog\ncat\nsheep\n"), [],
     DataError, r"classes\.txt: a class name appears twice"),
    ("empty_classes_file", lambda r: _write(os.path.join(r, "classes.txt"), b"\n"), [],
     DataError, r"classes\.txt: no class names"),
    ("split_unknown_category", None, ["split.weak=cow,horse"], SplitError,
     r"split 'rel' names categories \['horse'\] unknown"),
    ("split_category_in_both_lists", None, ["split.weak=cow,cat"], SplitError,
     r"split 'rel': \['cat'\] listed as both strong and weak"),
    ("split_empty", None, ["split.strong=", "split.weak="], SplitError,
     r"split 'rel' is empty"),
    ("split_category_twice", None, ["split.weak=cow,sheep,cow"], SplitError,
     r"split 'rel': a weak category is listed twice"),
    ("split_background_not_a_class", None, ["split.background=sky"], SplitError,
     r"background class 'sky' is not a class"),
    ("split_background_is_a_category", None, ["split.background=cat"], SplitError,
     r"the background 'cat' cannot also be a strong or weak category"),
    ("split_bad_other", None, ["split.other=drop"], SplitError,
     r"other must be 'ignore' or 'background', got 'drop'"),
]


@pytest.mark.parametrize("case", DATA_CASES, ids=[c[0] for c in DATA_CASES])
def test_bad_data_and_split_fail_naming_the_culprit(case, voc, tmp_path):
    _, damage, overrides, error, pattern = case
    if damage is not None:
        damage(voc)
    cfg = voc_config(voc, [o.format(root=voc) for o in overrides])
    model_dir = str(tmp_path / "run")
    with pytest.raises(error, match=pattern):
        Experiment(cfg, model_dir, strategy=one_cpu_strategy(), progress=False).run("lnet")
    assert leftovers(model_dir) == []
    assert temporaries(voc) == [] and temporaries(model_dir) == []


def test_a_failed_run_does_not_lock_its_model_dir(voc, tmp_path):
    """config.json of a run that failed before any output is replaced by the fixed config."""
    model_dir = str(tmp_path / "run")
    bad = voc_config(voc, ["split.weak=cow,horse"])
    with pytest.raises(SplitError, match="horse"):
        Experiment(bad, model_dir, strategy=one_cpu_strategy(), progress=False)
    good = voc_config(voc)
    exp = Experiment(good, model_dir, strategy=one_cpu_strategy(), progress=False)
    assert exp.data.num_classes == 5
    assert open(os.path.join(model_dir, "config.json")).read() == good.to_json() + "\n"


CONFIG_CASES = [
    ("unknown_field", ["lnet.stepz=3"], r"unknown config field 'lnet\.stepz'"),
    ("unknown_section", ["pnett.steps=3"], r"unknown config field 'pnett'"),
    ("wrong_type", ["global_batch_size=four"], r"'global_batch_size' wants an integer"),
    ("not_finite", ["lnet.learning_rate=NaN"], r"'lnet\.learning_rate' is nan"),
    ("infinite_weight", ["pnet.lambda_adv=Infinity"], r"'pnet\.lambda_adv' is inf"),
    ("zero_batch", ["global_batch_size=0"], r"'global_batch_size' is 0; it must be at least 1"),
    ("zero_checkpoint_every", ["checkpoint_every=0"], r"'checkpoint_every' is 0"),
    ("negative_steps", ["pnet.steps=-5"], r"'pnet\.steps' is -5"),
    ("scales_reversed", ["data.min_scale=1.5", "data.max_scale=1.0"],
     r"'data\.max_scale' \(1\.0\) is below data\.min_scale"),
    ("bad_adv_on", ["pnet.adv_on=strong"], r"'pnet\.adv_on' is 'strong'"),
    ("negative_refine_rounds", ["pnet.refine_rounds=-1"], r"'pnet\.refine_rounds' is -1"),
    ("refine_confidence_one", ["pnet.refine_confidence=1.0"],
     r"'pnet\.refine_confidence' is 1\.0; it must be in \[0, 1\)"),
    ("small_transfer_size", ["transfer.image_size=8"], r"'transfer\.image_size' is 8"),
    ("no_transfer_scale", ["transfer.scales=[]"], r"'transfer\.scales' is \(\)"),
    ("negative_scale", ["transfer.scales=[1.0,-0.5]"], r"'transfer\.scales' is \(1\.0, -0\.5\)"),
    ("negative_lr_mult", ["model.backbone_lr_mult=-1"], r"'model\.backbone_lr_mult' is -1"),
    ("negative_lnet_lr_mult", ["lnet.backbone_lr_mult=-0.5"], r"'lnet\.backbone_lr_mult' is -0\.5"),
]


@pytest.mark.parametrize("case", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_bad_config_values_name_the_field(case, tmp_path):
    _, overrides, pattern = case
    with pytest.raises(ConfigError, match=pattern):
        load_config("tiny", overrides).validate()
    assert os.listdir(tmp_path) == []


def test_an_experiment_from_python_is_validated_too(tmp_path):
    """Not only the command lines: Experiment validates the config it is given."""
    cfg = load_config("tiny", ["global_batch_size=0"])
    with pytest.raises(ConfigError, match=r"'global_batch_size' is 0"):
        Experiment(cfg, str(tmp_path / "run"), strategy=one_cpu_strategy(), progress=False)
    assert not os.path.exists(tmp_path / "run")


def test_unknown_config_name_and_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown config 'tinyy'; known: .*tiny"):
        load_config("tinyy")
    with pytest.raises(ConfigError, match=r"config file '.*nope\.py' does not exist"):
        load_config(str(tmp_path / "nope.py"))


def _fake_output(model_dir):
    os.makedirs(os.path.join(model_dir, "lnet", "ckpt"), exist_ok=True)
    _write(os.path.join(model_dir, "lnet", "ckpt", "checkpoint"), b"")


def test_model_dir_of_another_config_is_refused(voc, tmp_path):
    model_dir = str(tmp_path / "run")
    Experiment(voc_config(voc), model_dir, strategy=one_cpu_strategy(), progress=False)
    _fake_output(model_dir)
    before = open(os.path.join(model_dir, "config.json")).read()
    with pytest.raises(ConfigError, match=r"holds a run of another config.*lnet\.steps"):
        Experiment(voc_config(voc, ["lnet.steps=5"]), model_dir, strategy=one_cpu_strategy(),
                   progress=False)
    assert open(os.path.join(model_dir, "config.json")).read() == before
    assert temporaries(model_dir) == []


def test_model_dir_that_is_a_file_is_refused(voc, tmp_path):
    path = tmp_path / "run"
    path.write_text("x")
    with pytest.raises(ConfigError, match=r"model_dir '.*run' is a file"):
        Experiment(voc_config(voc), str(path), strategy=one_cpu_strategy(), progress=False)
    assert path.read_text() == "x"


def test_unreadable_config_json_of_a_run_is_refused(voc, tmp_path):
    model_dir = str(tmp_path / "run")
    _fake_output(model_dir)
    _write(os.path.join(model_dir, "config.json"), b'{"name": "tiny", "lnet": {')
    with pytest.raises(ConfigError, match=r"run/config\.json: cannot read the config"):
        Experiment(voc_config(voc), model_dir, strategy=one_cpu_strategy(), progress=False)
    assert open(os.path.join(model_dir, "config.json")).read() == '{"name": "tiny", "lnet": {'


def test_config_json_with_an_unknown_field_names_the_file(tmp_path):
    from absl import flags as absl_flags

    from tsss_tf.flags import resolve_config

    model_dir = tmp_path / "run"
    model_dir.mkdir()
    (model_dir / "config.json").write_text('{"name": "tiny", "lnet": {"stepz": 3}}')

    class F:  # the parsed flags resolve_config reads
        set, seed, data_dir, config = [], None, None, "tiny"
    F.model_dir = str(model_dir)
    del absl_flags
    with pytest.raises(ConfigError, match=r"run/config\.json: unknown config field 'lnet\.stepz'"):
        resolve_config(F, prefer_model_dir=True)


def test_overrides_of_a_voc_config_are_valid():
    """The helper's overrides take effect and pass every value check, and each config case
    above still fails on top of them: the cases fail for their own override alone."""
    cfg = load_config("tiny", voc_overrides("/x"))
    assert (cfg.data.dataset, cfg.data.data_dir, cfg.split.name) == ("voc", "/x", "rel")
    assert (cfg.split.strong, cfg.split.weak) == (("cat", "dog"), ("cow", "sheep"))
    assert (cfg.lnet.steps, cfg.pnet.steps, cfg.data.crop_size) == (4, 4, 32)
    assert cfg.validate() is cfg
    for _, overrides, pattern in CONFIG_CASES:
        with pytest.raises(ConfigError, match=pattern):
            load_config("tiny", voc_overrides("/x") + overrides).validate()


def test_train_cli_reports_a_corrupt_image_in_one_line_and_writes_nothing(voc, tmp_path):
    from tests.reliability import cli

    _truncate(_img(voc, "w2"))
    model_dir = str(tmp_path / "run")
    out = cli.run(cli.train_argv(model_dir, voc, stage="lnet"))
    assert out.returncode == 2, out.stderr[-3000:]
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1] == (
        f"error: {_img(voc, 'w2')}: not a readable image (Truncated File Read)")
    assert leftovers(model_dir) == [] and temporaries(model_dir) == []
