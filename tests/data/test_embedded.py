"""The embedded (generated) data set: determinism, content, caching, atomic writes."""

import filecmp
import json
import os
import shutil
import time

import numpy as np
import pytest

from tsss_tf.data import embedded
from tsss_tf.data.voc import VocLayout, present_classes

TINY = dict(num_train=60, num_source=24, num_val=6, num_test=6)


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("emb") / "set")
    return embedded.generate(root, seed=0, progress=False, **TINY)


def _files(root):
    out = []
    for dirpath, _, files in os.walk(root):
        out += [os.path.relpath(os.path.join(dirpath, f), root) for f in files]
    return sorted(out)


def test_category_lists():
    assert embedded.EMBEDDED_CLASSES[0] == "background"
    assert len(embedded.TARGET_CATEGORIES) == 10 and len(embedded.SOURCE_CATEGORIES) == 6
    assert len(set(embedded.EMBEDDED_CLASSES)) == 17
    assert set(embedded.DEFAULT_50_STRONG) | set(embedded.DEFAULT_50_WEAK) == set(
        embedded.TARGET_CATEGORIES)
    assert len(embedded.DEFAULT_50_STRONG) == len(embedded.DEFAULT_50_WEAK) == 5
    design = [embedded._CATEGORIES[c] for c in embedded.EMBEDDED_CLASSES[1:]]
    assert len({s for s, _ in design}) == 16 and len({t for _, t in design}) == 16


def test_same_seed_same_bytes(tmp_path):
    small = dict(size=48, num_train=4, num_source=3, num_val=2, num_test=2, progress=False)
    a = embedded.generate(str(tmp_path / "a"), seed=5, **small)
    b = embedded.generate(str(tmp_path / "b"), seed=5, **small)
    c = embedded.generate(str(tmp_path / "c"), seed=6, **small)
    assert _files(a) == _files(b) == _files(c)
    match, mismatch, errors = filecmp.cmpfiles(a, b, _files(a), shallow=False)
    assert not mismatch and not errors
    _, differ, _ = filecmp.cmpfiles(a, c, [f for f in _files(a) if "JPEGImages" in f],
                                    shallow=False)
    assert len(differ) == 11


def test_layout_and_sets(tiny_set):
    ds = VocLayout(tiny_set)
    assert ds.class_names == embedded.EMBEDDED_CLASSES
    assert ds.available_sets() == ["source", "test", "train", "val"]
    for set_name in ("train", "val", "test", "source"):
        names = ds.image_ids(set_name)
        assert len(names) == TINY[f"num_{set_name}"]
        assert all(n.startswith(set_name + "_") for n in names)
    meta = json.load(open(os.path.join(tiny_set, "meta.json")))
    assert meta["version"] == embedded.GENERATOR_VERSION
    assert meta["params"]["num_train"] == 60
    assert sum(meta["sets"]["train"]["objects_per_image"].values()) == 60


def _read_set(ds, set_name):
    return [ds.read_example(n) for n in ds.image_ids(set_name)]


def test_content_groups_and_counts(tiny_set):
    ds = VocLayout(tiny_set)
    target = {embedded.EMBEDDED_CLASSES.index(c) for c in embedded.TARGET_CATEGORIES}
    source = {embedded.EMBEDDED_CLASSES.index(c) for c in embedded.SOURCE_CATEGORIES}
    for set_name, group in (("train", target), ("val", target), ("test", target),
                            ("source", source)):
        seen, multi = set(), 0
        for image, mask in _read_set(ds, set_name):
            assert image.shape == (112, 112, 3) and mask.shape == (112, 112)
            present = set(present_classes(mask, ds.num_classes).tolist()) - {0}
            assert 1 <= len(present) <= 3 and present <= group
            assert 255 not in np.unique(mask)
            fg = (mask > 0).mean()
            assert 0.005 < fg < 0.8
            seen |= present
            multi += len(present) >= 2
        if set_name in ("train", "source"):
            assert seen == group, set_name   # every category appears
            assert multi >= 0.25 * len(ds.image_ids(set_name))
    meta = json.load(open(os.path.join(tiny_set, "meta.json")))
    counts = meta["sets"]["train"]["images_per_category"]
    assert set(counts) == set(embedded.TARGET_CATEGORIES) and min(counts.values()) > 0


