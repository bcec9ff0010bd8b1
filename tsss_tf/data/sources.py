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
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from tsss_tf.data.roots import MergedLayout
from tsss_tf.data.splits import STRONG, WEAK, Split
from tsss_tf.image_limits import ImageLimits
from tsss_tf.data.voc import (IGNORE_LABEL, DataError, ImageEntry, VocLayout, check_image_file,
                              present_classes, read_mask_file)


@dataclasses.dataclass(frozen=True)
class Record:
    """One image of an image set, in the experiment's class space.

    present: experiment class ids of the categories present (background excluded), from its
      mask, or from its tags when it has none.
    kind: STRONG or WEAK (the split's image policy; an image without a mask is always WEAK).
    mask_path: "" for an image without a mask (tags only).
    root: index of its data folder (tsss_tf.data.roots), whose lookup table maps its mask.
    """

    name: str
    image_path: str
    mask_path: str
    present: Tuple[int, ...]
    kind: str
    root: int = 0


def open_layout(data_cfg):
    """The layout of a DataConfig: a VocLayout, a MergedLayout of data_dir and
    extra_data_dirs, or the embedded set (materialised on first use)."""
    if data_cfg.dataset == "embedded":
        if getattr(data_cfg, "extra_data_dirs", ()):
            raise DataError("data.extra_data_dirs needs data.dataset='voc' (the embedded data "
                            "set is one generated folder)")
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
        extra = tuple(getattr(data_cfg, "extra_data_dirs", ()) or ())
        if not extra:
            return VocLayout(data_cfg.data_dir)
        return MergedLayout([VocLayout(d) for d in (data_cfg.data_dir,) + extra])
    raise DataError(f"unknown data.dataset '{data_cfg.dataset}' (embedded or voc)")


def index_image(image_path: str, mask_path: str, num_classes: int, limits=None) -> np.ndarray:
    """The data-set class ids present in an image's mask, after the checks that keep a bad
    file from failing deep inside the tf.data pipeline: the mask decodes, its labels are
    classes or 255, the image's header is readable and it is not cut short
    (`voc.check_image_file`, no pixel decoding), and both have the same size. DataError
    names the file. `limits` (image_limits.ImageLimits) bounds both sizes, from the headers."""
    mask = read_mask_file(mask_path, num_classes, limits=limits)
    height, width = check_image_file(image_path, limits)
    if mask.shape != (height, width):
        raise DataError(f"{mask_path}: mask size {mask.shape[1]}x{mask.shape[0]} differs from "
                        f"its image's {width}x{height} ({image_path})")
    return present_classes(mask, num_classes)


def image_limits(data_cfg) -> ImageLimits:
    """The largest image a data set may hold (data.max_image_pixels, data.max_image_side)."""
    return ImageLimits(int(data_cfg.max_image_pixels), int(data_cfg.max_image_side))


