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
import weakref
from typing import Dict, List, Sequence, Tuple

import numpy as np

from tsss_tf.data.splits import STRONG, WEAK, Split
from tsss_tf.data.voc import (DataError, VocLayout, check_image_file, present_classes,
                              read_mask_file)


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


def index_image(image_path: str, mask_path: str, num_classes: int) -> np.ndarray:
    """The data-set class ids present in an image's mask, after the checks that keep a bad
    file from failing deep inside the tf.data pipeline: the mask decodes, its labels are
    classes or 255, the image's header is readable and it is not cut short
    (`voc.check_image_file`, no pixel decoding), and both have the same size. DataError
    names the file."""
    mask = read_mask_file(mask_path, num_classes)
    height, width = check_image_file(image_path)
    if mask.shape != (height, width):
        raise DataError(f"{mask_path}: mask size {mask.shape[1]}x{mask.shape[0]} differs from "
                        f"its image's {width}x{height} ({image_path})")
    return present_classes(mask, num_classes)


# Data sets indexed in this process, for `find_undecodable_image` (weak: no leak).
_INDEXED = weakref.WeakSet()


def find_undecodable_image():
    """(path, problem) of the first indexed image that tf.io.decode_image cannot decode, or
    None. Used only after the pipeline failed on an image (the index checks headers, not
    pixels), to name the file in the error; it decodes every indexed image until one fails."""
    import tensorflow as tf

    seen = set()
    for data in list(_INDEXED):
        for recs in list(data._cache.values()):
            for r in recs:
                if r.image_path in seen:
                    continue
                seen.add(r.image_path)
                try:
                    tf.io.decode_image(tf.io.read_file(r.image_path), channels=3,
                                       expand_animations=False)
                except tf.errors.OpError as e:
                    lines = [ln for ln in e.message.splitlines() if ln.strip()]
                    return r.image_path, (lines[-1] if lines else type(e).__name__).strip()
    return None


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
            images = [self.layout.image_path(n) for n in ids]
            n = self.layout.num_classes
            with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
                presents = list(pool.map(lambda ip, mp: index_image(ip, mp, n), images, paths))
            recs = []
            for name, ipath, mpath, pres in zip(ids, images, paths, presents):
                exp_ids = sorted({int(self.lut[c]) for c in pres} - {255}
                                 - set(range(self.num_background)))
                names = [self.class_names[i] for i in exp_ids]
                recs.append(Record(name, ipath, mpath, tuple(exp_ids),
                                   self.split.image_kind(names)))
            self._cache[set_name] = recs
            _INDEXED.add(self)
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