def test_masks_are_the_painted_shapes():
    for i in range(20):
        rng = np.random.default_rng([1, i])
        cats = embedded.sample_categories(rng, embedded.TARGET_CATEGORIES)
        image, mask, objects = embedded.render_example(rng, cats, 112)
        assert 1 <= len(objects) <= 3
        shapes = [embedded.object_distance(o, 112) < 0 for o in objects]
        union = np.any(shapes, 0)
        assert np.array_equal(mask > 0, union)
        # the last object is on top: its label covers exactly its painted shape
        top = embedded.EMBEDDED_CLASSES.index(objects[-1]["category"])
        assert np.all(mask[shapes[-1]] == top)
        for obj, shape in zip(objects, shapes):   # each object stays mostly visible
            label = embedded.EMBEDDED_CLASSES.index(obj["category"])
            assert (mask[shape] == label).mean() >= 0.4
            assert shape.sum() >= 20


def test_not_separable_by_colour(tiny_set):
    """Nearest class mean on the mean RGB of each object class in each image is near chance."""
    ds = VocLayout(tiny_set)
    feats, labels = [], []
    for image, mask in _read_set(ds, "train"):
        for c in present_classes(mask, ds.num_classes):
            if c:
                feats.append(image[mask == c].mean(0))
                labels.append(c)
    feats, labels = np.array(feats), np.array(labels)
    correct = 0
    for i in range(len(labels)):   # leave one out
        keep = np.arange(len(labels)) != i
        classes = np.unique(labels[keep])
        means = np.stack([feats[keep][labels[keep] == c].mean(0) for c in classes])
        correct += classes[np.argmin(((means - feats[i]) ** 2).sum(1))] == labels[i]
    assert len(labels) >= 60
    assert correct / len(labels) < 0.4


def test_materialize_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("TSSS_TF_CACHE", str(tmp_path / "cache"))
    small = dict(size=40, num_train=3, num_source=2, num_val=1, num_test=1, progress=False)
    root = embedded.materialize(seed=2, **small)
    assert root.startswith(str(tmp_path / "cache" / "embedded"))
    assert os.path.isfile(os.path.join(root, "meta.json"))

    def boom(*a, **k):
        raise AssertionError("must not regenerate")

    monkeypatch.setattr(embedded, "_build", boom)
    t = time.time()
    assert embedded.materialize(seed=2, **small) == root
    assert time.time() - t < 0.5
    assert embedded.cache_key(seed=2, size=40, num_train=3, num_source=2, num_val=1,
                              num_test=1) == os.path.basename(root)
    assert embedded.cache_key(seed=3) != embedded.cache_key(seed=2)


def test_generation_failure_leaves_nothing(tmp_path, monkeypatch):
    calls = []

    def failing(rng, categories, size=112):
        calls.append(1)
        if len(calls) > 3:
            raise RuntimeError("simulated crash")
        return real(rng, categories, size)

    real = embedded.render_example
    monkeypatch.setattr(embedded, "render_example", failing)
    with pytest.raises(RuntimeError, match="simulated"):
        embedded.materialize(str(tmp_path / "set"), size=40, num_train=5, num_source=2,
                             num_val=1, num_test=1, progress=False)
    assert os.listdir(tmp_path) == []


def test_materialize_race(tmp_path, monkeypatch):
    """Another process finishes first: our rename fails, we use its set and drop our copy."""
    root = str(tmp_path / "set")
    real = embedded._build

    def racing(folder, params, progress):
        real(folder, params, progress)
        shutil.copytree(folder, root)   # the other process's complete set

    monkeypatch.setattr(embedded, "_build", racing)
    out = embedded.materialize(root, size=40, num_train=2, num_source=1, num_val=1,
                               num_test=1, progress=False)
    assert out == root and os.listdir(tmp_path) == ["set"]
    assert os.path.isfile(os.path.join(root, "meta.json"))


def test_generate_refuses_foreign_folder(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not an embedded data set"):
        embedded.generate(str(tmp_path / "mine"), size=40, num_train=1, num_source=1,
                          num_val=1, num_test=1, progress=False)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
