"""Hostile files in a data folder and a full disk: each ends in one line naming the culprit.

- an image whose header declares more than the size limit (50 megapixels, 20000 px a side) is
  refused before decoding, and PIL's DecompressionBombError never escapes;
- NAME.jpg next to NAME.png is ambiguous;
- a JPEG cut short whose end marker was appended again is found;
- "No space left on device" (Python or TensorFlow) is one line, exit status 2;
- the pseudo-label folder errors say what to delete (not a Python argument).
"""

import errno
import os
import subprocess
import sys
import time

import pytest
from PIL import Image

from tests.conftest import one_cpu_strategy
from tests.hostile import cut_with_end_marker, jpeg_bytes, photo, png_bomb
from tests.reliability import cli
from tests.reliability.conftest import voc_config, write_voc
from tsss_tf.data.voc import DataError, VocLayout, check_image_file
from tsss_tf.image_limits import ImageLimits, image_header


def test_an_image_over_the_size_limit_is_refused_from_its_header(voc):
    path = os.path.join(voc, "JPEGImages", "s1.png")
    with open(path, "wb") as f:
        f.write(png_bomb(10000, 10000))  # 12 KB, 300 MB decoded
    started = time.perf_counter()
    with pytest.raises(DataError, match=(
            rf"^{path}: 10000x10000 pixels \(100.0 megapixels\) is over the image size limit of "
            r"50 megapixels and 20000 pixels a side; downscale the file \(the training pipeline "
            r"decodes images at full size\)$")):
        check_image_file(path)
    with pytest.raises(DataError, match="is over the image size limit"):
        VocLayout(voc).read_image("s1")
    assert time.perf_counter() - started < 5  # nothing was decoded (decoding takes seconds)
    with open(path, "wb") as f:
        f.write(png_bomb(24, 25000))  # few pixels, one side too long
    with pytest.raises(DataError, match=r"25000x24 pixels .* is over the image size limit"):
        check_image_file(path)


def test_pil_decompression_bomb_error_never_escapes(tmp_path):
    """Over PIL's own limit (2 x 89.5 megapixels) Image.open raises DecompressionBombError,
    which is no OSError: it is a DataError here, even with the size limit raised above it."""
    path = str(tmp_path / "JPEGImages" / "huge.png")
    os.makedirs(os.path.dirname(path))
    (tmp_path / "SegmentationClass").mkdir()
    with open(path, "wb") as f:
        f.write(png_bomb(10000, 20000))  # 200 megapixels
    raised = ImageLimits(max_pixels=10 ** 9, max_side=10 ** 5)
    with pytest.raises(DataError, match=rf"^{path}: the image is too large \(Image size"):
        check_image_file(path, raised)
    with pytest.raises(DataError, match=rf"^{path}: the image is too large for PIL"):
        VocLayout(str(tmp_path)).read_image("huge", raised)
    with pytest.raises(DataError, match=r"200.0 megapixels\) is over the image size limit"):
        check_image_file(path)


def test_read_image_resizes_a_large_jpeg_where_asked(tmp_path):
    root = tmp_path / "d"
    (root / "JPEGImages").mkdir(parents=True)
    (root / "SegmentationClass").mkdir()
    (root / "JPEGImages" / "big.jpg").write_bytes(jpeg_bytes(photo(1200, 1600)))
    layout = VocLayout(str(root))
    assert layout.read_image("big").shape == (1200, 1600, 3)
    small = ImageLimits(max_pixels=1_000_000, max_side=5000)
    with pytest.raises(DataError, match=r"1600x1200 pixels \(1.9 megapixels\) is over"):
        layout.read_image("big", small)
    resized = ImageLimits(max_pixels=1_000_000, max_side=5000, resize=True)
    assert layout.read_image("big", resized).shape == (600, 800, 3)


def test_header_sizes_match_the_decoders():
    data = jpeg_bytes(photo(37, 51), progressive=True)
    assert image_header(data) == ("JPEG", 37, 51)
    assert image_header(png_bomb(7, 9)) == ("PNG", 7, 9)
    assert image_header(b"GIF89a....") is None


def test_both_jpg_and_png_of_one_name_are_ambiguous(voc):
    png = os.path.join(voc, "JPEGImages", "w1.png")
    jpg = os.path.join(voc, "JPEGImages", "w1.jpg")
    with Image.open(png) as im:
        im.convert("RGB").save(jpg, quality=95)
    with pytest.raises(DataError, match=rf"^image 'w1' is ambiguous: {jpg} and {png} both exist; "
                       r"keep one of them$"):
        VocLayout(voc).image_path("w1")
    with pytest.raises(DataError, match="image 'w1' is ambiguous"):
        VocLayout(voc).image_ids("train")


