"""Category splits: which categories have masks (strong) and which only tags (weak).

A `Split` is a versioned, hashable object. Its image policy (docs/method.md, [ours]):

* an image whose present categories are all strong (or that holds background only) is a
  *strong image* and keeps its mask;
* an image with any weak category present is a *weak image*: its mask never reaches training,
  only its set of present categories (its image-level tags) does.

The experiment's class list is `[background] + categories`, categories in the data set's
order; data-set classes in neither list become 255 (ignore) or background (`other`).

    split = Split("msrc_50", strong=("cow", "dog"), weak=("sheep", "cat"))
    split.validate(("background", "cow", "sheep", "dog", "cat"))
    split.content_hash()   # e.g. '3f2a9c0d11e4'
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Optional, Sequence, Tuple

import numpy as np

from tsss_tf.data.voc import IGNORE_LABEL
from tsss_tf.errors import SplitError  # noqa: F401 (raised here; importable from here)

POLICY = "any-weak-category-makes-a-weak-image/v1"

STRONG, WEAK = "strong", "weak"


@dataclasses.dataclass(frozen=True)
class Split:
    name: str
    strong: Tuple[str, ...]
    weak: Tuple[str, ...]
    background: Optional[str] = "background"
    other: str = "ignore"
    policy: str = POLICY

    @classmethod
    def from_config(cls, cfg) -> "Split":
        return cls(name=cfg.name, strong=tuple(cfg.strong), weak=tuple(cfg.weak),
                   background=cfg.background, other=cfg.other)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def content_hash(self) -> str:
        """A short sha256 of the split's content (lists, background, policy)."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]

    @property
    def categories(self) -> Tuple[str, ...]:
        return tuple(self.strong) + tuple(self.weak)

    def validate(self, dataset_classes: Sequence[str], source: str = "the data set") -> None:
        """Raises SplitError for an empty split, an unknown or doubly listed category."""
        if not self.strong and not self.weak:
            raise SplitError(f"split '{self.name}' is empty: it names no strong or weak category")
        if self.other not in ("ignore", "background"):
            raise SplitError(f"split '{self.name}': other must be 'ignore' or 'background', "
                             f"got '{self.other}'")
        both = sorted(set(self.strong) & set(self.weak))
        if both:
            raise SplitError(f"split '{self.name}': {both} listed as both strong and weak")
        for lst, what in ((self.strong, "strong"), (self.weak, "weak")):
            if len(set(lst)) != len(lst):
                raise SplitError(f"split '{self.name}': a {what} category is listed twice")
        known = set(dataset_classes)
        unknown = [c for c in self.categories if c not in known]
        if unknown:
            raise SplitError(
                f"split '{self.name}' names categories {unknown} unknown to {source} "
                f"(classes: {', '.join(dataset_classes)})")
        if self.background is not None:
            if self.background not in known:
                raise SplitError(f"split '{self.name}': background class '{self.background}' "
                                 f"is not a class of {source}")
            if self.background in self.categories:
                raise SplitError(f"split '{self.name}': the background '{self.background}' "
                                 "cannot also be a strong or weak category")

    def class_names(self, dataset_classes: Sequence[str]) -> Tuple[str, ...]:
        """The experiment's classes: background first (if any), then categories."""
        self.validate(dataset_classes)
        chosen = set(self.categories)
        cats = tuple(c for c in dataset_classes if c in chosen)
        return ((self.background,) if self.background is not None else ()) + cats

    def num_background(self) -> int:
        return 1 if self.background is not None else 0

    def label_lut(self, dataset_classes: Sequence[str]) -> np.ndarray:
        """uint8 [256]: data-set class id -> experiment class id (255 stays 255)."""
        names = self.class_names(dataset_classes)
        index = {n: i for i, n in enumerate(names)}
        fill = IGNORE_LABEL
        if self.other == "background" and self.background is not None:
            fill = index[self.background]
        lut = np.full(256, IGNORE_LABEL, dtype=np.uint8)
        for i, n in enumerate(dataset_classes):
            lut[i] = index.get(n, fill)
        return lut

    def category_kinds(self, dataset_classes: Sequence[str]) -> np.ndarray:
        """For each experiment class: 0 background, 1 strong, 2 weak."""
        names = self.class_names(dataset_classes)
        weak = set(self.weak)
        return np.array([0 if n == self.background else (2 if n in weak else 1) for n in names],
                        dtype=np.int32)

    def image_kind(self, present_names: Sequence[str]) -> str:
        """STRONG or WEAK for an image whose present categories are `present_names`."""
        weak = set(self.weak)
        return WEAK if any(n in weak for n in present_names) else STRONG
