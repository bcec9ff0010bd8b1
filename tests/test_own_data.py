"""A practitioner's data: tag-only training images, a split inferred from the data, several
folders, and the flags that get there (`--data_dir`, `--recipe`)."""

import filecmp
import json
import os
import sys

import pytest

from tests.conftest import one_cpu_strategy
from tests.reliability import cli
from tests.reliability.conftest import voc, voc_config  # noqa: F401 (fixture)
from tools.make_tag_only import make_copies
from tsss_tf.config import load_config
from tsss_tf.data.voc import DataError
from tsss_tf.experiment import Experiment
from tsss_tf.flags import resolve_config

WEAK = ("cow", "sheep")  # the weak categories of tests.reliability.conftest's split


class Flags:  # the parsed flags resolve_config reads
    def __init__(self, **kw):
        self.set, self.seed, self.data_dir, self.config = [], None, [], "embedded_50"
        self.model_dir, self.recipe = None, None
        self.__dict__.update(kw)


@pytest.fixture
def tag_only(voc, tmp_path):
    """The reliability set with its weak training images' masks removed (tags written)."""
    dst = str(tmp_path / "tags")
    make_copies(voc, dst, WEAK)
    return dst


def test_the_copy_has_tags_instead_of_weak_masks(voc, tag_only):
    with open(os.path.join(tag_only, "ImageTags", "train.txt")) as f:
        lines = f.read().split("\n")
    assert lines[:4] == ["w1 cow", "w2 cat sheep", "w3 sheep", "w4 dog cow"]
    masks = set(os.listdir(os.path.join(tag_only, "SegmentationClass")))
    assert "w1.png" not in masks and {"s1.png", "v1.png", "t1.png"} <= masks


def test_recipe_infers_the_split_and_saves_it_in_config_json(tag_only, tmp_path):
    notes = []
    flags = Flags(data_dir=[tag_only], recipe="tiny", model_dir=str(tmp_path / "run"),
                  set=["data.crop_size=32", "data.eval_size=32", "lnet.steps=2"])
    cfg, model_dir = resolve_config(flags, notes=notes)
    assert cfg.name == "tags_tiny" and cfg.split.infer and cfg.data.data_dir == tag_only
    assert not notes  # --recipe was asked for: nothing switched silently
    exp = Experiment(cfg, model_dir, strategy=one_cpu_strategy(), progress=False)
    saved = json.load(open(os.path.join(model_dir, "config.json")))
    assert saved["split"]["strong"] == ["cat", "dog"] and saved["split"]["weak"] == list(WEAK)
    assert saved["split"]["name"] == "inferred"
    assert "weak (tags) cow, sheep" in "\n".join(exp.data.describe())


def test_data_dir_with_the_embedded_default_switches_and_says_so(tag_only):
    notes = []
    cfg, model_dir = resolve_config(Flags(data_dir=[tag_only]), notes=notes)
    assert cfg.data.dataset == "voc" and cfg.data.data_dir == tag_only and cfg.split.infer
    assert model_dir == "runs/tags_embedded_50_seed0"
    assert len(notes) == 1 and "--data_dir switches this run to" in notes[0]


def test_flags_a_finished_run_cannot_use_are_errors(tag_only, tmp_path):
    from tsss_tf.config import ConfigError

    model_dir = tmp_path / "run"
    model_dir.mkdir()
    (model_dir / "config.json").write_text(load_config("tiny").to_json())
    with pytest.raises(ConfigError, match="--recipe=photo starts a new run"):
        resolve_config(Flags(model_dir=str(model_dir), recipe="photo"), prefer_model_dir=True)
    with pytest.raises(ConfigError, match="embedded data set: --data_dir=.* cannot apply"):
        resolve_config(Flags(model_dir=str(model_dir), data_dir=[tag_only]),
                       prefer_model_dir=True)


def test_several_data_dirs_with_a_named_config(voc, tag_only):
    cfg, _ = resolve_config(Flags(config="tiny", data_dir=[voc, tag_only]))
    assert cfg.data.data_dir == voc and cfg.data.extra_data_dirs == (tag_only,)


