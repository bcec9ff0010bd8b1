"""Images with tags but no mask (ImageTags/SET.txt), folders merged by class name, a split
inferred from the data, and the errors that name the file and line of bad input."""

import os
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from tests.helpers import blob_example, write_voc_fixture
from tsss_tf.config import load_config
from tsss_tf.data import pipeline
from tsss_tf.data.roots import MergedLayout
from tsss_tf.data.sources import ExperimentData
from tsss_tf.data.splits import STRONG, WEAK, Split
from tsss_tf.data.voc import DataError, VocLayout

CLASSES = ["background", "cat", "dog", "cow", "sheep"]
SIZE = (24, 32)


def _tagged_folder(root, rng, masked, tag_only, evaluation=None, classes=CLASSES):
    """A VOC folder: `masked` {name: labels} with masks in train, `tag_only` {name: labels}
    written only to ImageTags/train.txt, `evaluation` {set: {name: labels}} with masks."""
    evaluation = evaluation if evaluation is not None else {}
    examples = {n: blob_example(*SIZE, lab, rng) for n, lab in masked.items()}
    for labels in evaluation.values():
        examples.update({n: blob_example(*SIZE, lab, rng) for n, lab in labels.items()})
    sets = {"train": list(masked)} if masked else {}
    sets.update({s: list(labels) for s, labels in evaluation.items()})
    write_voc_fixture(str(root), classes, examples, sets)
    os.makedirs(os.path.join(root, "ImageTags"), exist_ok=True)
    lines = []
    for n, lab in tag_only.items():
        image, _ = blob_example(*SIZE, lab, rng)
        Image.fromarray(image).save(os.path.join(root, "JPEGImages", n + ".jpg"), quality=95)
        lines.append(" ".join([n] + [classes[c] for c in lab]))
    with open(os.path.join(root, "ImageTags", "train.txt"), "w") as f:
        f.write("# tag-only training images\n" + "\n".join(lines) + "\n")
    return str(root)


@pytest.fixture
def folder(tmp_path, rng):
    return _tagged_folder(
        tmp_path / "d", rng, masked={"s1": [1], "s2": [2], "s3": [1, 2]},
        tag_only={"w1": [3], "w2": [1, 4], "w3": [4]},
        evaluation={"val": {"v1": [1, 3], "v2": [4, 2]}, "test": {"t1": [3, 4], "t2": [1]}})


def _data_cfg(root, *extra):
    cfg = load_config("tiny", ["data.dataset=voc", f"data.data_dir={root}",
                               "data.crop_size=24", "data.eval_size=24", *extra])
    return cfg


def _tags_file(root):
    return os.path.join(root, "ImageTags", "train.txt")


def test_tag_only_images_are_weak_and_carry_their_tags(folder):
    cfg = _data_cfg(folder)
    data = ExperimentData(cfg.data, Split("s", strong=("cat", "dog"), weak=("cow", "sheep")))
    recs = {r.name: r for r in data.train_records()}
    assert [r.name for r in data.train_records()] == ["s1", "s2", "s3", "w1", "w2", "w3"]
    assert recs["w2"].mask_path == "" and recs["w2"].kind == WEAK
    assert [data.class_names[c] for c in recs["w2"].present] == ["cat", "sheep"]
    assert recs["s3"].kind == STRONG and recs["s3"].mask_path.endswith("s3.png")
    data.validate()
    assert data.has_tag_only_training()


def test_a_tag_only_image_never_opens_a_mask_in_any_stream(folder, monkeypatch):
    cfg = _data_cfg(folder)
    data = ExperimentData(cfg.data, Split("s", strong=("cat", "dog"), weak=("cow", "sheep")))
    opened = []
    real = pipeline.read_mask_file
    monkeypatch.setattr(pipeline, "read_mask_file",
                        lambda path, *a, **k: opened.append(path) or real(path, *a, **k))
    table = pipeline.training_table(data, "lnet")
    assert set(table["mask_path"][table["strong"] == 0]) == {""}
    full = pipeline.training_table(data, "full")  # tag-only images have nothing to give it
    assert sorted(full["name"]) == ["s1", "s2", "s3"]
    weak = pipeline.weak_records(data)
    batch = next(iter(pipeline.eval_dataset(data, recs=weak, batch_size=8)))
    assert (batch["mask"].numpy() == 255).all()
    assert not any("w" in os.path.basename(p) for p in opened)


