"""From a DataConfig + split to the indexed images of an experiment.

`ExperimentData` opens the configured data set (the embedded set is materialised on first
use), validates the split against its classes, and indexes each image set: the present
categories of every image (its image-level tags) and whether it is a strong or a weak image.

    data = ExperimentData(cfg.data, Split.from_config(cfg.split))
    data.class_names, data.num_categories
    recs = data.records("train")      # [Record(name, image_path, mask_path, present, kind)]
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
from typing import Dict, List, Sequence, Tuple

import numpy as np

from tsss_tf.data.splits import STRONG, WEAK, Split
from tsss_tf.data.voc import DataError, VocLayout, present_classes, read_mask_file


@dataclasses.dataclass(frozen=True)
class Record:
    """One image of an image set, in the experiment's class space.

    present: experiment class ids of the categories present (background excluded).
    kind: STRONG or WEAK (the split's image policy).
    """

    name: str
    image_path: str
    mask_path: str
    present: Tuple[int, ...]
    kind: str


def open_layout(data_cfg) -> VocLayout:
    """The VOC-layout folder of a DataConfig (materialising the embedded set if needed)."""
    if data_cfg.dataset == "embedded":
        from tsss_tf.data import embedded

        root = embedded.materialize(
            root=data_cfg.data_dir, seed=data_cfg.embedded_seed, size=data_cfg.embedded_size,
            num_train=data_cfg.embedded_num_train, num_source=data_cfg.embedded_num_source,
            num_val=data_cfg.embedded_num_val, num_test=data_cfg.embedded_num_test)
        return VocLayout(root)
    if data_cfg.dataset == "voc":
        if not data_cfg.data_dir:
            raise DataError(f"data.dataset='{data_cfg.dataset}' needs data.data_dir "
                            "(a folder in the VOC layout)")
        return VocLayout(data_cfg.data_dir)
    raise DataError(f"unknown data.dataset '{data_cfg.dataset}' (embedded or voc)")


def _present(path: str, num_classes: int) -> np.ndarray:
    return present_classes(read_mask_file(path, num_classes), num_classes)


class ExperimentData:
    """The data of one experiment: layout, split, class lists and per-set indexes.

    With `data_cfg.source.dataset` set (strong categories from another data set) the object
    made is a `tsss_tf.data.cross_dataset.CrossExperimentData`."""

    def __new__(cls, data_cfg=None, *args, **kwargs):
        if cls is ExperimentData and getattr(getattr(data_cfg, "source", None), "dataset", ""):
            from tsss_tf.data.cross_dataset import CrossExperimentData

            cls = CrossExperimentData
        return super().__new__(cls)

    def __init__(self, data_cfg, split: Split, layout: VocLayout = None):
        self.cfg = data_cfg
        self.split = split
        self.layout = layout if layout is not None else open_layout(data_cfg)
        split.validate(self.layout.class_names, source=f"data set {self.layout.root}")
        self.class_names = split.class_names(self.layout.class_names)
        self.lut = split.label_lut(self.layout.class_names)
        self.class_kinds = split.category_kinds(self.layout.class_names)
        self.num_background = split.num_background()
        self._cache: Dict[str, List[Record]] = {}

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_categories(self) -> int:
        return self.num_classes - self.num_background

    @property
    def category_names(self) -> Tuple[str, ...]:
        return self.class_names[self.num_background:]

    def records(self, set_name: str) -> List[Record]:
        """The indexed images of an image set (cached)."""
        if set_name not in self._cache:
            ids = self.layout.image_ids(set_name)
            paths = [self.layout.mask_path(n) for n in ids]
            n = self.layout.num_classes
            with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
                presents = list(pool.map(lambda p: _present(p, n), paths))
            recs = []
            for name, mpath, pres in zip(ids, paths, presents):
                exp_ids = sorted({int(self.lut[c]) for c in pres} - {255}
                                 - set(range(self.num_background)))
                names = [self.class_names[i] for i in exp_ids]
                recs.append(Record(name, self.layout.image_path(name), mpath, tuple(exp_ids),
                                   self.split.image_kind(names)))
            self._cache[set_name] = recs
        return self._cache[set_name]

    def train_records(self) -> List[Record]:
        out = []
        for s in self.cfg.train_sets:
            out.extend(self.records(s))
        return out

    def labels_multi_hot(self, recs: Sequence[Record]) -> np.ndarray:
        """float32 [N, K]: image-level tags over the categories (background excluded)."""
        y = np.zeros((len(recs), self.num_categories), np.float32)
        for i, r in enumerate(recs):
            for c in r.present:
                y[i, c - self.num_background] = 1.0
        return y

    def counts(self, recs: Sequence[Record]) -> dict:
        return {STRONG: sum(r.kind == STRONG for r in recs),
                WEAK: sum(r.kind == WEAK for r in recs)}
