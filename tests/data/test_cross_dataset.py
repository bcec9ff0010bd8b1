"""Cross-dataset experiments (tsss_tf.data.cross_dataset): strong categories from a source
data set, weak ones from the target; the target's masks never reach training."""

import dataclasses
import json
import os

import numpy as np
import pytest
from PIL import Image

from tests.conftest import shared_data
from tests.helpers import blob_example, write_voc_fixture
from tsss_tf.config import DataConfig, SourceDataConfig, load_config
from tsss_tf.data import pipeline
from tsss_tf.data.category_map import CategoryMapError
from tsss_tf.data.coco import rle_encode
from tsss_tf.data.cross_dataset import CrossExperimentData, SourceRecord
from tsss_tf.data.experiment_data import open_experiment_data
from tsss_tf.data.splits import STRONG, WEAK, Split
from tsss_tf.data.voc import write_palette_png

TARGET = ["background", "cow", "car", "dog", "cat"]
SOURCE = ["sky", "road", "car", "pole", "dog"]  # no background class, like CamVid
SPLIT = Split("x", strong=("car", "pole"), weak=("cow", "dog", "cat"))
# experiment classes: background, car, pole (source order), cow, dog, cat (target order)


def _target(tmp_path, rng):
    labels = {"w1": [1], "w2": [3, 2], "w3": [4], "b1": [], "c1": [2],
              "t1": [1, 2], "t2": [4], "v1": [3]}
    ex = {n: blob_example(30 + i, 36 + i, lab, rng) for i, (n, lab) in enumerate(labels.items())}
    return write_voc_fixture(str(tmp_path / "target"), TARGET, ex,
                             {"train": ["w1", "w2", "w3", "b1", "c1"], "val": ["v1"],
                              "test": ["t1", "t2"]}, "png")


def _source(tmp_path, rng):
    labels = {"s1": [2], "s2": [3, 2], "s3": [4, 2], "s4": [3], "s5": [1, 3]}
    ex = {n: blob_example(32 + i, 40, lab, rng) for i, (n, lab) in enumerate(labels.items())}
    return write_voc_fixture(str(tmp_path / "source"), SOURCE, ex, {"train": list(labels)},
                             "png")


def _cfg(target, source_root, **kw):
    src = dict(dataset="voc", data_dir=source_root,
               category_map=("sky=background", "road=background"), drop=("dog",))
    src.update(kw.pop("source", {}))
    return DataConfig(dataset="voc", data_dir=target, crop_size=32, eval_size=48,
                      shuffle_buffer=16, source=SourceDataConfig(**src), **kw)


@pytest.fixture
def roots(tmp_path, rng):
    return _target(tmp_path, rng), _source(tmp_path, rng)


@pytest.fixture
def data(roots):
    return open_experiment_data(_cfg(*roots), SPLIT)


def _collect(ds, n):
    return [{k: v.numpy() for k, v in b.items()} for b in ds.take(n)]


def test_class_space_and_lookup_tables(data):
    assert isinstance(data, CrossExperimentData)
    assert data.class_names == ("background", "car", "pole", "cow", "dog", "cat")
    np.testing.assert_array_equal(data.class_kinds, [0, 1, 1, 2, 2, 2])
    assert data.num_categories == 5
    # target: the target's own 'car' is not a target category of the experiment -> ignore
    np.testing.assert_array_equal(data.lut[:5], [0, 3, 255, 4, 5])
    # source: sky, road -> background; car, pole -> strong; dog dropped -> ignore
    np.testing.assert_array_equal(data.source_lut[:5], [0, 0, 1, 2, 255])


