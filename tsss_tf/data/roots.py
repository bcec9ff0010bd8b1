"""Several data folders read as one data set (`--data_dir=A --data_dir=B`).

Classes are merged by *name*, not index: the merged class list is the first folder's classes,
then each later folder's new names in its order. Image sets are merged by set name (`train` is
every folder's `train`); a folder without a set adds nothing to it. A mask keeps its own
folder's class ids on disk and is mapped by that folder's lookup table (`root_luts`).

Refused, with the files named: an image name in two folders, two class names that differ only
in case or punctuation ("Book" / "book", "dining_table" / "diningtable"), and a class given two
colours by the folders' classes.txt (`name R G B` lines). The masks' palettes are display only:
a mask's pixel values are class ids of its own folder.

    layout = MergedLayout([VocLayout("/data/base"), VocLayout("/data/books")])
    layout.class_names, layout.entries("train")[-1].root   # 1: from /data/books
"""

from __future__ import annotations

import dataclasses
import re
from typing import List, Sequence

import numpy as np

from tsss_tf.data.voc import IGNORE_LABEL, DataError, ImageEntry, TagLine, VocLayout


def _key(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


class MergedLayout:
    """Data folders in the VOC layout merged into one data set (see the module docstring)."""

    def __init__(self, layouts: Sequence[VocLayout]):
        if not layouts:
            raise DataError("no data folder given")
        self.layouts = list(layouts)
        roots = [lay.root for lay in self.layouts]
        dup = sorted({r for r in roots if roots.count(r) > 1})
        if dup:
            raise DataError(f"data folder {dup[0]} is given twice")
        self.root = " + ".join(roots)
        names: List[str] = []
        seen = {}
        for lay in self.layouts:
            for n in lay.class_names:
                k = _key(n)
                if k in seen and seen[k][0] != n:
                    raise DataError(
                        f"{lay._classes_path()}: class '{n}' and class '{seen[k][0]}' of "
                        f"{seen[k][1]} differ only in case or punctuation; folders are merged "
                        "by class name, so spell them the same")
                if n not in names:
                    names.append(n)
                    seen[k] = (n, lay._classes_path())
        if len(names) >= IGNORE_LABEL:
            raise DataError(f"the data folders {self.root} have {len(names)} classes together; "
                            "at most 254")
        self.class_names = tuple(names)
        index = {n: i for i, n in enumerate(names)}
        self.root_luts = []
        for lay in self.layouts:
            lut = np.full(256, IGNORE_LABEL, np.uint8)
            for i, n in enumerate(lay.class_names):
                lut[i] = index[n]
            self.root_luts.append(lut)
        self._check_colours()

    def _check_colours(self) -> None:
        first = {}  # class name -> (colour, classes.txt)
        for lay in self.layouts:
            for n, colour in lay.class_colours.items():
                if n in first and first[n][0] != colour:
                    raise DataError(
                        f"{lay._classes_path()}: class '{n}' has colour {colour}, but "
                        f"{first[n][1]} gives it {first[n][0]}: the folders disagree on the "
                        "class's colour")
                first.setdefault(n, (colour, lay._classes_path()))

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def available_sets(self) -> List[str]:
        return sorted({s for lay in self.layouts for s in lay.available_sets()})

    def has_set(self, set_name: str) -> bool:
        return any(lay.has_set(set_name) for lay in self.layouts)

    def entries(self, set_name: str, check_files: bool = True) -> List[ImageEntry]:
        """Every folder's entries of a set, tags mapped to the merged class ids, `root` set."""
        if not self.has_set(set_name):
            raise DataError(f"image set '{set_name}' not found in any of the data folders "
                            f"{self.root} (available: {', '.join(self.available_sets())})")
        out, where = [], {}
        for i, lay in enumerate(self.layouts):
            if not lay.has_set(set_name):
                continue
            lut = self.root_luts[i]
            for e in lay.entries(set_name, check_files):
                if e.name in where:
                    raise DataError(
                        f"image '{e.name}' of set '{set_name}' is in two data folders: "
                        f"{where[e.name]} and {e.image_path}; image names must be unique")
                where[e.name] = e.image_path
                tags = e.tags and TagLine(tuple(sorted(int(lut[c]) for c in e.tags.classes)),
                                          e.tags.where)
                out.append(dataclasses.replace(e, tags=tags, root=i))
        return out

    def image_ids(self, set_name: str, check_files: bool = True) -> List[str]:
        return [e.name for e in self.entries(set_name, check_files)]
