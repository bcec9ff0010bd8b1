"""Hostile requests to an export: an image whose header declares more pixels than the export
accepts is refused before decoding, with bounded memory; a large legitimate photo still goes
through (or, where asked, is decoded at a reduced scale); a malformed batch or tags tensor is a
named error, fed the way TF Serving feeds it (no client-side shape check)."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests.hostile import jpeg_bytes, photo, png_bomb
from tests.serving.conftest import HERE, run_cli
from tsss_tf.image_limits import ImageLimits
from tsss_tf.models import PNet
from tsss_tf.serving.errors import ExportError
from tsss_tf.serving.exporter import export_saved_model, read_metadata, remove_stale_temporaries
from tsss_tf.serving.predictor import ExportedSegmenter

TINY = {"width": 8, "stage3_blocks": 2}
# Decoding the 10000 x 10000 request alone takes 300 MB (RGB); before the header check the
# class_map signature grew the serving process by 2.4 GB (5 classes; 4.9 GB for
# serving_default, 7.2 GB reported with 21 classes). Refused from its header it costs nothing
# measurable (0 MB), so any growth near the decode's 300 MB means the image was decoded.
MAX_GROWTH_MB = 200


def test_an_oversized_png_is_refused_before_decoding_with_bounded_memory(exported, tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_bomb(10000, 10000))
    assert bomb.stat().st_size < 30_000
    res = run_cli(os.path.join(HERE, "memory_probe.py"), exported.path, str(bomb))
    assert res.returncode == 0, res.stderr[-3000:]
    info = json.loads(res.stdout.strip().splitlines()[-1])
    assert "image_bytes: images larger than this model accepts (50 megapixels and 20000 " \
           "pixels a side)" in info["error"]
    assert "[heights] [10000] [widths] [10000]" in info["error"]
    growth = info["after_mb"] - info["before_mb"]
    assert growth < MAX_GROWTH_MB, f"peak memory grew by {growth:.0f} MB"


def test_the_export_records_its_image_limits(exported):
    meta = read_metadata(exported.path)
    assert meta["image_limits"] == {"max_pixels": 50_000_000, "max_side": 20_000,
                                    "resize": False}
    assert ExportedSegmenter(exported.path).image_limits == ImageLimits()


def test_a_large_legitimate_photo_goes_through(exported):
    """2400 x 1800 (4.3 megapixels; the model was trained on 64 px crops): segmented at its
    own size."""
    segmenter = ExportedSegmenter(exported.path)
    (class_map,) = segmenter.predict([jpeg_bytes(photo(1800, 2400))])
    assert class_map.shape == (1800, 2400)
    assert class_map.min() >= 0 and class_map.max() < len(segmenter.class_names)


@pytest.fixture(scope="module")
def small_limits_export(tmp_path_factory):
    """A tiny P-Net exported with limits of 1 megapixel, 1500 px a side, large JPEGs resized."""
    keras.utils.set_random_seed(3)
    model = PNet(3, backbone_kwargs=TINY, head_width=8)
    model.build((None, None, None, 3))
    base = str(tmp_path_factory.mktemp("limits") / "e")
    return export_saved_model(model, ["bg", "a", "b"], 1, 48, base,
                              image_limits=ImageLimits(1_000_000, 1500, resize=True))


def test_resize_large_images_decodes_a_larger_jpeg_at_a_reduced_scale(small_limits_export):
    segmenter = ExportedSegmenter(small_limits_export)
    fits, half, eighth = photo(600, 800), photo(1200, 1600), photo(2000, 2800)
    maps = segmenter.predict([jpeg_bytes(fits), jpeg_bytes(half), jpeg_bytes(eighth)])
    # 1200 x 1600 is 1.9 MP: 1/2 scale fits; 2000 x 2800 needs 1/4 (its side 1400 < 1500).
    assert [m.shape for m in maps] == [(600, 800), (600, 800), (500, 700)]
    png = tf.io.encode_png(half).numpy()  # a PNG cannot be decoded at a reduced scale
    with pytest.raises(ExportError, match=r"the export refused the input: .*images larger than "
                       r"this model accepts \(1 megapixels and 1500 pixels a side; larger JPEGs "
                       r"are decoded at a reduced scale"):
        segmenter.predict([jpeg_bytes(fits), png])


def _tf_serving_call(export, signature, feeds):
    """Runs a signature as TF Serving does: TF1 session loader, tensors fed as they come."""
    from tensorflow.core.protobuf import config_pb2

    tf1 = tf.compat.v1
    with tf.Graph().as_default() as graph, tf1.Session(graph=graph) as sess:
        meta = tf1.saved_model.loader.load(sess, ["serve"], export)
        sig = meta.signature_def[signature]
        options = config_pb2.CallableOptions(feed=[sig.inputs[k].name for k in feeds],
                                             fetch=[sig.outputs["class_map"].name])
        call = sess._make_callable_from_options(options)
        try:
            return call(*feeds.values())[0]
        except tf.errors.InvalidArgumentError as e:
            return e.message.strip().splitlines()[0]


PNG = tf.io.encode_png(np.zeros((20, 30, 3), np.uint8)).numpy()
MALFORMED = [
    ("scalar_bytes", "class_map", {"image_bytes": np.array(PNG, dtype=object)},
     "[image_bytes: wants a vector [batch] of encoded JPEG or PNG images;] [got shape] []"),
    ("matrix_bytes", "class_map", {"image_bytes": np.array([[PNG, PNG]], dtype=object)},
     "[image_bytes: wants a vector [batch] of encoded JPEG or PNG images;] [got shape] [1 2]"),
    ("narrow_tags", "class_map_with_tags",
     {"image_bytes": np.array([PNG], dtype=object), "tags": np.ones((1, 2), np.int32)},
     "[tags: wants int32 [batch, 5] (one row per image, one 0/1 column per class of "
     "assets/class_names.txt); batch] [1] [got shape] [1 2]"),
    ("vector_tags", "with_tags",
     {"image_bytes": np.array([PNG], dtype=object), "tags": np.ones((5,), np.int32)},
     "[got shape] [5]"),
    ("tags_rows", "class_map_with_tags",
     {"image_bytes": np.array([PNG], dtype=object), "tags": np.ones((2, 5), np.int32)},
     "batch] [1] [got shape] [2 5]"),
]


@pytest.mark.parametrize("case", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_inputs_are_named_errors_as_tf_serving_feeds_them(case, exported):
    _, signature, feeds, message = case
    out = _tf_serving_call(exported.path, signature, feeds)
    assert isinstance(out, str) and out.startswith("assertion failed: "), out
    assert message in out


def test_a_well_formed_request_still_runs_as_tf_serving_feeds_it(exported):
    out = _tf_serving_call(exported.path, "class_map_with_tags",
                           {"image_bytes": np.array([PNG, PNG], dtype=object),
                            "tags": np.ones((2, 5), np.int32)})
    assert out.shape == (2, 20, 30)


def test_a_killed_exports_temporary_folder_is_removed_at_the_next_export(tmp_path):
    from tsss_tf.serving.exporter import STALE_TMP_S, _host

    base = tmp_path / "exports"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(gone.stdout)  # that process has ended
    folders = {
        "dead": f".tmp-1-{dead_pid}@{_host()}-abc",       # killed export of this host: removed
        "live": f".tmp-2-{os.getpid()}@{_host()}-def",    # an export still running: kept
        "other_host": f".tmp-3-{dead_pid}@elsewhere-ghi",  # pid of another host: by age only
        "old_name": ".tmp-4-jkl12",                       # before pids were named: by age only
        "aged": ".tmp-5-mno34",
    }
    for name in folders.values():
        (base / name / "saved_model").mkdir(parents=True)
    old = os.path.getmtime(base / folders["aged"]) - STALE_TMP_S - 60
    os.utime(base / folders["aged"], (old, old))
    keras.utils.set_random_seed(3)
    model = PNet(2, backbone_kwargs=TINY, head_width=8)
    model.build((None, None, None, 3))
    path = export_saved_model(model, ["bg", "a"], 1, 32, str(base))
    assert path == str(base / "1")  # the .tmp folders are no versions
    left = sorted(n for n in os.listdir(base) if n.startswith(".tmp-"))
    assert left == sorted(folders[k] for k in ("live", "other_host", "old_name"))
    assert remove_stale_temporaries(str(base)) == []


def test_predict_refuses_an_oversized_image_in_one_line_before_loading(exported, tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_bomb(10000, 10000))
    res = run_cli("-m", "tsss_tf.predict", f"--export_dir={exported.base}",
                  f"--out_dir={tmp_path / 'out'}", str(bomb))
    assert res.returncode == 2, res.stderr[-3000:]
    assert "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1] == (
        f"error: {bomb}: 10000x10000 pixels (100.0 megapixels) is over the image size limit "
        "of 50 megapixels and 20000 pixels a side; --max_image_pixels / --max_image_side raise "
        "the limit; --resize_large_images decodes a larger JPEG at a reduced scale")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_predict_resize_large_images_writes_maps_at_the_reduced_scale(exported, tmp_path):
    big = tmp_path / "big.jpg"
    big.write_bytes(jpeg_bytes(photo(1200, 1600)))
    res = run_cli("-m", "tsss_tf.predict", f"--export_dir={exported.base}",
                  f"--out_dir={tmp_path / 'out'}", "--max_image_pixels=1000000",
                  "--resize_large_images", str(big))
    assert res.returncode == 0, res.stderr[-3000:]
    assert "decoded at 1/2 scale (800x600)" in res.stdout
    for suffix in ("_overlay.png", "_classes.png"):
        with Image.open(tmp_path / "out" / f"big{suffix}") as im:
            assert im.size == (800, 600)