@pytest.mark.parametrize("progressive", [False, True], ids=["baseline", "progressive"])
def test_a_jpeg_cut_short_with_its_end_marker_appended_is_refused(progressive, tmp_path):
    data = jpeg_bytes(photo(240, 320), progressive=progressive)
    good, cut = tmp_path / "good.jpg", tmp_path / "cut.jpg"
    good.write_bytes(data)
    cut.write_bytes(cut_with_end_marker(data, 0.7))
    assert check_image_file(str(good)) == (240, 320)
    # What it was let through as: a valid JPEG that decodes (grey where the data is missing).
    with Image.open(cut) as im:
        im.load()
    with pytest.raises(DataError, match=rf"^{cut}: the JPEG file is cut short \(its compressed "
                       r"data ends before the last rows"):
        check_image_file(str(cut))


def test_a_cut_jpeg_in_a_data_set_stops_the_run_before_anything_is_written(tmp_path):
    from tsss_tf.experiment import Experiment

    root = write_voc(tmp_path / "voc", image_format="jpg")
    path = os.path.join(root, "JPEGImages", "w2.jpg")
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(cut_with_end_marker(data, 0.5))
    with pytest.raises(DataError, match=rf"^{path}: the JPEG file is cut short"):
        Experiment(voc_config(root), str(tmp_path / "run"), strategy=one_cpu_strategy(),
                   progress=False)


FULL_DISK = """
import sys
from tsss_tf.flags import user_errors
with user_errors():
    if sys.argv[1] == "python":
        with open("/dev/full", "wb") as f:
            f.write(b"x" * 100)
    else:
        import tensorflow as tf
        tf.io.write_file("/dev/full", b"x" * 100)
"""


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("writer", ["python", "tensorflow"])
def test_a_full_disk_ends_in_one_line(writer):
    out = subprocess.run([sys.executable, "-c", FULL_DISK, writer], capture_output=True,
                         text=True, timeout=120, cwd=cli.REPO, env=cli.environment())
    assert out.returncode == 2, out.stderr[-3000:]
    assert "Traceback" not in out.stderr
    last = out.stderr.strip().splitlines()[-1]
    if writer == "python":
        assert last == ("error: no space left on the device (No space left on device): free "
                        "some space or write elsewhere, then run the same command again")
    else:
        assert last == ("error: no space left on the device (/dev/full; No space left on "
                        "device): free some space or write elsewhere, then run the same command "
                        "again")


def test_a_full_disk_is_found_in_the_exception_chain():
    from tsss_tf.flags import _pipeline_data_error

    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "/run/lnet/metrics.json")
        except OSError as e:
            raise RuntimeError("saving failed") from e
    except RuntimeError as e:
        message = _pipeline_data_error(e)
    assert message.startswith("no space left on the device writing /run/lnet/metrics.json "
                              "(No space left on device)")
    assert _pipeline_data_error(OSError(errno.EACCES, "Permission denied")) is None


@pytest.mark.parametrize("case", ["fingerprint", "no_manifest", "bad_manifest"])
def test_pseudo_label_folder_errors_say_what_to_delete(case, tmp_path):
    import numpy as np

    from tsss_tf.transfer.pseudo_labels import PseudoLabelStore

    folder = str(tmp_path / "labels")
    PseudoLabelStore(folder, "old").write("a", np.zeros((4, 4), np.uint8))
    if case == "no_manifest":
        os.remove(os.path.join(folder, "manifest.json"))
    elif case == "bad_manifest":
        with open(os.path.join(folder, "manifest.json"), "w") as f:
            f.write("{not json")
    with pytest.raises(ValueError) as info:
        PseudoLabelStore(folder, "new")
    msg = str(info.value)
    assert f"delete the folder {folder} to write the labels afresh" in msg
    assert "reset=True" not in msg


def test_masks_over_the_size_limit_end_in_one_line_naming_the_file(tmp_path, capsys):
    """The mask reader (voc.read_mask_file) checks the size from the header; PIL's
    DecompressionBombError (no OSError), raised before any size can be read, is named too."""
    from tsss_tf.data.voc import read_mask_file
    from tsss_tf.flags import user_errors

    path = str(tmp_path / "mask.png")
    with open(path, "wb") as f:
        f.write(png_bomb(10000, 20000))
    with pytest.raises(SystemExit) as info:
        with user_errors():
            read_mask_file(path, 5)
    assert info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(
        f"error: {path}: the mask is too large to decode (Image size (200000000 pixels) "
        "exceeds limit")
    big = str(tmp_path / "big.png")
    with open(big, "wb") as f:
        f.write(png_bomb(8000, 8000))  # 64 MP: under PIL's limit, over the default 50 MP
    with pytest.raises(DataError, match=rf"^{big}: 8000x8000 pixels \(64.0 megapixels\) is "
                                        r"over the image size limit"):
        read_mask_file(big, 5)
