"""Cross-dataset experiments: strong categories from a *source* data set, weak ones from the
*target* data set (the paper's 0% setting, e.g. COCO -> VOC 2012, CamVid -> msrc_things).

`CrossExperimentData` is the `ExperimentData` of a config whose `data.source.dataset` is set
(`tsss_tf.data.experiment_data.open_experiment_data` returns one). The split's `strong` list names experiment
categories supplied by the source (after its category map, tsss_tf.data.category_map), its
`weak` list target data set categories. The experiment's classes are
`[background] + strong (source order) + weak (target order)`.

Image policy ([ours], extends splits.POLICY):
  * source training images are strong images: their masks, through the category map's lookup
    table, train the networks. Source images showing a dropped class are left out
    (`exclude_dropped`, default) or keep it as 255;
  * target training images are weak images whatever they show: only their tags (the weak
    categories present) are used, their masks never reach training (except in the fully
    supervised baseline, the "full" variant, which is the upper bound). Target training images
    that show no weak category carry no usable label and are left out;
  * evaluation (val_set, test_set) is on the target only, restricted to background and the
    weak categories: the target's other classes become 255 (or background, `split.other`).

The training stream mixes the two data sets with `data.source_ratio` (share of source images,
see tsss_tf.data.pipeline.train_dataset), or in proportion to their sizes when it is None.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
from typing import List, Tuple

import numpy as np

from tsss_tf.data.category_map import CategoryMap
from tsss_tf.data.sources import ExperimentData, Record, open_layout
from tsss_tf.data.splits import STRONG, WEAK, Split, SplitError
from tsss_tf.data.voc import DataError, IGNORE_LABEL, present_classes, read_mask_file


@dataclasses.dataclass(frozen=True)
class SourceRecord(Record):
    """A source data set image: its mask is in the source's class ids (pipeline MASK_SOURCE)."""

    from_source: bool = True


def open_source_layout(data_cfg):
    """The layout of `data_cfg.source` (VOC, COCO or embedded)."""
    src = data_cfg.source
    if src.dataset == "coco":
        from tsss_tf.data.coco import CocoLayout

        if not src.data_dir:
            raise DataError("data.source.dataset='coco' needs data.source.data_dir (a folder "
                            "with annotations/instances_SET.json)")
        return CocoLayout(src.data_dir)
    if src.dataset in ("voc", "embedded"):
        if src.dataset == "voc" and not src.data_dir:
            raise DataError("data.source.dataset='voc' needs data.source.data_dir (a folder "
                            "in the VOC layout)")
        return open_layout(dataclasses.replace(data_cfg, dataset=src.dataset,
                                               data_dir=src.data_dir, extra_data_dirs=()))
    raise DataError(f"unknown data.source.dataset '{src.dataset}' (voc, coco or embedded)")


def _present_ids(path: str, num_classes: int) -> np.ndarray:
    return present_classes(read_mask_file(path, num_classes), num_classes)