def test_image_policy(data, roots):
    recs = {r.name: r for r in data.train_records()}
    # target images are weak whatever they show; b1 (background only) and c1 (only the
    # target's car) carry no weak category and are left out; s3 shows the dropped dog.
    assert sorted(recs) == ["s1", "s2", "s4", "s5", "w1", "w2", "w3"]
    assert {n: r.kind for n, r in recs.items()} == {
        "w1": WEAK, "w2": WEAK, "w3": WEAK, "s1": STRONG, "s2": STRONG, "s4": STRONG,
        "s5": STRONG}
    assert recs["w2"].present == (4,)  # dog; its car is not a target category
    assert {n: recs[n].present for n in ("s1", "s2", "s4", "s5")} == {
        "s1": (1,), "s2": (1, 2), "s4": (2,), "s5": (2,)}
    assert all(isinstance(recs[n], SourceRecord) for n in ("s1", "s2", "s4", "s5"))
    assert not any(isinstance(recs[n], SourceRecord) for n in ("w1", "w2", "w3"))
    # evaluation is on the target only, by the split's image policy
    assert [(r.name, r.present, r.kind) for r in data.records("test")] == [
        ("t1", (3,), WEAK), ("t2", (5,), WEAK)]
    kept = open_experiment_data(_cfg(*roots, source={"exclude_dropped": False}), SPLIT)
    assert {r.name: r.present for r in kept.train_records()}["s3"] == (1,)


def test_target_masks_never_reach_training(data, roots, tmp_path, monkeypatch):
    target_root, source_root = roots
    opened = []
    real = pipeline.read_mask_file

    def spy(path, *a, **k):
        opened.append(path)
        return real(path, *a, **k)

    monkeypatch.setattr(pipeline, "read_mask_file", spy)
    pseudo = tmp_path / "pseudo"
    pseudo.mkdir()
    for r in data.train_records():
        if r.kind == WEAK:  # a transferred label: the image's first tag everywhere
            with Image.open(r.image_path) as im:
                w, h = im.size
            write_palette_png(str(pseudo / f"{r.name}.png"), np.full((h, w), r.present[0],
                                                                    np.uint8))
    for variant in ("lnet", "strong_only", "pnet"):
        opened.clear()
        ds = pipeline.train_dataset(data, variant, 4, seed=0, pseudo_dir=str(pseudo))
        batches = _collect(ds, 10)
        assert opened
        assert not any(p.startswith(target_root) for p in opened), variant
        assert all(p.startswith(source_root) or p.startswith(str(pseudo)) for p in opened)
        for b in batches:
            strong = b["strong"] == 1
            # a true mask in training only ever holds background, strong classes or ignore
            assert np.isin(b["mask"][strong], [0, 1, 2, 255]).all()
            if variant == "lnet":
                assert (b["mask"][~strong] == 255).all()
            if variant == "strong_only":
                assert strong.all()
        if variant == "pnet":
            assert any(np.isin(b["mask"][b["strong"] == 0], [3, 4, 5]).any() for b in batches)
        if variant == "lnet":  # the weak tags do reach training
            assert any(b["labels"][b["strong"] == 0][:, 2:].any() for b in batches)
    # the fully supervised upper bound is the one stream that reads the target's masks
    opened.clear()
    _collect(pipeline.train_dataset(data, "full", 4, seed=0), 6)
    assert any(p.startswith(target_root) for p in opened)


def test_source_ratio_mixes_the_two_data_sets(roots):
    def source_share(ratio):
        data = open_experiment_data(_cfg(*roots, source_ratio=ratio), SPLIT)
        batches = _collect(pipeline.train_dataset(data, "lnet", 8, seed=1), 40)
        return float(np.mean(np.concatenate([b["strong"] for b in batches])))

    # 320 draws each: the share is within 0.08 (about 3 standard deviations) of the ratio.
    assert abs(source_share(0.8) - 0.8) < 0.08
    assert abs(source_share(0.25) - 0.25) < 0.08
    # None: one stream, 4 source images of 7
    assert abs(source_share(None) - 4 / 7) < 0.09
    with pytest.raises(Exception, match="source_ratio must be in"):
        open_experiment_data(_cfg(*roots, source_ratio=1.0), SPLIT)