def test_the_split_is_inferred_from_masks_and_tags(folder):
    cfg = _data_cfg(folder)
    data = ExperimentData(cfg.data, Split("inferred", strong=(), weak=()), infer=True)
    assert data.split.strong == ("cat", "dog") and data.split.weak == ("cow", "sheep")
    text = "\n".join(data.describe())
    assert "strong (masks) cat, dog; weak (tags) cow, sheep" in text
    assert "3 with masks, 3 tags only" in text


def test_classes_the_split_leaves_out_are_said_at_the_start(folder):
    cfg = _data_cfg(folder)
    data = ExperimentData(cfg.data, Split("s", strong=("cat",), weak=("cow",)))
    text = "\n".join(data.describe())
    assert "classes left out of the split: dog, sheep" in text and "ignored (255)" in text


def test_a_split_category_without_a_training_image_is_an_error(tmp_path, rng):
    root = _tagged_folder(tmp_path / "d", rng, masked={"s1": [1]}, tag_only={"w1": [3]},
                          evaluation={"val": {"v1": [4]}, "test": {"t1": [4]}})
    cfg = _data_cfg(root)
    data = ExperimentData(cfg.data, Split("s", strong=("cat",), weak=("cow", "sheep")))
    with pytest.raises(DataError, match=r"categories \['sheep'\] of split 's' are in no "
                                        r"training image"):
        data.validate()


@pytest.mark.parametrize("line, problem", [
    ("w9 cat zebra", r"ImageTags/train\.txt:5: 'zebra' is not a class name"),
    ("w1 cow", r"ImageTags/train\.txt:5: image 'w1' is tagged twice \(first at .*train\.txt:2\)"),
    ("w8", r"ImageTags/train\.txt:5: image 'w8' has no tags"),
    ("../../elsewhere/img cat", r"ImageTags/train\.txt:5: image name '\.\./\.\./elsewhere/img' "
                                r"leaves the data folder"),
    ("nowhere cat", r"ImageTags/train\.txt:5: image 'nowhere' is missing"),
])
def test_bad_tags_lines_name_the_file_and_line(folder, line, problem):
    with open(_tags_file(folder), "a") as f:
        f.write(line + "\n")
    with pytest.raises(DataError, match=problem):
        VocLayout(folder).entries("train")


def test_an_image_with_neither_mask_nor_tags_is_named(folder):
    os.remove(os.path.join(folder, "SegmentationClass", "s2.png"))
    with pytest.raises(DataError, match=r"train\.txt lists 's2' but .*s2\.png is missing and "
                                        r".*ImageTags/train\.txt gives it no tags"):
        VocLayout(folder).entries("train")


def test_tags_that_disagree_with_the_mask_name_the_line(folder):
    with open(_tags_file(folder), "a") as f:
        f.write("s3 cat cow\n")  # s3's mask shows cat and dog
    data = ExperimentData(_data_cfg(folder).data,
                          Split("s", strong=("cat", "dog"), weak=("cow", "sheep")))
    with pytest.raises(DataError, match=r"train\.txt:5: the tags of 's3' \(cat, cow\) disagree "
                                        r"with its mask .*s3\.png \(cat, dog\)"):
        data.train_records()


def test_tags_that_agree_with_the_mask_are_fine_and_the_mask_wins(folder):
    with open(_tags_file(folder), "a") as f:
        f.write("s3 dog, cat\n")
    data = ExperimentData(_data_cfg(folder).data,
                          Split("s", strong=("cat", "dog"), weak=("cow", "sheep")))
    rec = {r.name: r for r in data.train_records()}["s3"]
    assert rec.mask_path and rec.kind == STRONG


def test_an_evaluation_image_without_a_mask_is_named(folder):
    shutil.copy(_tags_file(folder), os.path.join(folder, "ImageTags", "val.txt"))
    data = ExperimentData(_data_cfg(folder).data,
                          Split("s", strong=("cat", "dog"), weak=("cow", "sheep")))
    with pytest.raises(DataError, match=r"ImageTags/val\.txt:2: image 'w1' of the evaluation "
                                        r"set 'val' has tags but no mask"):
        data.validate()


def test_a_folder_of_tag_only_images_needs_no_mask_folder(tmp_path, rng):
    root = _tagged_folder(tmp_path / "b", rng, masked={}, tag_only={"b1": [3]})
    shutil.rmtree(os.path.join(root, "SegmentationClass"))
    assert [e.mask_path for e in VocLayout(root).entries("train")] == [""]


