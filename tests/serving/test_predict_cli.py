"""`python -m tsss_tf.predict`: overlays and raw class maps from an export."""

import os

import numpy as np
from PIL import Image

from tests.serving.conftest import ALL, decode, image_files, run_cli
from tsss_tf.data.palette import color_palette


def test_predict_writes_overlays_and_class_maps(exported, run, served, tmp_path):
    files = image_files(run.cfg)
    picks = [files[0], files[-1]]  # a 203 x 317 PNG and the 97 x 131 JPEG
    out = tmp_path / "pred"
    res = run_cli("-m", "tsss_tf.predict", f"--export_dir={exported.base}", f"--out_dir={out}",
                  *picks)
    assert res.returncode == 0, res.stderr[-2000:]
    for path, index in zip(picks, (0, len(ALL) - 1)):
        stem = os.path.splitext(os.path.basename(path))[0]
        h, w = served.arrays["bytes/image_size"][index]
        want = served.arrays["bytes/class_map"][index, :h, :w]
        with Image.open(out / f"{stem}_classes.png") as im:
            assert im.mode == "P"
            assert np.array_equal(np.asarray(im), want)
            palette = np.array(im.getpalette()[:30], np.uint8).reshape(-1, 3)
            np.testing.assert_array_equal(palette, color_palette(10))
        with Image.open(out / f"{stem}_overlay.png") as im:
            picture = np.asarray(im.convert("RGB"))
        image = decode(path) if path.endswith(".png") else picture
        assert picture.shape == (h, w, 3)
        background = want == 0
        np.testing.assert_array_equal(picture[background], image[background])
    assert sorted(os.listdir(out)) == sorted(
        f"{os.path.splitext(os.path.basename(p))[0]}_{kind}.png" for p in picks
        for kind in ("classes", "overlay"))


def test_predict_reports_a_missing_file(exported, tmp_path):
    res = run_cli("-m", "tsss_tf.predict", f"--export_dir={exported.base}",
                  f"--out_dir={tmp_path}", str(tmp_path / "missing.png"))
    assert res.returncode == 2
    assert "missing.png: No such file or directory" in res.stderr
    assert "Traceback" not in res.stderr