def test_evaluation_is_on_the_target_only(data):
    batches = _collect(pipeline.eval_dataset(data, "test", batch_size=4), 1)
    m = batches[0]["mask"]
    assert set(np.unique(m).tolist()) <= {0, 3, 5, 255}
    assert (m == 3).any() and (m == 5).any()
    assert [n.decode() for n in batches[0]["name"]] == ["t1", "t2"]


def test_overlapping_source_category_is_refused(roots):
    with pytest.raises(CategoryMapError, match="source category 'dog' .* is also a target "
                                               "category"):
        open_experiment_data(_cfg(*roots, source={"drop": ()}), SPLIT)
    with pytest.raises(CategoryMapError, match=r"strong categories \['tree'\]"):
        open_experiment_data(_cfg(*roots), Split("x", strong=("car", "tree"), weak=("cow",)))


def test_coco_source(tmp_path, rng, monkeypatch):
    target = _target(tmp_path, rng)
    root = tmp_path / "coco"
    (root / "annotations").mkdir(parents=True)
    (root / "train").mkdir()
    images, anns = [], []
    for i in range(1, 4):
        Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(
            root / "train" / f"{i}.jpg")
        images.append({"id": i, "file_name": f"{i}.jpg", "height": 20, "width": 24})
    box = np.zeros((20, 24), bool)
    box[5:15, 5:15] = True
    anns = [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
             "segmentation": [[2, 2, 10, 2, 10, 10, 2, 10]]},
            {"id": 2, "image_id": 2, "category_id": 2, "iscrowd": 0,
             "segmentation": {"counts": rle_encode(box), "size": [20, 24]}},
            {"id": 3, "image_id": 3, "category_id": 3, "iscrowd": 0,
             "segmentation": [[0, 0, 5, 0, 5, 5, 0, 5]]}]
    cats = [{"id": 1, "name": "person"}, {"id": 2, "name": "truck"}, {"id": 3, "name": "dog"}]
    with open(root / "annotations" / "instances_train.json", "w") as f:
        json.dump({"images": images, "annotations": anns, "categories": cats}, f)
    monkeypatch.setenv("TSSS_TF_CACHE", str(tmp_path / "cache"))
    cfg = DataConfig(dataset="voc", data_dir=target, crop_size=24, eval_size=32,
                     source=SourceDataConfig(dataset="coco", data_dir=str(root),
                                             drop=("dog",)))
    data = open_experiment_data(cfg, Split("c", strong=("person", "truck"),
                                           weak=("cow", "dog", "cat")))
    assert data.class_names == ("background", "person", "truck", "cow", "dog", "cat")
    src = [r for r in data.train_records() if r.kind == STRONG]
    assert [(r.name, r.present) for r in src] == [("1", (1,)), ("2", (2,))]
    table = pipeline.training_table(data, "strong_only")
    assert (table["mask_kind"] == pipeline.MASK_SOURCE).all()
    batch = _collect(pipeline.train_dataset(data, "strong_only", 4, seed=0), 1)[0]
    assert set(np.unique(batch["mask"]).tolist()) <= {0, 1, 2, 255}
    assert np.isin(batch["mask"], [1, 2]).any()


def test_configs_round_trip_and_overrides():
    cfg = load_config("camvid_to_msrc_0", ["data.source.data_dir=/x/camvid",
                                           "data.source_ratio=0.3",
                                           "data.source.drop=pole"])
    assert cfg.data.source.data_dir == "/x/camvid" and cfg.data.source_ratio == 0.3
    assert cfg.data.source.drop == ("pole",)
    again = type(cfg).from_dict(json.loads(cfg.to_json()))
    assert dataclasses.asdict(again) == dataclasses.asdict(cfg)
    coco_cfg = load_config("voc2012_coco_0")
    assert coco_cfg.data.source.dataset == "coco" and len(coco_cfg.split.strong) == 60
    assert len(coco_cfg.data.source.drop) == 20 and len(coco_cfg.split.weak) == 20
    assert not set(coco_cfg.split.strong) & set(coco_cfg.data.source.drop)
    # the existing configs have no source
    assert load_config("embedded_0").data.source.dataset == ""


