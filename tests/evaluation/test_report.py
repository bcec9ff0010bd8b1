"""results.md from the gathered results: what can and cannot be measured is said plainly."""

from tsss_tf.evaluation.report import to_markdown


def _variant(miou, per_class, not_measurable=()):
    return {"miou": miou, "miou_strong": miou, "miou_weak": miou, "per_class": per_class,
            "not_measurable": list(not_measurable)}


def test_pseudo_labels_with_classes_absent_from_the_weak_images_are_still_scored():
    per = {"background": 0.9, "cat": 0.5, "cow": None}
    results = {"split": {"name": "s", "hash": "h"}, "seed": 0, "eval_set": "test",
               "variants": {"tsss": _variant(0.7, per)}, "ratios": {"tsss": {}},
               "class_kinds": {"background": "background", "cat": "strong", "cow": "weak"},
               "pseudo_labels": {"miou": 0.567, "miou_weak": 0.67, "labelled_fraction": 0.9,
                                 "num_images": 10, "num_scored": 10,
                                 "not_measurable": ["cat"]}}
    md = to_markdown(results)
    assert ("Pseudo labels on the weak training images: mIoU 56.7 (weak classes 67.0), "
            "labelled fraction 90.0%.") in md
    assert "tsss / full" not in md  # no full variant: no ratio line


def test_unscored_labels_unmeasurable_classes_and_a_skipped_full_are_said():
    per = {"background": 0.9, "cat": 0.5, "cow": None}
    results = {"split": {"name": "s", "hash": "h"}, "seed": 0, "eval_set": "test",
               "variants": {"tsss": _variant(0.7, per, ["cow"])}, "ratios": {"tsss": {}},
               "class_kinds": {"background": "background", "cat": "strong", "cow": "weak"},
               "skipped": {"full": "no masks"},
               "pseudo_labels": {"miou": None, "miou_weak": None, "num_images": 3,
                                 "num_scored": 0, "not_scored": "no mask to compare with"}}
    md = to_markdown(results)
    assert "`full` was not trained: no masks." in md
    assert "Pseudo labels on the weak training images: not measurable (no mask to compare " \
        "with)." in md
    assert "| cow | weak | not measurable |" in md
    assert "Not measurable: cow (no pixel of it in the masks of `test`" in md
