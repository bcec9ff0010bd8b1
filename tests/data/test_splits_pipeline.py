import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import two_cpu_strategy
from tests.helpers import blob_example, write_voc_fixture
from tsss_tf.config import DataConfig
from tsss_tf.data import pipeline
from tsss_tf.data.sources import ExperimentData
from tsss_tf.data.splits import STRONG, WEAK, Split, SplitError

CLASSES = ["background", "cat", "dog", "cow", "sheep", "horse"]


@pytest.fixture
def data(tmp_path, rng):
    # strong-only images (cat / dog / background only) and weak ones (cow or sheep present)
    labels = {"s1": [1], "s2": [2], "s3": [1, 2], "s4": [], "w1": [3], "w2": [1, 4],
              "w3": [4], "w4": [3, 2], "o1": [5], "t1": [1, 3], "t2": [4]}
    ex = {n: blob_example(40 + i, 50 + 2 * i, lab, rng) for i, (n, lab) in enumerate(labels.items())}
    root = write_voc_fixture(str(tmp_path / "voc"), CLASSES, ex,
                             {"train": [n for n in labels if n[0] in "swo"], "test": ["t1", "t2"]},
                             "png")
    cfg = DataConfig(dataset="voc", data_dir=root, crop_size=32, eval_size=48, shuffle_buffer=16)
    split = Split("t", strong=("cat", "dog"), weak=("cow", "sheep"))
    return ExperimentData(cfg, split)


def test_split_hash_and_validation():
    a = Split("a", strong=("cat",), weak=("dog",))
    assert a.content_hash() == Split("a", strong=("cat",), weak=("dog",)).content_hash()
    assert a.content_hash() != Split("a", strong=("dog",), weak=("cat",)).content_hash()
    with pytest.raises(SplitError, match="unicorn"):
        Split("x", strong=("unicorn",), weak=()).validate(CLASSES)
    with pytest.raises(SplitError, match="both"):
        Split("x", strong=("cat",), weak=("cat",)).validate(CLASSES)
    with pytest.raises(SplitError, match="empty"):
        Split("x", strong=(), weak=()).validate(CLASSES)


def test_image_policy_and_class_space(data):
    assert data.class_names == ("background", "cat", "dog", "cow", "sheep")
    kinds = {r.name: r.kind for r in data.train_records()}
    assert kinds == {"s1": STRONG, "s2": STRONG, "s3": STRONG, "s4": STRONG, "w1": WEAK,
                     "w2": WEAK, "w3": WEAK, "w4": WEAK, "o1": STRONG}
    # horse is in neither list: its pixels become ignore, the image is a (background) strong one
    assert data.lut[5] == 255 and data.lut[3] == 3
    assert {r.name: r.present for r in data.train_records()}["w2"] == (1, 4)


def _collect(ds, n):
    return [{k: v.numpy() for k, v in b.items()} for b in ds.take(n)]


def test_no_weak_mask_reaches_the_lnet_or_strong_only_stream(data, monkeypatch):
    opened = []
    import tsss_tf.data.pipeline as P

    real = P.read_mask_file

    def spy(path, *a, **k):
        opened.append(path)
        return real(path, *a, **k)

    monkeypatch.setattr(P, "read_mask_file", spy)
    weak_names = {r.name for r in data.train_records() if r.kind == WEAK}
    for variant in ("lnet", "strong_only"):
        opened.clear()
        batches = _collect(pipeline.train_dataset(data, variant, 4, seed=0), 12)
        assert opened, "the stream should read the strong masks"
        assert not any(any(f"/{w}.png" in p for w in weak_names) for p in opened), variant
        for b in batches:
            weak_rows = b["strong"] == 0
            if variant == "strong_only":
                assert not weak_rows.any()
            # a weak image's mask in the L-Net stream is all ignore
            assert (b["mask"][weak_rows] == 255).all()
            # strong rows never hold a weak category's pixels
            assert not np.isin(b["mask"][~weak_rows], [3, 4]).any()


def test_full_variant_uses_every_mask(data):
    batches = _collect(pipeline.train_dataset(data, "full", 4, seed=0), 20)
    assert all((b["strong"] == 1).all() for b in batches)
    assert any(np.isin(b["mask"], [3, 4]).any() for b in batches)


def test_labels_are_derived_from_masks(data):
    table = pipeline.training_table(data, "lnet")
    row = list(table["name"]).index("w2")
    np.testing.assert_array_equal(table["labels"][row], [1, 0, 0, 1])  # cat, sheep


def test_stream_is_deterministic_for_a_seed(data):
    a = _collect(pipeline.train_dataset(data, "lnet", 4, seed=3), 3)
    b = _collect(pipeline.train_dataset(data, "lnet", 4, seed=3), 3)
    c = _collect(pipeline.train_dataset(data, "lnet", 4, seed=4), 3)
    for x, y in zip(a, b):
        for k in x:
            np.testing.assert_array_equal(x[k], y[k])
    assert any(not np.array_equal(x["image"], y["image"]) for x, y in zip(a, c))


def test_shapes_and_dtypes_under_mirrored_strategy_with_two_cpus(data):
    strategy = two_cpu_strategy()
    assert strategy.num_replicas_in_sync == 2
    ds = pipeline.train_dataset(data, "lnet", 4, seed=0, strategy=strategy)
    dist = strategy.experimental_distribute_dataset(ds)
    batch = next(iter(dist))
    for k, dtype, shape in (("image", tf.float32, (2, 32, 32, 3)), ("mask", tf.int32, (2, 32, 32)),
                            ("labels", tf.float32, (2, 4)), ("strong", tf.float32, (2,))):
        parts = strategy.experimental_local_results(batch[k])
        assert len(parts) == 2
        for p in parts:
            assert p.dtype == dtype and tuple(p.shape) == shape
    with pytest.raises(ValueError, match="divisible"):
        pipeline.train_dataset(data, "lnet", 3, strategy=strategy)


def test_eval_stream_resizes_and_pads(data):
    b = next(iter(pipeline.eval_dataset(data, "test", batch_size=2)))
    assert b["image"].shape == (2, 48, 48, 3) and b["mask"].shape == (2, 48, 48)
    vh, vw = b["valid_size"][0].numpy()
    assert max(vh, vw) == 48
    assert (b["mask"][0].numpy()[vh:, :] == 255).all() and (b["mask"][0].numpy()[:, vw:] == 255).all()
    nomask = next(iter(pipeline.eval_dataset(data, "test", batch_size=2, with_masks=False)))
    assert (nomask["mask"].numpy() == 255).all()


def test_an_empty_training_stream_is_a_data_error_naming_the_folder(data):
    from tsss_tf.data.voc import DataError

    weak_only = [r for r in data.train_records() if r.kind == WEAK]
    with pytest.raises(DataError, match=r"'strong_only' training stream of .* has no images: "
                                        r"no image holds only strong categories"):
        pipeline.training_table(data, "strong_only", recs=weak_only)
    with pytest.raises(DataError, match=data.layout.root):
        pipeline.training_table(data, "lnet", recs=[])