def test_a_split_changed_by_set_gets_its_own_name():
    notes = []
    cfg, _ = resolve_config(Flags(config="msrc_things_50", set=["split.weak=[\"sheep\"]"]),
                            notes=notes)
    assert cfg.split.name.startswith("msrc_things_50-") and len(cfg.split.name) == 23
    assert "named" in notes[0]
    same, _ = resolve_config(Flags(config="msrc_things_50", set=["split.name=mine",
                                                                 "split.weak=[\"sheep\"]"]))
    assert same.split.name == "mine"
    plain, _ = resolve_config(Flags(config="msrc_things_50", set=["seed=3"]))
    assert plain.split.name == "msrc_things_50"


def test_bad_data_writes_nothing_to_the_run_folder(tag_only, tmp_path):
    with open(os.path.join(tag_only, "ImageTags", "train.txt"), "a") as f:
        f.write("w9 cat zebra\n")
    model_dir = str(tmp_path / "run")
    with pytest.raises(DataError, match=r"ImageTags/train\.txt:5: 'zebra' is not a class name"):
        Experiment(voc_config(tag_only), model_dir, strategy=one_cpu_strategy(), progress=False)
    assert not os.path.exists(model_dir)


def test_an_extra_class_is_reported_not_silently_ignored(voc, tmp_path):
    with open(os.path.join(voc, "classes.txt"), "a") as f:
        f.write("horse\n")
    exp = Experiment(voc_config(voc), str(tmp_path / "run"), strategy=one_cpu_strategy(),
                     progress=False)
    assert any(line.startswith("classes left out of the split: horse")
               for line in exp.data.describe())


@pytest.mark.slow
def test_tag_only_copy_transfers_byte_identical_labels(voc, tag_only, tmp_path):
    """The weak images' masks are never read: with tags instead of masks, the deterministic
    L-Net and label transfer write the same label files, byte for byte."""
    runs = {}
    for name, root in (("masks", voc), ("tags", tag_only)):
        model_dir = str(tmp_path / name)
        out = cli.run(cli.train_argv(model_dir, root, stage="transfer", deterministic=True))
        assert out.returncode == 0, out.stderr[-3000:]
        runs[name] = os.path.join(model_dir, "transfer", "pseudo_labels")
    names = sorted(f for f in os.listdir(runs["masks"]) if f.endswith(".png"))
    assert names == ["w1.png", "w2.png", "w3.png", "w4.png"]
    assert sorted(f for f in os.listdir(runs["tags"]) if f.endswith(".png")) == names
    match, mismatch, errors = filecmp.cmpfiles(runs["masks"], runs["tags"], names, shallow=False)
    assert match == names and not mismatch and not errors
    tags_metrics = json.load(open(os.path.join(tmp_path, "tags", "transfer", "metrics.json")))
    assert tags_metrics["pseudo_labels"]["not_scored"]
    # tools/score_labels.py scores them against the masks the copy was made from: the same
    # figure as the masked run's own.
    masked = json.load(open(os.path.join(tmp_path, "masks", "transfer", "metrics.json")))
    out = cli.run([sys.executable, os.path.join(cli.REPO, "tools", "score_labels.py"),
                   f"--model_dir={tmp_path / 'tags'}", f"--masks_dir={voc}"])
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"mIoU {100 * masked['pseudo_labels']['miou']:.1f}," in out.stdout


@pytest.mark.slow
def test_every_stage_on_tag_only_data_reports_what_it_cannot_measure(tag_only, tmp_path):
    model_dir = str(tmp_path / "run")
    exp = Experiment(voc_config(tag_only, ["pnet.refine_rounds=1"]), model_dir,
                     strategy=one_cpu_strategy(), progress=False)
    results = exp.run("all")
    assert set(results["variants"]) == {"strong_only", "lnet_only", "tsss"}
    # label refinement relabels the tag-only images from their tags alone
    assert len(results["refinement"]) == 1
    labels = os.listdir(os.path.join(model_dir, "refine", "round1", "pseudo_labels"))
    assert sorted(f for f in labels if f.endswith(".png")) == ["w1.png", "w2.png", "w3.png",
                                                               "w4.png"]
    assert "tags but no mask" in results["skipped"]["full"]
    md = open(os.path.join(model_dir, "results.md")).read()
    assert "`full` was not trained" in md and "Pseudo labels on the weak training images: " \
        "not measurable" in md
    # The test set (t1: sheep, t2: cat + dog) shows no cow: its IoU cannot be measured.
    assert "| cow | weak | not measurable |" in md
    assert results["variants"]["tsss"]["per_class"]["cow"] is None
