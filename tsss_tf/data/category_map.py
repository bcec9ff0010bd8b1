"""How a *source* data set's classes become an experiment's classes (cross-dataset transfer).

In the 0% setting the strong categories come from another data set (docs/method.md). A
`CategoryMap` says, for each class of that source data set, what it becomes:

* `mapping`: "source=name" entries. Renames ("motorcycle=motorbike"), merges (several source
  classes to one name: "pedestrian=person", "bicyclist=person") and merges into the background
  ("sky=background"). A class not mentioned keeps its own name.
* `drop`: source classes whose pixels become 255 (ignore). A source category that is also a
  *target* category of the experiment (a weak one) must be dropped: its masks would otherwise
  reach training, which the 0% setting forbids. `validate` refuses such a map with an error
  naming the category.

Then, against the experiment's strong categories: a (mapped) name that is the background goes to
the background, a strong category to its class id, anything else to 255 or the background
(the split's `other`).

    cmap = CategoryMap.parse(["sky=background", "road=background"], drop=["dog"])
    cmap.validate(source_classes, target_categories=("dog", "cat"), strong=("car",))
    lut = cmap.label_lut(source_classes, experiment_classes, background="background")
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from tsss_tf.errors import CategoryMapError, SplitError  # noqa: F401
from tsss_tf.data.voc import IGNORE_LABEL


@dataclasses.dataclass(frozen=True)
class CategoryMap:
    """Source class -> experiment name (see the module docstring)."""

    mapping: Tuple[Tuple[str, str], ...] = ()
    drop: Tuple[str, ...] = ()

    @classmethod
    def parse(cls, entries: Sequence[str] = (), drop: Sequence[str] = ()) -> "CategoryMap":
        """From "source=name" strings (the config's form) and a drop list."""
        pairs = []
        for e in entries:
            if not isinstance(e, str) or e.count("=") != 1:
                raise CategoryMapError(f"category map entry {e!r} is not of the form "
                                       "'source=name'")
            src, dst = (p.strip() for p in e.split("="))
            if not src or not dst:
                raise CategoryMapError(f"category map entry {e!r} has an empty name")
            pairs.append((src, dst))
        return cls(tuple(pairs), tuple(drop))

    def as_dict(self) -> Dict[str, str]:
        return dict(self.mapping)

    def validate(self, source_classes: Sequence[str], target_categories: Sequence[str] = (),
                 strong: Sequence[str] = (), source: str = "the source data set") -> None:
        """Raises CategoryMapError for unknown, doubly mapped or mapped-and-dropped source
        classes, a strong category the source does not supply, and for a source category
        that is also a target category and is not dropped."""
        known = list(source_classes)
        srcs = [s for s, _ in self.mapping]
        dup = sorted({s for s in srcs if srcs.count(s) > 1})
        if dup:
            raise CategoryMapError(f"category map: source classes {dup} are mapped twice")
        if len(set(self.drop)) != len(self.drop):
            raise CategoryMapError("category map: a dropped class is listed twice")
        unknown = [s for s in list(srcs) + list(self.drop) if s not in known]
        if unknown:
            raise CategoryMapError(f"category map names classes {unknown} unknown to {source} "
                                   f"(classes: {', '.join(known)})")
        both = sorted(set(srcs) & set(self.drop))
        if both:
            raise CategoryMapError(f"category map: {both} are both mapped and dropped")
        names = self.mapped_names(known)
        targets = set(target_categories)
        for cls_name, name in zip(known, names):
            if name is not None and name in targets:
                how = "" if name == cls_name else f" (mapped from '{cls_name}')"
                raise CategoryMapError(
                    f"source category '{name}'{how} of {source} is also a target category: its "
                    "masks would reach training. Drop it (data.source.drop) or map it to "
                    "another name")
        supplied = {n for n in names if n is not None}
        missing = [c for c in strong if c not in supplied]
        if missing:
            raise CategoryMapError(
                f"strong categories {missing} are not classes of {source} after the category "
                f"map (mapped classes: {', '.join(sorted(supplied))})")
        overlap = sorted(set(strong) & targets)
        if overlap:
            raise CategoryMapError(f"categories {overlap} are both strong (from {source}) and "
                                   "target categories")

    def mapped_names(self, source_classes: Sequence[str]) -> Tuple[Optional[str], ...]:
        """Per source class: its experiment-side name, None when dropped."""
        m = self.as_dict()
        dropped = set(self.drop)
        return tuple(None if c in dropped else m.get(c, c) for c in source_classes)

    def dropped_ids(self, source_classes: Sequence[str]) -> Tuple[int, ...]:
        """Source class ids that are dropped."""
        return tuple(i for i, n in enumerate(self.mapped_names(source_classes)) if n is None)

    def label_lut(self, source_classes: Sequence[str], experiment_classes: Sequence[str],
                  background: Optional[str] = "background", other: str = "ignore") -> np.ndarray:
        """uint8 [256]: source class id -> experiment class id (255 stays 255).

        Mapped names that are experiment classes take their id; dropped classes 255; any other
        class 255, or the background when other == "background"."""
        index = {n: i for i, n in enumerate(experiment_classes)}
        fill = IGNORE_LABEL
        if other == "background" and background is not None and background in index:
            fill = index[background]
        lut = np.full(256, IGNORE_LABEL, dtype=np.uint8)
        for i, name in enumerate(self.mapped_names(source_classes)):
            lut[i] = IGNORE_LABEL if name is None else index.get(name, fill)
        return lut