def scan_entries(layout, entries: Sequence[ImageEntry], background: Optional[int],
                 need_masks: str = "", limits=None) -> List[Tuple[int, ...]]:
    """Per entry, the layout class ids it shows (background and 255 excluded): from its mask
    (checked by `index_image`, and against its tags when it has both), else from its tags
    (the image's header checked). `need_masks`: when set (the set's name), an image without a
    mask is a DataError naming it (evaluation sets). `limits`: see index_image."""
    drop = {IGNORE_LABEL} | ({background} if background is not None else set())

    def scan(e: ImageEntry) -> Tuple[int, ...]:
        if not e.mask_path:
            if need_masks:
                raise DataError(
                    f"{e.tags.where}: image '{e.name}' of the evaluation set '{need_masks}' "
                    "has tags but no mask; val and test images need masks")
            check_image_file(e.image_path, limits)
            return tuple(c for c in e.tags.classes if c not in drop)
        lay = layout.layouts[e.root]
        found = index_image(e.image_path, e.mask_path, lay.num_classes, limits)
        present = tuple(sorted({int(layout.root_luts[e.root][c]) for c in found} - drop))
        if e.tags is not None:
            tagged = tuple(c for c in e.tags.classes if c not in drop)
            if tagged != present:
                names = layout.class_names
                said = ", ".join(names[c] for c in tagged)
                shown = ", ".join(names[c] for c in present) or "background only"
                raise DataError(f"{e.tags.where}: the tags of '{e.name}' ({said}) disagree with "
                                f"its mask {e.mask_path} ({shown})")
        return present

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(scan, entries))


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

    A config with `data_cfg.source.dataset` set (strong categories from another data set) needs
    `tsss_tf.data.cross_dataset.CrossExperimentData`: open either with
    `tsss_tf.data.experiment_data.open_experiment_data`."""

    def __init__(self, data_cfg, split: Split, layout=None, infer: bool = False):
        self.cfg = data_cfg
        self.layout = layout if layout is not None else open_layout(data_cfg)
        self._scans: Dict[str, tuple] = {}
        self._cache: Dict[str, List[Record]] = {}
        if infer and not split.strong and not split.weak:
            split = self._inferred_split(split)
        self.split = split
        split.validate(self.layout.class_names, source=f"data set {self.layout.root}")
        self.class_names = split.class_names(self.layout.class_names)
        self.lut = split.label_lut(self.layout.class_names)
        self.class_kinds = split.category_kinds(self.layout.class_names)
        self.num_background = split.num_background()

    # -- the data folders as scanned ----------------------------------------------------------
    def _background_id(self, split: Split) -> Optional[int]:
        names = self.layout.class_names
        return names.index(split.background) if split.background in names else None

    def _scan(self, set_name: str, background: Optional[int]) -> tuple:
        """(entries, layout class ids present per entry) of an image set (cached)."""
        if set_name not in self._scans:
            entries = self.layout.entries(set_name)
            need = "" if set_name in self.cfg.train_sets else set_name
            self._scans[set_name] = (entries, scan_entries(self.layout, entries, background,
                                                           need, image_limits(self.cfg)))
        return self._scans[set_name]

    def _inferred_split(self, split: Split) -> Split:
        """The split with strong = categories shown by a training mask, weak = categories
        only tagged, in the layout's class order."""
        bg = self._background_id(split)
        masked, tagged = set(), set()
        for s in self.cfg.train_sets:
            for e, present in zip(*self._scan(s, bg)):
                (masked if e.mask_path else tagged).update(present)
        names = self.layout.class_names
        strong = tuple(names[c] for c in sorted(masked))
        weak = tuple(names[c] for c in sorted(tagged - masked))
        if not strong and not weak:
            raise DataError(f"the training sets {', '.join(self.cfg.train_sets)} of "
                            f"{self.layout.root} show no category: nothing to learn")
        return dataclasses.replace(split, strong=strong, weak=weak)

    def source_text(self) -> str:
        roots = [lay.root for lay in self.layout.layouts]
        return roots[0] if len(roots) == 1 else f"{len(roots)} folders ({', '.join(roots)})"

    # -- records ------------------------------------------------------------------------------
    @property
    def root_luts(self) -> list:
        """Per data folder: its mask's class ids -> experiment class ids."""
        return [self.lut[lut] for lut in self.layout.root_luts]

    def root_num_classes(self, root: int) -> int:
        return self.layout.layouts[root].num_classes

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_categories(self) -> int:
        return self.num_classes - self.num_background

    def records(self, set_name: str) -> List[Record]:
        """The indexed images of an image set (cached). A training image without a mask whose
        tags name no category of the experiment carries no label and is left out."""
        if set_name not in self._cache:
            entries, presents = self._scan(set_name, self._background_id(self.split))
            recs = []
            for e, pres in zip(entries, presents):
                exp_ids = sorted({int(self.lut[c]) for c in pres} - {IGNORE_LABEL}
                                 - set(range(self.num_background)))
                if not e.mask_path and not exp_ids:
                    continue
                names = [self.class_names[i] for i in exp_ids]
                kind = self.split.image_kind(names) if e.mask_path else WEAK
                recs.append(Record(e.name, e.image_path, e.mask_path, tuple(exp_ids), kind,
                                   e.root))
            self._cache[set_name] = recs
            _INDEXED.add(self)
        return self._cache[set_name]

    def validate(self) -> None:
        """Indexes the training and evaluation sets now (each image's header, each mask, each
        tags line), so that a bad file stops a run before it writes anything; a category of
        the split that no training image shows is a DataError."""
        train = self.train_records()
        for s in (self.cfg.val_set, self.cfg.test_set):
            if s:
                self.records(s)
        shown = {c for r in train for c in r.present}
        missing = [n for i, n in enumerate(self.class_names)
                   if i >= self.num_background and i not in shown]
        if missing:
            raise DataError(
                f"categories {missing} of split '{self.split.name}' are in no training image "
                f"of {self.source_text()} (sets {', '.join(self.cfg.train_sets)}): neither a "
                "mask nor a tags line shows them, so they cannot be learnt")

    def has_tag_only_training(self) -> bool:
        """Whether some training image has tags but no mask (no fully supervised baseline)."""
        return any(not r.mask_path for r in self.train_records())

    def describe(self) -> List[str]:
        """What the run will use, for the start of the log: folders, image counts, the split
        and what happens to data-set classes the split leaves out."""
        train = self.train_records()
        tag_only = sum(not r.mask_path for r in train)
        lines = [f"data: {self.source_text()}; training images {len(train)} "
                 f"({len(train) - tag_only} with masks, {tag_only} tags only; "
                 f"{sum(r.kind == STRONG for r in train)} strong, "
                 f"{sum(r.kind == WEAK for r in train)} weak)"
                 + "".join(f", {s} {len(self.records(s))}"
                           for s in (self.cfg.val_set, self.cfg.test_set) if s)]
        sp = self.split
        lines.append(f"split '{sp.name}': strong (masks) {', '.join(sp.strong) or 'none'}; "
                     f"weak (tags) {', '.join(sp.weak) or 'none'}")
        left = [n for n in self.layout.class_names
                if n not in sp.categories and n != sp.background]
        if left:
            fate = ("their pixels become background" if sp.other == "background"
                    else "their pixels are ignored (255) in training and evaluation")
            lines.append(f"classes left out of the split: {', '.join(left)}: {fate}; an image "
                         "with a mask that shows only them counts as a background-only strong "
                         "image, a tag-only one is not used")
        return lines

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
