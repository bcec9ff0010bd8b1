"""Property-based tests (hypothesis) of the readers and splits, on random small images and
masks written to temporary folders."""

import io
import os
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.helpers import write_voc_fixture
from tsss_tf.config import DataConfig
from tsss_tf.data.sources import ExperimentData, index_image
from tsss_tf.data.splits import STRONG, WEAK, Split, SplitError
from tsss_tf.data.voc import (DataError, VocLayout, check_image_file, present_classes,
                              read_mask_file, write_palette_png)

SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def image_and_mask(draw, num_classes=None, max_side=20):
    h = draw(st.integers(1, max_side))
    w = draw(st.integers(1, max_side))
    k = num_classes or draw(st.integers(1, 12))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    values = np.array(draw(st.lists(st.integers(0, k - 1), min_size=1, max_size=4))
                      + ([255] if draw(st.booleans()) else []), np.uint8)
    mask = values[rng.integers(0, len(values), (h, w))]
    return image, mask, k


def _write_pair(folder, image, mask, fmt="PNG"):
    ipath = os.path.join(folder, "image." + ("jpg" if fmt == "JPEG" else "png"))
    mpath = os.path.join(folder, "mask.png")
    Image.fromarray(image).save(ipath, fmt)
    write_palette_png(mpath, mask)
    return ipath, mpath


@SETTINGS
@given(image_and_mask(), st.sampled_from(["PNG", "JPEG"]))
def test_valid_pairs_read_back_exactly(example, fmt):
    image, mask, k = example
    with tempfile.TemporaryDirectory() as d:
        ipath, mpath = _write_pair(d, image, mask, fmt)
        assert check_image_file(ipath) == image.shape[:2]
        got = read_mask_file(mpath, k, image.shape)
        np.testing.assert_array_equal(got, mask)
        expected = sorted(set(np.unique(mask).tolist()) - {255})
        assert present_classes(got, k).tolist() == expected
        assert index_image(ipath, mpath, k).tolist() == expected


@SETTINGS
@given(image_and_mask(), st.data())
def test_labels_outside_the_classes_are_named(example, data):
    image, mask, k = example
    assume(k < 254)
    bad = data.draw(st.integers(k, 254))
    y, x = data.draw(st.integers(0, mask.shape[0] - 1)), data.draw(
        st.integers(0, mask.shape[1] - 1))
    mask = mask.copy()
    mask[y, x] = bad
    with tempfile.TemporaryDirectory() as d:
        ipath, mpath = _write_pair(d, image, mask)
        bads = sorted(v for v in np.unique(mask).tolist() if k <= v < 255)
        with pytest.raises(DataError) as info:
            index_image(ipath, mpath, k)
        msg = str(info.value)
        assert msg.startswith(mpath) and f"label values {bads[:10]}" in msg
        assert f"outside the {k} classes" in msg


@SETTINGS
@given(image_and_mask(), st.integers(1, 20), st.integers(1, 20))
def test_a_mask_of_another_size_is_named(example, mh, mw):
    image, mask, k = example
    assume((mh, mw) != image.shape[:2])
    with tempfile.TemporaryDirectory() as d:
        ipath, mpath = _write_pair(d, image, np.zeros((mh, mw), np.uint8))
        with pytest.raises(DataError) as info:
            index_image(ipath, mpath, k)
        h, w = image.shape[:2]
        assert str(info.value).startswith(
            f"{mpath}: mask size {mw}x{mh} differs from its image's {w}x{h}")


@SETTINGS
@given(image_and_mask(), st.sampled_from(["PNG", "JPEG"]), st.floats(0.0, 0.98))
def test_a_truncated_image_is_named(example, fmt, keep):
    image, _, _ = example
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, fmt)
    data = buf.getvalue()
    cut = min(int(len(data) * keep), len(data) - 1)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "x.png")
        with open(path, "wb") as f:
            f.write(data[:cut])
        with pytest.raises(DataError) as info:
            check_image_file(path)
        assert str(info.value).startswith(f"{path}: ")


CLASSES = ["background", "a", "b", "c", "d", "e", "f"]


@st.composite
def splits(draw):
    cats = CLASSES[1:]
    roles = draw(st.lists(st.sampled_from(["strong", "weak", "none"]), min_size=len(cats),
                          max_size=len(cats)))
    strong = tuple(c for c, r in zip(cats, roles) if r == "strong")
    weak = tuple(c for c, r in zip(cats, roles) if r == "weak")
    assume(strong or weak)
    other = draw(st.sampled_from(["ignore", "background"]))
    return Split("p", strong=strong, weak=weak, other=other)


@SETTINGS
@given(splits())
def test_split_class_space_and_lut(split):
    names = split.class_names(CLASSES)
    assert names[0] == "background"
    assert list(names[1:]) == [c for c in CLASSES if c in split.strong + split.weak]
    lut = split.label_lut(CLASSES)
    kinds = split.category_kinds(CLASSES)
    for i, c in enumerate(CLASSES):
        if c in names:
            assert names[lut[i]] == c
            assert kinds[lut[i]] == (0 if c == "background" else 1 if c in split.strong else 2)
        else:
            assert lut[i] == (0 if split.other == "background" else 255)
    assert lut[255] == 255


@SETTINGS
@given(splits(), st.sampled_from(CLASSES[1:]), st.text("xyz", min_size=1, max_size=4))
def test_split_errors_name_the_category(split, both, unknown):
    doubled = Split("p", strong=split.strong + ((both,) if both not in split.strong else ()),
                    weak=split.weak + ((both,) if both not in split.weak else ()))
    with pytest.raises(SplitError, match=f"\\['{both}'\\] listed as both"):
        doubled.validate(CLASSES)
    stranger = Split("p", strong=split.strong, weak=split.weak + (unknown,))
    with pytest.raises(SplitError, match=f"names categories \\['{unknown}'\\] unknown"):
        stranger.validate(CLASSES)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(image_and_mask(num_classes=len(CLASSES), max_side=12), min_size=1,
                max_size=6), splits())
def test_index_tags_and_kinds_follow_the_masks(examples, split):
    with tempfile.TemporaryDirectory() as d:
        ex = {f"n{i}": (im, m) for i, (im, m, _) in enumerate(examples)}
        write_voc_fixture(d, CLASSES, ex, {"train": list(ex)}, "png")
        data = ExperimentData(DataConfig(dataset="voc", data_dir=d), split,
                              VocLayout(d))
        recs = data.records("train")
        assert [r.name for r in recs] == list(ex)
        lut = split.label_lut(CLASSES)
        for r in recs:
            mask = ex[r.name][1]
            present = sorted({int(lut[v]) for v in np.unique(mask)} - {255, 0})
            assert list(r.present) == present
            names = {data.class_names[i] for i in present}
            assert r.kind == (WEAK if names & set(split.weak) else STRONG)
