"""Reader for COCO-format instance annotations, served in the VOC layout's interface.

    ROOT/annotations/instances_SET.json    the COCO "instances" file of an image set
    ROOT/SET/FILE_NAME                     its images (COCO 2017: train2017/, val2017/), or
    ROOT/images/SET/FILE_NAME

`CocoLayout` has the interface of `tsss_tf.data.voc.VocLayout` (class_names, image_ids(set),
image_path, mask_path, read_image, read_mask, ...), so `ExperimentData` and the tf.data pipeline
use it unchanged. Instance annotations become *semantic* masks in the data set's class ids:
class 0 is "background", class i >= 1 is the i-th COCO category in increasing category id, 255
is ignore. The masks are painted once (numpy and PIL only, no pycocotools) into palette PNGs in
a cache folder (written atomically: temporary file + rename) and served from there.

Painting (all annotations of an image, `READER_VERSION` 1):
  * crowd regions (`iscrowd` = 1) are painted first, as 255 (ignore): what they hold is unknown;
  * then the other instances in decreasing area (the `area` field, else the painted pixel count;
    ties by annotation id), each over what is already there: a smaller object lying on a larger
    one stays visible, and an instance in front of a crowd keeps its label;
  * pixels no instance covers are background (0); an image without annotations is all
    background.
Segmentations may be polygons (a list of [x1, y1, x2, y2, ...], drawn with PIL ImageDraw; a
polygon of fewer than 3 points is skipped), uncompressed RLE ({"counts": [...], "size": [h, w]},
column-major runs starting with zeros) or compressed RLE (counts as the COCO LEB128-like string).

    coco = CocoLayout("/data/coco")
    ids = coco.image_ids("val2017")
    image, mask = coco.read_example(ids[0])
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
from typing import Dict, List, Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw

from tsss_tf import cache
from tsss_tf.atomic import atomic_open
from tsss_tf.data.voc import (IGNORE_LABEL, DataError, ExampleReader,
                             write_palette_png)

READER_VERSION = 1
BACKGROUND = "background"


# ----------------------------------------------------------------------------- RLE
def decode_rle_string(s: str) -> List[int]:
    """The run lengths of a compressed COCO RLE string (pycocotools' rleFrString)."""
    counts: List[int] = []
    p = 0
    while p < len(s):
        x, k, more = 0, 0, 1
        while more:
            if p >= len(s):
                raise ValueError("truncated RLE string")
            c = ord(s[p]) - 48
            if not 0 <= c < 64:
                raise ValueError(f"character {s[p]!r} is not valid in an RLE string")
            x |= (c & 0x1F) << (5 * k)
            more = c & 0x20
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def encode_rle_string(counts: Sequence[int]) -> str:
    """Run lengths -> compressed COCO RLE string (pycocotools' rleToString)."""
    out = []
    for i, x in enumerate(int(c) for c in counts):
        if i > 2:
            x -= int(counts[i - 2])
        more = 1
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def rle_decode(counts: Sequence[int], height: int, width: int) -> np.ndarray:
    """Run lengths (column-major, zeros first) -> bool [height, width]."""
    counts = np.asarray(counts, dtype=np.int64)
    if counts.size and counts.min() < 0:
        raise ValueError("negative run length")
    if int(counts.sum()) != height * width:
        raise ValueError(f"run lengths sum to {int(counts.sum())}, not {height}x{width}")
    values = np.arange(counts.size) % 2 == 1
    flat = np.repeat(values, counts)
    return flat.reshape(width, height).T


def rle_encode(mask: np.ndarray) -> List[int]:
    """bool [H, W] -> run lengths (column-major, zeros first): the inverse of rle_decode."""
    flat = np.asarray(mask, bool).T.reshape(-1)
    change = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        runs = [0] + runs
    return runs


def segmentation_mask(seg, height: int, width: int) -> np.ndarray:
    """One annotation's `segmentation` (polygons or RLE) -> bool [height, width]."""
    if isinstance(seg, list):
        canvas = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(canvas)
        for poly in seg:
            if not isinstance(poly, (list, tuple)):
                raise ValueError("a polygon must be a list of coordinates")
            if len(poly) < 6:
                continue  # fewer than 3 points: no area
            pts = [(float(poly[i]), float(poly[i + 1])) for i in range(0, len(poly) - 1, 2)]
            draw.polygon(pts, fill=1, outline=1)
        return np.asarray(canvas, dtype=bool)
    if isinstance(seg, dict) and "counts" in seg and "size" in seg:
        h, w = (int(v) for v in seg["size"])
        if (h, w) != (height, width):
            raise ValueError(f"RLE size {h}x{w} differs from the image's {height}x{width}")
        counts = seg["counts"]
        if isinstance(counts, bytes):
            counts = counts.decode("ascii")
        if isinstance(counts, str):
            counts = decode_rle_string(counts)
        return rle_decode(counts, h, w)
    raise ValueError("segmentation is neither a list of polygons nor an RLE dict")


def paint_semantic(annotations: Sequence[dict], height: int, width: int,
                   category_to_class: Dict[int, int]) -> np.ndarray:
    """The semantic mask uint8 [height, width] of one image's annotations (module docstring)."""
    mask = np.zeros((height, width), np.uint8)
    crowd, things = [], []
    for ann in annotations:
        region = segmentation_mask(ann["segmentation"], height, width)
        area = ann.get("area")
        area = float(area) if isinstance(area, (int, float)) else float(region.sum())
        (crowd if ann.get("iscrowd", 0) else things).append((area, int(ann.get("id", 0)),
                                                             region, ann))
    for *_, region, _ in crowd:
        mask[region] = IGNORE_LABEL
    things.sort(key=lambda t: (-t[0], t[1]))
    for _, _, region, ann in things:
        mask[region] = category_to_class[int(ann["category_id"])]
    return mask


# ----------------------------------------------------------------------------- layout
def _cache_base() -> str:
    return cache.cache_dir("coco")


def _atomic_write_mask(path: str, mask: np.ndarray) -> None:
    with atomic_open(path) as f:
        write_palette_png(f, mask)


class _ImageSet:
    """One parsed instances file."""

    def __init__(self, path: str):
        self.path = path
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: not a valid JSON file ({e})") from None
        except (OSError, UnicodeDecodeError) as e:
            raise DataError(f"{path}: cannot read the annotation file ({e})") from None
        if not isinstance(doc, dict):
            raise DataError(f"{path}: a COCO instances file must hold a JSON object")
        for key in ("images", "categories"):
            if not isinstance(doc.get(key), list):
                raise DataError(f"{path}: no '{key}' list (not a COCO instances file)")
        anns = doc.get("annotations", [])
        if not isinstance(anns, list):
            raise DataError(f"{path}: 'annotations' must be a list")
        try:
            cats = sorted((int(c["id"]), str(c["name"])) for c in doc["categories"])
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{path}: every category needs an integer 'id' and a 'name'") from None
        if not cats:
            raise DataError(f"{path}: the 'categories' list is empty")
        self.categories = cats
        ids = [c for c, _ in cats]
        if len(set(ids)) != len(ids):
            raise DataError(f"{path}: a category id appears twice")
        self.images: Dict[str, dict] = {}
        by_id: Dict[int, str] = {}
        for im in doc["images"]:
            try:
                iid, fname = int(im["id"]), str(im["file_name"])
                h, w = int(im["height"]), int(im["width"])
            except (KeyError, TypeError, ValueError):
                raise DataError(f"{path}: every image needs 'id', 'file_name', 'height' and "
                                f"'width' (bad entry {str(im)[:120]})") from None
            name = os.path.splitext(os.path.basename(fname))[0]
            if name in self.images or iid in by_id:
                raise DataError(f"{path}: image '{name}' (id {iid}) is listed twice")
            self.images[name] = {"id": iid, "file_name": fname, "height": h, "width": w,
                                 "annotations": []}
            by_id[iid] = name
        known_cats = set(ids)
        for ann in anns:
            try:
                iid, cid = int(ann["image_id"]), int(ann["category_id"])
                ann["segmentation"]
            except (KeyError, TypeError, ValueError):
                raise DataError(f"{path}: annotation {str(ann)[:120]} lacks 'image_id', "
                                "'category_id' or 'segmentation'") from None
            if iid not in by_id:
                raise DataError(f"{path}: annotation {ann.get('id')} refers to image id {iid}, "
                                "which is not in 'images'")
            if cid not in known_cats:
                raise DataError(f"{path}: annotation {ann.get('id')} refers to category id "
                                f"{cid}, which is not in 'categories'")
            self.images[by_id[iid]]["annotations"].append(ann)
        st = os.stat(path)
        key = json.dumps([os.path.abspath(path), st.st_size, st.st_mtime_ns, READER_VERSION])
        self.key = hashlib.sha256(key.encode()).hexdigest()[:16]


class CocoLayout(ExampleReader):
    """A data set folder with COCO instances files (module docstring), VocLayout's interface.

    Args:
      root: the folder holding annotations/instances_SET.json and the image folders.
      cache_dir: where the painted masks go (default $TSSS_TF_CACHE/coco or
        ~/.cache/tsss_tf/coco); one subfolder per annotation file version.
      class_names: optional check: the expected class list (background first).
    """

    def __init__(self, root: str, cache_dir: Optional[str] = None,
                 class_names: Optional[Sequence[str]] = None):
        self.root = os.path.abspath(os.path.expanduser(root))
        if not os.path.isdir(self.root):
            raise DataError(f"data folder '{self.root}' does not exist")
        if not self.available_sets():
            raise DataError(f"'{self.root}' is not in the COCO layout: no "
                            "annotations/instances_SET.json file")
        self.cache_dir = os.path.abspath(os.path.expanduser(cache_dir or _cache_base()))
        self._sets: Dict[str, _ImageSet] = {}
        first = self._set(self.available_sets()[0])
        self._categories = first.categories
        names = [n for _, n in first.categories]
        if len(set(names)) != len(names) or BACKGROUND in names:
            raise DataError(f"{first.path}: category names must be unique and not "
                            f"'{BACKGROUND}'")
        if len(names) + 1 >= IGNORE_LABEL:
            raise DataError(f"{first.path}: {len(names)} categories; at most 253 fit a mask")
        self.class_names = (BACKGROUND,) + tuple(names)
        if class_names is not None and tuple(class_names) != self.class_names:
            raise DataError(f"{first.path}: its categories {self.class_names[1:]} differ from "
                            f"the expected {tuple(class_names)[1:]}")
        self.category_to_class = {cid: i + 1 for i, (cid, _) in enumerate(first.categories)}

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def set_path(self, set_name: str) -> str:
        return os.path.join(self.root, "annotations", f"instances_{set_name}.json")

    def available_sets(self) -> List[str]:
        folder = os.path.join(self.root, "annotations")
        if not os.path.isdir(folder):
            return []
        return sorted(fn[len("instances_"):-len(".json")] for fn in os.listdir(folder)
                      if fn.startswith("instances_") and fn.endswith(".json"))

    def _set(self, set_name: str) -> _ImageSet:
        if set_name not in self._sets:
            path = self.set_path(set_name)
            if not os.path.exists(path):
                raise DataError(f"image set '{set_name}' not found: no file {path} "
                                f"(available: {', '.join(self.available_sets()) or 'none'})")
            s = _ImageSet(path)
            if self._sets and s.categories != self._categories:
                raise DataError(f"{path}: its categories differ from those of "
                                f"{next(iter(self._sets.values())).path}")
            self._sets[set_name] = s
        return self._sets[set_name]

    def _find(self, name: str):
        for s in self._sets.values():
            if name in s.images:
                return s, s.images[name]
        for set_name in self.available_sets():
            s = self._set(set_name)
            if name in s.images:
                return s, s.images[name]
        raise DataError(f"image '{name}' is in no annotation file of {self.root}")

    def image_ids(self, set_name: str, check_files: bool = True) -> List[str]:
        """The images of instances_SET.json; with check_files their masks are painted now
        (cached) and every image file must exist."""
        s = self._set(set_name)
        ids = list(s.images)
        if not ids:
            raise DataError(f"{s.path}: the image set is empty")
        if check_files:
            for name in ids:
                self.image_path(name)
            with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
                list(pool.map(self.mask_path, ids))
        return ids

    def image_path(self, name: str) -> str:
        s, im = self._find(name)
        set_name = os.path.basename(s.path)[len("instances_"):-len(".json")]
        tried = []
        for folder in (os.path.join(self.root, set_name),
                       os.path.join(self.root, "images", set_name), self.root):
            p = os.path.join(folder, im["file_name"])
            if os.path.exists(p):
                return p
            tried.append(p)
        raise DataError(f"image '{name}' is missing: none of {', '.join(tried)}")

    def mask_path(self, name: str) -> str:
        """The painted semantic mask of an image (painted now if not cached)."""
        s, im = self._find(name)
        path = os.path.join(self.cache_dir, s.key, name + ".png")
        if not os.path.exists(path):
            try:
                mask = paint_semantic(im["annotations"], im["height"], im["width"],
                                      self.category_to_class)
            except (ValueError, TypeError, KeyError) as e:
                raise DataError(f"{s.path}: image '{name}' (id {im['id']}): bad segmentation "
                                f"({e})") from None
            _atomic_write_mask(path, mask)
        return path