def test_folders_merge_by_class_name_and_masks_map_through_their_folder(folder, tmp_path, rng):
    # The second folder lists its classes in another order: its mask value 1 is "sheep".
    other = ["background", "sheep", "cat", "dog", "cow"]
    b = _tagged_folder(tmp_path / "b", rng, masked={"bs1": [1]}, tag_only={"bw1": [4]},
                       evaluation={"test": {"bt1": [1, 2]}}, classes=other)
    cfg = _data_cfg(folder, f"data.extra_data_dirs=[\"{b}\"]")
    data = ExperimentData(cfg.data, Split("s", strong=("cat", "dog", "sheep"), weak=("cow",)))
    assert isinstance(data.layout, MergedLayout)
    recs = {r.name: r for r in data.train_records()}
    assert recs["bs1"].root == 1 and [data.class_names[c] for c in recs["bs1"].present] == ["sheep"]
    assert [data.class_names[c] for c in recs["bw1"].present] == ["cow"]
    assert [r.name for r in data.records("test")] == ["t1", "t2", "bt1"]
    batch = next(iter(pipeline.eval_dataset(data, recs=[recs["bs1"]], batch_size=1)))
    values = set(np.unique(batch["mask"].numpy()).tolist()) - {255}
    assert values == {0, data.class_names.index("sheep")}


def test_folders_that_disagree_are_refused_naming_the_files(folder, tmp_path, rng):
    spelled = _tagged_folder(tmp_path / "b", rng, masked={"b1": [1]}, tag_only={},
                             classes=["background", "Cat", "dog", "cow", "sheep"])
    with pytest.raises(DataError, match=r"b/classes\.txt: class 'Cat' and class 'cat' of "
                                        r".*d/classes\.txt differ only in case"):
        MergedLayout([VocLayout(folder), VocLayout(spelled)])
    coloured = _tagged_folder(tmp_path / "c", rng, masked={"c1": [1]}, tag_only={},
                              classes=["background", "cat", "dog", "cow", "sheep"])
    with open(os.path.join(coloured, "classes.txt"), "w") as f:
        f.write("background 0 0 0\ncat 0 255 0\ndog\ncow\nsheep\n")
    with open(os.path.join(folder, "classes.txt"), "w") as f:
        f.write("background\ncat 128 0 0\ndog\ncow\nsheep\n")
    assert VocLayout(coloured).class_names == tuple(CLASSES)
    with pytest.raises(DataError, match=r"c/classes\.txt: class 'cat' has colour \(0, 255, 0\), "
                                        r"but .*d/classes\.txt gives it \(128, 0, 0\)"):
        MergedLayout([VocLayout(folder), VocLayout(coloured)])
    twin = _tagged_folder(tmp_path / "e", rng, masked={"s1": [1]}, tag_only={})
    with pytest.raises(DataError, match=r"image 's1' of set 'train' is in two data folders: "
                                        r".*d/JPEGImages/s1\.jpg and .*e/JPEGImages/s1\.jpg"):
        MergedLayout([VocLayout(folder), VocLayout(twin)]).entries("train")


@pytest.mark.parametrize("name", ["../../elsewhere/img", "/etc/passwd", "a/../../b", "~x/y"])
def test_an_image_set_name_that_leaves_the_folder_is_refused(folder, name):
    path = os.path.join(folder, "ImageSets", "Segmentation", "train.txt")
    with open(path, "a") as f:
        f.write(name + "\n")
    pattern = rf"Segmentation/train\.txt:4: image name '{re.escape(name)}' leaves the data folder"
    with pytest.raises(DataError, match=pattern):
        VocLayout(folder).entries("train")


def test_the_configured_image_size_limit_stops_indexing_naming_the_file(folder):
    cfg = _data_cfg(folder, "data.max_image_side=30")  # the images are 32 px wide
    data = ExperimentData(cfg.data, Split("s", strong=("cat", "dog"), weak=("cow", "sheep")))
    with pytest.raises(DataError, match=r"(s1\.png|s1\.jpg|w1\.jpg): .*32"):
        data.validate()
    roomy = _data_cfg(folder, "data.max_image_pixels=768", "data.max_image_side=32")
    ExperimentData(roomy.data, Split("s", strong=("cat", "dog"), weak=("cow", "sheep"))).validate()
