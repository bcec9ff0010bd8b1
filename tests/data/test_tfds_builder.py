"""The offline tfds builder: built from a VOC-layout fixture with every network call refused."""

import importlib
import os
import socket

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from tests.helpers import blob_example, write_voc_fixture
from tsss_tf.data import tfds_builder
from tsss_tf.data.tfds_builder import VocLayoutBuilder, build_tfds, class_names, load_tfds_split
from tsss_tf.data.voc import DataError, VocLayout

CLASSES = ["background", "cat", "dog", "car"]


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[1:] or kwargs}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def _fixture(root):
    rng = np.random.default_rng(0)
    examples = {
        "a_01": blob_example(37, 53, [1, 2], rng),
        "b_02": blob_example(41, 29, [3], rng),
        "c_03": blob_example(37, 53, [2], rng),
    }
    examples["a_01"][1][30:, 40:] = 255            # an ignore region
    examples["b_02"][1][:] = np.where(examples["b_02"][1] == 3, 255, 0)  # only bg + ignore
    sets = {"train": ["c_03", "a_01"], "val": ["b_02"]}
    write_voc_fixture(root, CLASSES, examples, sets, image_format="png")
    # one RGB JPEG (stored with its own bytes) and one grey PNG (stored as decoded RGB)
    jpg = blob_example(33, 47, [1], rng)
    Image.fromarray(jpg[0]).save(os.path.join(root, "JPEGImages", "d_04.jpg"), quality=95)
    Image.fromarray(jpg[1], mode="L").save(os.path.join(root, "SegmentationClass", "d_04.png"))
    grey = blob_example(19, 23, [2], rng)
    Image.fromarray(grey[0][..., 0], mode="L").save(os.path.join(root, "JPEGImages", "e_05.png"))
    Image.fromarray(grey[1], mode="L").save(os.path.join(root, "SegmentationClass", "e_05.png"))
    with open(os.path.join(root, "ImageSets", "Segmentation", "extra-set.txt"), "w") as f:
        f.write("d_04\ne_05\n")
    return examples, sets


def test_build_offline_and_read_back(tmp_path, no_network):
    manual = str(tmp_path / "voc")
    examples, sets = _fixture(manual)
    builder = build_tfds(manual, str(tmp_path / "tfds"))

    assert builder.info.full_name == "tsss_voc_layout/1.1.0"
    assert {k: v.num_examples for k, v in builder.info.splits.items()} == \
        {"train": 2, "val": 1, "extra-set": 2}
    assert class_names(builder) == CLASSES
    assert builder.info.metadata["ignore_label"] == 255
    assert builder.info.features["labels"].feature.names == CLASSES

    for split, names in sets.items():
        got = list(load_tfds_split(builder, split).as_numpy_iterator())
        assert [g["name"].decode() for g in got] == names  # set-file order
        for g in got:
            image, mask = examples[g["name"].decode()]
            assert g["image"].dtype == np.uint8 and g["mask"].dtype == np.uint8
            assert g["mask"].shape == mask.shape
            np.testing.assert_array_equal(g["image"], image)
            np.testing.assert_array_equal(g["mask"], mask)
    assert (examples["a_01"][1] == 255).any()

    # the raw tfds features: file name with extension, present labels without the ignore label
    raw = builder.as_dataset(split="train").as_numpy_iterator()
    raw = {r["file_name"].decode(): r for r in raw}
    assert set(raw) == {"a_01.png", "c_03.png"}
    assert raw["a_01.png"]["labels"].tolist() == [0, 1, 2]
    assert raw["c_03.png"]["labels"].tolist() == [0, 2]
    assert raw["a_01.png"]["segmentation_mask"].shape == (37, 53, 1)

    layout = VocLayout(manual)
    extra = load_tfds_split(builder, "extra-set").as_numpy_iterator()
    extra = {g["name"].decode(): g for g in extra}
    with open(os.path.join(manual, "JPEGImages", "d_04.jpg"), "rb") as f:
        jpeg_bytes = f.read()
    raw_d = next(iter(builder.as_dataset(
        split="extra-set", decoders={"image": tfds.decode.SkipDecoding()})))
    assert raw_d["image"].numpy() == jpeg_bytes          # the JPEG's own bytes, not re-encoded
    # decoded with the accurate DCT: the same pixels as PIL
    np.testing.assert_array_equal(extra["d_04"]["image"], layout.read_image("d_04"))
    np.testing.assert_array_equal(extra["d_04"]["mask"], layout.read_mask("d_04"))
    np.testing.assert_array_equal(extra["e_05"]["image"], layout.read_image("e_05"))  # grey->RGB
    assert extra["e_05"]["image"].shape == (19, 23, 3)

    # a prepared folder reads back without manual_dir; class names restored from disk
    again = VocLayoutBuilder(data_dir=str(tmp_path / "tfds"))
    assert class_names(again) == CLASSES
    assert again.info.features["labels"].feature.names == CLASSES
    assert again.info.splits["val"].num_examples == 1
    # ... and without this package's builder class at all
    ro = tfds.builder_from_directory(str(tmp_path / "tfds" / "tsss_voc_layout" / "1.1.0"))
    assert ro.info.metadata["class_names"] == CLASSES
    # building again into the same data_dir reuses it
    assert build_tfds(manual, str(tmp_path / "tfds")).info.splits["train"].num_examples == 2


def test_tag_only_images_become_examples_without_a_mask(tmp_path, no_network):
    manual = str(tmp_path / "voc")
    examples, _ = _fixture(manual)
    rng = np.random.default_rng(2)
    image, _ = blob_example(21, 34, [1], rng)
    Image.fromarray(image).save(os.path.join(manual, "JPEGImages", "w_06.png"))
    os.makedirs(os.path.join(manual, "ImageTags"))
    with open(os.path.join(manual, "ImageTags", "train.txt"), "w") as f:
        f.write("w_06 dog car\n")
    builder = build_tfds(manual, str(tmp_path / "tfds"))
    assert builder.info.splits["train"].num_examples == 3
    got = {g["name"].decode(): g for g in load_tfds_split(builder, "train").as_numpy_iterator()}
    assert list(got) == ["c_03", "a_01", "w_06"]
    assert not got["w_06"]["has_mask"] and got["a_01"]["has_mask"]
    assert got["w_06"]["mask"].shape == (21, 34) and (got["w_06"]["mask"] == 255).all()
    np.testing.assert_array_equal(got["w_06"]["image"], image)
    raw = {r["file_name"].decode(): r for r in builder.as_dataset(split="train")
           .as_numpy_iterator()}
    assert raw["w_06.png"]["labels"].tolist() == [2, 3]


def test_bad_folders_fail_clearly(tmp_path, no_network):
    with pytest.raises(DataError, match="does not exist"):
        build_tfds(str(tmp_path / "missing"), str(tmp_path / "tfds"))
    root = str(tmp_path / "voc")
    rng = np.random.default_rng(1)
    write_voc_fixture(root, CLASSES, {"x": blob_example(8, 9, [9], rng)}, {"train": ["x"]},
                      image_format="png")  # label 9 with 4 classes
    with pytest.raises(DataError, match="outside the 4 classes"):
        build_tfds(root, str(tmp_path / "tfds"))


def test_reimport_does_not_crash(no_network):
    again = importlib.reload(tfds_builder)
    assert again.VocLayoutBuilder.name == "tsss_voc_layout"
    assert "tsss_voc_layout" in tfds.list_builders(with_community_datasets=False)
