"""Reader for data in the PASCAL VOC 2012 segmentation layout.

    ROOT/JPEGImages/NAME.jpg            (or .png / .jpeg)
    ROOT/SegmentationClass/NAME.png     palette or grey PNG of class indices, 255 = ignore
    ROOT/ImageSets/Segmentation/SET.txt one NAME per line
    ROOT/classes.txt                    optional, one class name per line in index order

The same code reads a real `VOCdevkit/VOC2012`, `../shared/data/msrc_things`,
`../shared/data/camvid` and the embedded data set once materialised.

    ds = VocLayout("/data/VOCdevkit/VOC2012")
    names = ds.image_ids("val")
    image, mask = ds.read_image(names[0]), ds.read_mask(names[0])
"""

from __future__ import annotations

import os
from typing import List, Optional, Sequence

import numpy as np
from PIL import Image

IGNORE_LABEL = 255

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
    "sheep", "sofa", "train", "tvmonitor",
)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG")


class DataError(ValueError):
    """Bad data on disk; the message names the file and the problem."""


class ExampleReader:
    """Reading one example by name, for a layout that has `image_path(name)`,
    `mask_path(name)` and `num_classes` (VocLayout, coco.CocoLayout)."""

    def read_image(self, name: str) -> np.ndarray:
        """RGB uint8 [H, W, 3]."""
        path = self.image_path(name)
        try:
            with Image.open(path) as im:
                return np.asarray(im.convert("RGB"), dtype=np.uint8)
        except (OSError, SyntaxError, ValueError) as e:
            raise DataError(f"{path}: cannot decode the image ({e})") from None

    def read_mask(self, name: str, image_shape: Optional[Sequence[int]] = None) -> np.ndarray:
        """Class indices uint8 [H, W] (255 = ignore), validated against the class range."""
        return read_mask_file(self.mask_path(name), self.num_classes, image_shape)

    def read_example(self, name: str):
        image = self.read_image(name)
        return image, self.read_mask(name, image.shape[:2])


class VocLayout(ExampleReader):
    """A data set folder in the VOC segmentation layout.

    Args:
      root: the folder holding JPEGImages/, SegmentationClass/ and ImageSets/.
      class_names: overrides `classes.txt` (and the VOC default).
    """

    def __init__(self, root: str, class_names: Optional[Sequence[str]] = None):
        self.root = os.path.abspath(os.path.expanduser(root))
        if not os.path.isdir(self.root):
            raise DataError(f"data folder '{self.root}' does not exist")
        for sub in ("JPEGImages", "SegmentationClass"):
            if not os.path.isdir(os.path.join(self.root, sub)):
                raise DataError(
                    f"'{self.root}' is not in the VOC layout: it has no {sub}/ folder")
        if class_names is None:
            class_names = self._read_classes()
        self.class_names = tuple(class_names)
        if len(set(self.class_names)) != len(self.class_names):
            raise DataError(f"{self._classes_path()}: a class name appears twice")
        if not 0 < len(self.class_names) < IGNORE_LABEL:
            raise DataError(f"{self._classes_path()}: needs 1 to 254 classes")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def _classes_path(self) -> str:
        return os.path.join(self.root, "classes.txt")

    def _read_classes(self) -> tuple:
        path = self._classes_path()
        if not os.path.exists(path):
            return VOC_CLASSES
        with open(path, encoding="utf-8") as f:
            names = [line.strip() for line in f if line.strip()]
        if not names:
            raise DataError(f"{path}: no class names in the file")
        return tuple(names)

    def set_path(self, set_name: str) -> str:
        return os.path.join(self.root, "ImageSets", "Segmentation", f"{set_name}.txt")

    def available_sets(self) -> List[str]:
        folder = os.path.join(self.root, "ImageSets", "Segmentation")
        if not os.path.isdir(folder):
            return []
        return sorted(fn[:-4] for fn in os.listdir(folder) if fn.endswith(".txt"))

    def image_ids(self, set_name: str, check_files: bool = True) -> List[str]:
        """The image names listed in ImageSets/Segmentation/SET.txt."""
        path = self.set_path(set_name)
        if not os.path.exists(path):
            raise DataError(
                f"image set '{set_name}' not found: no file {path} "
                f"(available: {', '.join(self.available_sets()) or 'none'})")
        with open(path, encoding="utf-8") as f:
            ids = [line.split()[0] for line in f if line.strip()]
        if not ids:
            raise DataError(f"{path}: the image set is empty")
        if check_files:
            for name in ids:
                self.image_path(name)
                if not os.path.exists(self.mask_path(name)):
                    raise DataError(f"{path} lists '{name}' but {self.mask_path(name)} is missing")
        return ids

    def image_path(self, name: str) -> str:
        for ext in IMAGE_EXTENSIONS:
            p = os.path.join(self.root, "JPEGImages", name + ext)
            if os.path.exists(p):
                return p
        raise DataError(
            f"image '{name}' is missing: no {os.path.join(self.root, 'JPEGImages', name)}.jpg")

    def mask_path(self, name: str) -> str:
        return os.path.join(self.root, "SegmentationClass", name + ".png")



