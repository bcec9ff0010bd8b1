import os

import numpy as np
import pytest
from PIL import Image

from tests.helpers import blob_example, write_voc_fixture
from tsss_tf.data.voc import DataError, VOC_CLASSES, VocLayout, present_classes


def _fixture(tmp_path, rng, image_format="png"):
    ex = {"a_01": blob_example(37, 53, [1, 2], rng), "b_02": blob_example(41, 29, [3], rng)}
    ex["a_01"][1][0:4, 0:4] = 255  # an ignore region
    return write_voc_fixture(str(tmp_path / "voc"), ["background", "cat", "dog", "cow"], ex,
                             {"train": ["a_01"], "val": ["b_02"]}, image_format), ex


def test_reads_palette_masks_ignore_and_odd_sizes(tmp_path, rng):
    root, ex = _fixture(tmp_path, rng)
    ds = VocLayout(root)
    assert ds.class_names == ("background", "cat", "dog", "cow")
    assert ds.available_sets() == ["train", "val"]
    assert ds.image_ids("train") == ["a_01"]
    with Image.open(ds.mask_path("a_01")) as im:
        assert im.mode == "P"  # stored as a palette PNG, like VOC
    image, mask = ds.read_example("a_01")
    assert image.shape == (37, 53, 3) and mask.shape == (37, 53)
    np.testing.assert_array_equal(image, ex["a_01"][0])
    np.testing.assert_array_equal(mask, ex["a_01"][1])
    assert mask[0, 0] == 255
    assert present_classes(mask, 4).tolist() == [0, 1, 2]
    assert ds.read_example("b_02")[0].shape == (41, 29, 3)


def test_jpeg_images_and_default_voc_classes(tmp_path, rng):
    ex = {"x": blob_example(20, 30, [15], rng)}
    root = write_voc_fixture(str(tmp_path / "v"), None, ex, {"val": ["x"]}, "jpg")
    ds = VocLayout(root)
    assert ds.class_names == VOC_CLASSES and ds.num_classes == 21
    image, mask = ds.read_example("x")
    assert image.shape == (20, 30, 3)
    with Image.open(ds.image_path("x")) as im:
        assert ds.image_path("x").endswith(".jpg")
        np.testing.assert_array_equal(image, np.asarray(im.convert("RGB")))
    assert mask.max() == 15


def test_errors_name_the_file(tmp_path, rng):
    root, _ = _fixture(tmp_path, rng)
    ds = VocLayout(root)
    with pytest.raises(DataError, match="test.txt"):
        ds.image_ids("test")
    # label outside the class range
    bad = np.full((37, 53), 9, np.uint8)
    Image.fromarray(bad, mode="L").save(ds.mask_path("a_01"))
    with pytest.raises(DataError, match=r"a_01\.png.*\[9\]"):
        ds.read_mask("a_01")
    # mask size differs from the image
    Image.fromarray(np.zeros((5, 5), np.uint8), mode="L").save(ds.mask_path("a_01"))
    with pytest.raises(DataError, match=r"a_01\.png.*differs"):
        ds.read_example("a_01")
    # corrupt image
    with open(ds.image_path("b_02"), "wb") as f:
        f.write(b"not an image")
    with pytest.raises(DataError, match="b_02"):
        ds.read_image("b_02")
    # a set naming a missing file
    with open(ds.set_path("val"), "a") as f:
        f.write("ghost\n")
    with pytest.raises(DataError, match="ghost"):
        ds.image_ids("val")
    with pytest.raises(DataError, match="does not exist"):
        VocLayout(os.path.join(root, "nope"))


@pytest.mark.slow
@pytest.mark.parametrize("name, sizes, num_classes", [
    ("msrc_things", {"train": 276, "val": 59, "test": 256}, 16),
    ("camvid", {"train": 367, "val": 101, "test": 233}, 11),
])
def test_real_data_split_sizes_and_label_ranges(name, sizes, num_classes):
    from tests.conftest import shared_data

    ds = VocLayout(shared_data(name))
    assert ds.num_classes == num_classes
    seen = set()
    for set_name, n in sizes.items():
        ids = ds.image_ids(set_name)
        assert len(ids) == n
        for i in ids:
            image, mask = ds.read_example(i)  # validates size and label range
            seen.update(np.unique(mask).tolist())
    assert seen <= set(range(num_classes)) | {255}
    assert len(seen - {255}) == num_classes


@pytest.mark.slow
def test_msrc_things_50_split_matches_its_readme():
    from tests.conftest import shared_data
    from tsss_tf.config import load_config
    from tsss_tf.data.sources import ExperimentData
    from tsss_tf.data.splits import Split

    cfg = load_config("msrc_things_50", [f"data.data_dir={shared_data('msrc_things')}"])
    data = ExperimentData(cfg.data, Split.from_config(cfg.split))
    recs = data.train_records()
    # README: 125 strong-only images + 49 background-only (strong) and 102 with a weak object
    assert data.counts(recs) == {"strong": 174, "weak": 102}
    assert sum(1 for r in recs if not r.present) == 49