@pytest.mark.slow
def test_camvid_to_msrc_pipeline_on_real_data():
    shared_data("camvid")
    shared_data("msrc_things")
    from tsss_tf.data.category_map import CategoryMap

    cfg = load_config("camvid_to_msrc_0")
    data = open_experiment_data(cfg.data, Split.from_config(cfg.split))
    assert data.class_names == ("background", "pole", "sign", "fence", "car", "pedestrian",
                                "bicyclist", "cow", "sheep", "aeroplane", "face", "flower",
                                "bird", "book", "chair", "cat", "dog", "boat")
    recs = data.train_records()
    weak = [r for r in recs if r.kind == WEAK]
    strong = [r for r in recs if r.kind == STRONG]
    assert len(strong) == 367 and all(isinstance(r, SourceRecord) for r in strong)
    assert weak and all("msrc_things" in r.mask_path for r in weak)
    assert CategoryMap.parse(cfg.data.source.category_map).mapped_names(
        data.source_layout.class_names)[:2] == ("background", "background")
    opened = []
    real = pipeline.read_mask_file
    pipeline.read_mask_file = lambda p, *a, **k: (opened.append(p), real(p, *a, **k))[1]
    try:
        batches = _collect(pipeline.train_dataset(data, "lnet", 8, seed=0), 4)
    finally:
        pipeline.read_mask_file = real
    assert not any("msrc_things" in p for p in opened)
    for b in batches:
        assert b["image"].shape == (8, cfg.data.crop_size, cfg.data.crop_size, 3)
        strong_rows = b["strong"] == 1
        assert (b["mask"][~strong_rows] == 255).all()  # no weak mask
        assert np.isin(b["mask"][strong_rows], list(range(7)) + [255]).all()
        assert not b["labels"][strong_rows][:, 6:].any()  # source images: no weak tag
        assert b["labels"][~strong_rows][:, 6:].any(axis=1).all()  # every weak image: one
    share = np.mean(np.concatenate([b["strong"] for b in batches]))
    assert 0.2 < share < 0.8  # source_ratio 0.5 over 32 draws
    ev = _collect(pipeline.eval_dataset(data, cfg.data.test_set, batch_size=8), 1)[0]
    assert set(np.unique(ev["mask"]).tolist()) <= {0, 255} | set(range(7, 18))


def test_target_images_with_tags_only_are_weak_training_images(roots):
    target, source = roots
    for name in ("w1", "w2"):  # their masks are gone: tags only
        os.remove(os.path.join(target, "SegmentationClass", f"{name}.png"))
    os.makedirs(os.path.join(target, "ImageTags"))
    with open(os.path.join(target, "ImageTags", "train.txt"), "w") as f:
        f.write("w1 cow\nw2 dog car\n")
    data = open_experiment_data(_cfg(target, source), SPLIT)
    recs = {r.name: r for r in data.train_records()}
    assert recs["w1"].mask_path == "" and recs["w1"].kind == WEAK
    assert [data.class_names[c] for c in recs["w2"].present] == ["dog"]  # target car: ignored
    lnet = pipeline.training_table(data, "lnet")
    assert set(lnet["mask_path"][lnet["strong"] == 0]) == {""}
    assert "w1" not in set(pipeline.training_table(data, "full")["name"])
    data.validate()


def test_extra_target_folders_do_not_leak_into_the_source(roots):
    from tsss_tf.data.cross_dataset import open_source_layout

    target, source = roots
    cfg = dataclasses.replace(_cfg(target, source), extra_data_dirs=("/no/such/folder",))
    layout = open_source_layout(cfg)
    assert [lay.root for lay in layout.layouts] == [os.path.abspath(source)]