# What tf.io.decode_image (the training pipeline's decoder) reads.
DECODABLE_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP")
_JPEG_EOI = b"\xff\xd9"
_PNG_IEND = b"IEND\xaeB`\x82"


def check_image_file(path: str):
    """(height, width) of an image file, after cheap checks that the training pipeline can
    decode it: it exists, its header names a format tf.io.decode_image reads, it is not
    empty, a PNG's chunk checksums hold (no pixel decoding) and a JPEG or PNG is not cut
    short. Raises DataError naming the file and the problem."""
    if not os.path.isfile(path):
        raise DataError(f"image file {path} is missing")
    try:
        with Image.open(path) as im:
            fmt, (width, height) = im.format, im.size
            if fmt == "PNG":
                im.verify()  # chunk CRCs: catches a damaged PNG without decoding its pixels
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{path}: not a readable image ({e})") from None
    if fmt not in DECODABLE_FORMATS:
        raise DataError(f"{path}: a {fmt} image; the pipeline reads "
                        f"{', '.join(DECODABLE_FORMATS)}")
    if width < 1 or height < 1:
        raise DataError(f"{path}: the image is empty ({width}x{height})")
    if fmt in ("JPEG", "PNG"):
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - 1024))
            tail = f.read()
        # The end marker, followed by at most some padding: a JPEG's compressed data never
        # holds FF D9, so it is missing from the last kilobyte of a file cut short.
        if (_JPEG_EOI if fmt == "JPEG" else _PNG_IEND) not in tail:
            raise DataError(f"{path}: the {fmt} file is cut short (no end marker): "
                            "truncated by an interrupted copy or download?")
    return height, width


def read_mask_file(path: str, num_classes: int, image_shape=None) -> np.ndarray:
    """Reads a palette (mode P) or grey (mode L) PNG of class indices and validates it."""
    if not os.path.exists(path):
        raise DataError(f"mask file {path} is missing")
    try:
        with Image.open(path) as im:
            if im.mode not in ("P", "L"):
                raise DataError(
                    f"{path}: a mask must be a palette or grey PNG of class indices, "
                    f"got mode {im.mode}")
            mask = np.asarray(im, dtype=np.uint8)
    except DataError:
        raise
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{path}: cannot decode the mask ({e})") from None
    if image_shape is not None and tuple(mask.shape[:2]) != tuple(image_shape[:2]):
        raise DataError(
            f"{path}: mask size {mask.shape[1]}x{mask.shape[0]} differs from its image's "
            f"{image_shape[1]}x{image_shape[0]}")
    bad = (mask >= num_classes) & (mask != IGNORE_LABEL)
    if bad.any():
        values = sorted(set(np.unique(mask[bad]).tolist()))
        raise DataError(
            f"{path}: label values {values[:10]} are outside the {num_classes} classes "
            f"and are not {IGNORE_LABEL} (ignore)")
    return mask


def present_classes(mask: np.ndarray, num_classes: int) -> np.ndarray:
    """Sorted class indices present in a mask, ignore label excluded."""
    counts = np.bincount(mask.reshape(-1), minlength=256)[:num_classes]
    return np.nonzero(counts)[0]


def write_palette_png(path: str, mask: np.ndarray, palette: Optional[np.ndarray] = None):
    """Writes class indices as a palette PNG (the VOC convention) to a path or a binary file
    object (e.g. `tsss_tf.atomic.atomic_open(path)`)."""
    from tsss_tf.data.palette import color_palette

    im = Image.fromarray(np.asarray(mask, dtype=np.uint8), mode="P")
    pal = color_palette() if palette is None else palette
    im.putpalette(np.asarray(pal, dtype=np.uint8).reshape(-1).tolist())
    im.save(path, format="PNG")