class CrossExperimentData(ExperimentData):
    """ExperimentData over a target data set (evaluation, weak images) and a source data set
    (strong images). See the module docstring."""

    def __init__(self, data_cfg, split: Split, layout=None, source_layout=None,
                 infer: bool = False):
        if infer and not split.strong and not split.weak:
            raise SplitError("a cross-dataset experiment needs its split named (split.strong "
                             "from the source data set, split.weak from the target); it cannot "
                             "be inferred")
        self.cfg = data_cfg
        self.split = split
        src_cfg = data_cfg.source
        ratio = data_cfg.source_ratio
        if ratio is not None and not 0.0 < ratio < 1.0:
            raise DataError(f"data.source_ratio must be in (0, 1) or null, got {ratio}")
        if not src_cfg.train_sets:
            raise DataError("data.source.train_sets is empty")
        self.layout = layout if layout is not None else open_layout(data_cfg)
        self.source_layout = (source_layout if source_layout is not None
                              else open_source_layout(data_cfg))
        self.category_map = CategoryMap.parse(src_cfg.category_map, src_cfg.drop)
        src_name = f"source data set {self.source_layout.root}"
        tgt_name = f"target data set {self.layout.root}"
        self._validate_split(tgt_name)
        self.category_map.validate(self.source_layout.class_names, split.weak, split.strong,
                                   source=src_name)
        tgt = self.layout.class_names
        src_names = [n for n in self.category_map.mapped_names(self.source_layout.class_names)
                     if n is not None]
        strong = tuple(n for n in dict.fromkeys(src_names) if n in set(split.strong))
        weak = tuple(n for n in tgt if n in set(split.weak))
        bg = (split.background,) if split.background is not None else ()
        self.class_names = bg + strong + weak
        self.num_background = split.num_background()
        self.class_kinds = np.array([0] * len(bg) + [1] * len(strong) + [2] * len(weak),
                                    np.int32)
        index = {n: i for i, n in enumerate(self.class_names)}
        fill = IGNORE_LABEL
        if split.other == "background" and split.background is not None:
            fill = index[split.background]
        # Target lookup: background and weak categories only (a target class named like a
        # strong category is not one of the experiment's target categories).
        self.lut = np.full(256, IGNORE_LABEL, np.uint8)
        for i, n in enumerate(tgt):
            self.lut[i] = index[n] if (n in weak or n == split.background) else fill
        self.source_lut = self.category_map.label_lut(
            self.source_layout.class_names, self.class_names, split.background, split.other)
        self._dropped = set(self.category_map.dropped_ids(self.source_layout.class_names))
        self._cache = {}
        self._scans = {}

    def _validate_split(self, tgt_name: str) -> None:
        s = self.split
        if not s.strong:
            raise SplitError(f"split '{s.name}': a cross-dataset split needs strong categories "
                             "(from the source data set)")
        if not s.weak:
            raise SplitError(f"split '{s.name}': a cross-dataset split needs weak categories "
                             "(from the target data set)")
        if s.other not in ("ignore", "background"):
            raise SplitError(f"split '{s.name}': other must be 'ignore' or 'background'")
        for lst, what in ((s.strong, "strong"), (s.weak, "weak")):
            if len(set(lst)) != len(lst):
                raise SplitError(f"split '{s.name}': a {what} category is listed twice")
        tgt = self.layout.class_names
        unknown = [c for c in s.weak if c not in tgt]
        if unknown:
            raise SplitError(f"split '{s.name}' names weak categories {unknown} unknown to "
                             f"{tgt_name} (classes: {', '.join(tgt)})")
        if s.background is not None and s.background not in tgt:
            raise SplitError(f"split '{s.name}': background class '{s.background}' is not a "
                             f"class of {tgt_name}")
        if s.background in s.categories:
            raise SplitError(f"split '{s.name}': the background cannot also be a category")

    # -- records ----------------------------------------------------------------------------
    def _index(self, layout, ids) -> tuple:
        paths = [layout.mask_path(n) for n in ids]
        n = layout.num_classes
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            return paths, list(pool.map(lambda p: _present_ids(p, n), paths))

    def _ids_of(self, lut, present) -> Tuple[int, ...]:
        return tuple(sorted({int(lut[c]) for c in present} - {IGNORE_LABEL}
                            - set(range(self.num_background))))

    def records(self, set_name: str) -> List[Record]:
        """The indexed images of a *target* image set (evaluation sets), image policy of the
        split (weak when a weak category is present; an image without a mask is weak)."""
        key = ("target", set_name)
        if key not in self._cache:
            names = self.layout.class_names
            bg = names.index(self.split.background) if self.split.background in names else None
            entries, presents = self._scan(set_name, bg)
            recs = []
            for e, pres in zip(entries, presents):
                exp = self._ids_of(self.lut, pres)
                kind = WEAK if exp or not e.mask_path else STRONG
                recs.append(Record(e.name, e.image_path, e.mask_path, exp, kind, e.root))
            self._cache[key] = recs
        return self._cache[key]

    def source_records(self, set_name: str) -> List[SourceRecord]:
        """The strong images of a source image set (dropped classes: see exclude_dropped)."""
        key = ("source", set_name)
        if key not in self._cache:
            lay = self.source_layout
            ids = lay.image_ids(set_name)
            paths, presents = self._index(lay, ids)
            recs = []
            for name, mpath, pres in zip(ids, paths, presents):
                if self.cfg.source.exclude_dropped and self._dropped & set(pres.tolist()):
                    continue
                recs.append(SourceRecord(name, lay.image_path(name), mpath,
                                         self._ids_of(self.source_lut, pres), STRONG))
            if not recs:
                raise DataError(f"source image set '{set_name}' of {lay.root} has no usable "
                                "image (all show a dropped class)")
            self._cache[key] = recs
        return self._cache[key]

    def target_train_records(self) -> List[Record]:
        """Target training images with at least one weak category, all weak (tags only)."""
        out = []
        for s in self.cfg.train_sets:
            out.extend(dataclasses.replace(r, kind=WEAK) for r in self.records(s) if r.present)
        return out

    def train_records(self) -> List[Record]:
        """Target weak images, then source strong images."""
        out = self.target_train_records()
        for s in self.cfg.source.train_sets:
            out.extend(self.source_records(s))
        return out
