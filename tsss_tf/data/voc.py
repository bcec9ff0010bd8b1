"""Reader for data in the PASCAL VOC 2012 segmentation layout.

    ROOT/JPEGImages/NAME.jpg            (or .png / .jpeg)
    ROOT/SegmentationClass/NAME.png     palette or grey PNG of class indices, 255 = ignore
    ROOT/ImageSets/Segmentation/SET.txt one NAME per line
    ROOT/ImageTags/SET.txt              optional: images of SET without a mask, with their tags
    ROOT/classes.txt                    optional, one class name per line in index order,
                                        optionally followed by its colour: `book 128 128 0`

An image set is the union of the names in `ImageSets/Segmentation/SET.txt` and in
`ImageTags/SET.txt` (either may be absent). A tags file has one line per image, its name then
the class names it shows (spaces or commas between them; `#` starts a comment):

    # ROOT/ImageTags/train.txt
    2_14_s  book
    7_3_s   face body

Those images are used through their tags only (weak images). An image with both a mask and tags
is read from its mask; tags that disagree with it are an error (tsss_tf.data.sources). A folder
of tag-only images needs no SegmentationClass/.

The same code reads a real `VOCdevkit/VOC2012`, MSRC-v2 and CamVid in this layout, and the
embedded data set once materialised.

    ds = VocLayout("/data/VOCdevkit/VOC2012")
    names = ds.image_ids("val")
    image, mask = ds.read_image(names[0]), ds.read_mask(names[0])
    [e.mask_path or e.tags for e in ds.entries("train")]
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from tsss_tf.errors import DataError  # noqa: F401 (raised here; importable from here)

IGNORE_LABEL = 255

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
    "sheep", "sofa", "train", "tvmonitor",
)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG")
TAGS_DIR = "ImageTags"


def check_image_id(name: str, where: str) -> None:
    """DataError naming `where` (a file, or "file:line") for an image name that would read a
    file outside the data folder: an absolute path, a `..` part, a backslash or a NUL."""
    parts = name.replace("\\", "/").split("/")
    if (not name or os.path.isabs(name) or "\\" in name or "\0" in name or ".." in parts
            or name.startswith("~")):
        raise DataError(f"{where}: image name {name!r} leaves the data folder (names are "
                        "paths under JPEGImages/ without '..' or a leading '/')")


@dataclasses.dataclass(frozen=True)
class TagLine:
    """The tags of one image: data-set class ids (sorted, no duplicates) and "file:line"."""

    classes: Tuple[int, ...]
    where: str


@dataclasses.dataclass(frozen=True)
class ImageEntry:
    """One image of an image set as found on disk.

    mask_path: "" for an image without a mask. tags: its TagLine when a tags file names it.
    root: index of its data folder in a merged layout (tsss_tf.data.roots), 0 otherwise."""

    name: str
    image_path: str
    mask_path: str
    tags: Optional[TagLine] = None
    root: int = 0


def read_tags_file(path: str, class_names: Sequence[str]) -> Dict[str, TagLine]:
    """{image name: TagLine} of a tags file, in file order. DataError naming `path:line` for
    an unknown class, an image listed twice, a line without tags or a name that leaves the
    data folder."""
    index = {n: i for i, n in enumerate(class_names)}
    out: Dict[str, TagLine] = {}
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read the tags file ({e})") from None
    for number, raw in enumerate(lines, start=1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        where = f"{path}:{number}"
        name, *tags = [t for t in re.split(r"[\s,]+", text) if t]
        check_image_id(name, where)
        if name in out:
            raise DataError(f"{where}: image '{name}' is tagged twice (first at "
                            f"{out[name].where})")
        if not tags:
            raise DataError(f"{where}: image '{name}' has no tags (an image without a mask "
                            "needs at least one class name)")
        unknown = [t for t in tags if t not in index]
        if unknown:
            what = "is not a class name" if len(unknown) == 1 else "are not class names"
            raise DataError(f"{where}: {', '.join(repr(t) for t in unknown)} {what} "
                            f"(classes: {', '.join(class_names)})")
        out[name] = TagLine(tuple(sorted({index[t] for t in tags})), where)
    return out


@contextlib.contextmanager
def pil_errors(path: str, unreadable: str, too_large: str, too_large_fix: str = ""):
    """Opening `path` with PIL inside: its decompression-bomb warning is silenced, and its
    errors become one DataError naming the file: "`path`: `too_large` (PIL's message)
    `too_large_fix`" for a decompression bomb, "`path`: `unreadable` (PIL's message)" for a
    file it cannot read. A DataError raised inside passes unchanged."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            yield
        except DataError:
            raise
        except Image.DecompressionBombError as e:
            raise DataError(f"{path}: {too_large} ({e}){too_large_fix}") from None
        except (OSError, SyntaxError, ValueError) as e:
            raise DataError(f"{path}: {unreadable} ({e})") from None


class ExampleReader:
    """Reading one example by name, for a layout that has `image_path(name)`,
    `mask_path(name)` and `num_classes` (VocLayout, coco.CocoLayout)."""

    def read_image(self, name: str, limits=None) -> np.ndarray:
        """RGB uint8 [H, W, 3]. An image larger than `limits` (an image_limits.ImageLimits;
        default 50 megapixels, 20000 px a side) is refused from its header, before decoding;
        with limits.resize a larger JPEG is decoded at 1/2, 1/4 or 1/8 scale instead."""
        from tsss_tf.image_limits import DEFAULT_LIMITS, image_header

        limits = DEFAULT_LIMITS if limits is None else limits
        path = self.image_path(name)
        with pil_errors(path, "cannot decode the image", "the image is too large for PIL"):
            header = image_header(path)
            refused = limits.refusal(*header) if header is not None else None
            if refused:
                raise DataError(f"{path}: {refused}")
            with Image.open(path) as im:
                width, height = im.size
                refused = limits.refusal(im.format, height, width)
                if refused:
                    raise DataError(f"{path}: {refused}")
                scale = limits.decode_scale(im.format, height, width)
                if scale > 1:
                    im.draft("RGB", (width // scale, height // scale))
                    if not limits.fits(im.size[1], im.size[0]):
                        raise DataError(f"{path}: {limits.excess(height, width)}")
                return np.asarray(im.convert("RGB"), dtype=np.uint8)

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
        tagged = os.path.isdir(os.path.join(self.root, TAGS_DIR))
        for sub in ("JPEGImages",) + (() if tagged else ("SegmentationClass",)):
            if not os.path.isdir(os.path.join(self.root, sub)):
                raise DataError(
                    f"'{self.root}' is not in the VOC layout: it has no {sub}/ folder"
                    + ("" if sub == "JPEGImages" else f" (nor {TAGS_DIR}/ of tag-only images)"))
        self.class_colours = {}
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

    @property
    def layouts(self) -> list:
        """The data folders read (one; tsss_tf.data.roots.MergedLayout has several)."""
        return [self]

    @property
    def root_luts(self) -> list:
        """Per data folder, its class ids -> this layout's class ids (here the identity)."""
        return [np.arange(256, dtype=np.uint8)]

    def _classes_path(self) -> str:
        return os.path.join(self.root, "classes.txt")

    def _read_classes(self) -> tuple:
        path = self._classes_path()
        if not os.path.exists(path):
            return VOC_CLASSES
        with open(path, encoding="utf-8") as f:
            lines = [line.strip() for line in f if line.strip()]
        if not lines:
            raise DataError(f"{path}: no class names in the file")
        names = []
        for line in lines:  # "name" or "name R G B" (its display colour)
            m = re.fullmatch(r"(.+?)\s+(\d{1,3})\s+(\d{1,3})\s+(\d{1,3})", line)
            if m and all(int(v) < 256 for v in m.groups()[1:]):
                names.append(m.group(1))
                self.class_colours[m.group(1)] = tuple(int(v) for v in m.groups()[1:])
            else:
                names.append(line)
        return tuple(names)

    def set_path(self, set_name: str) -> str:
        return os.path.join(self.root, "ImageSets", "Segmentation", f"{set_name}.txt")

    def tags_path(self, set_name: str) -> str:
        return os.path.join(self.root, TAGS_DIR, f"{set_name}.txt")

    def available_sets(self) -> List[str]:
        names = set()
        for folder in (os.path.dirname(self.set_path("x")), os.path.dirname(self.tags_path("x"))):
            if os.path.isdir(folder):
                names.update(fn[:-4] for fn in os.listdir(folder) if fn.endswith(".txt"))
        return sorted(names)

    def has_set(self, set_name: str) -> bool:
        return os.path.exists(self.set_path(set_name)) or os.path.exists(self.tags_path(set_name))

    def image_tags(self, set_name: str) -> Dict[str, TagLine]:
        """The tags file of an image set ({} when it has none); see read_tags_file."""
        path = self.tags_path(set_name)
        return read_tags_file(path, self.class_names) if os.path.exists(path) else {}

    def _listed_ids(self, set_name: str) -> List[str]:
        path = self.set_path(set_name)
        if not os.path.exists(path):
            return []
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        ids = []
        for number, line in enumerate(lines, start=1):
            if line.strip():
                ids.append(line.split()[0])
                check_image_id(ids[-1], f"{path}:{number}")
        if not ids:
            raise DataError(f"{path}: the image set is empty")
        return ids

    def entries(self, set_name: str, check_files: bool = True) -> List[ImageEntry]:
        """The images of a set: those listed in SET.txt, then the tag-only ones of the tags
        file that SET.txt does not list. DataError for a missing set, an image file that is
        missing, and an image with neither a mask nor tags."""
        if not self.has_set(set_name):
            raise DataError(
                f"image set '{set_name}' not found: no file {self.set_path(set_name)} "
                f"(nor {self.tags_path(set_name)}; available: "
                f"{', '.join(self.available_sets()) or 'none'})")
        listed = self._listed_ids(set_name)
        in_set_file = set(listed)
        tags = self.image_tags(set_name)
        names = listed + [n for n in tags if n not in in_set_file]
        out = []
        for name in names:
            mask = self.mask_path(name)
            has_mask = os.path.exists(mask)
            if check_files:
                try:
                    image = self.image_path(name)
                except DataError as e:
                    if name not in tags or name in in_set_file:
                        raise
                    raise DataError(f"{tags[name].where}: {e}") from None
            else:
                image = os.path.join(self.root, "JPEGImages", name + IMAGE_EXTENSIONS[0])
            if check_files and not has_mask and name not in tags:
                raise DataError(
                    f"{self.set_path(set_name)} lists '{name}' but {mask} is missing "
                    f"and {self.tags_path(set_name)} gives it no tags: an image needs a mask "
                    "or tags")
            out.append(ImageEntry(name, image, mask if has_mask else "", tags.get(name)))
        return out

    def image_ids(self, set_name: str, check_files: bool = True) -> List[str]:
        """The image names of a set (see `entries`)."""
        return [e.name for e in self.entries(set_name, check_files)]

    def image_path(self, name: str) -> str:
        """JPEGImages/NAME.jpg (or .jpeg, .png, any case); DataError when none exists or when
        two different files do (NAME.jpg and NAME.png: which one is meant is unknown)."""
        found, seen = [], set()
        for ext in IMAGE_EXTENSIONS:
            p = os.path.join(self.root, "JPEGImages", name + ext)
            try:
                st = os.stat(p)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:  # NAME.jpg, NAME.JPG: one file on some disks
                seen.add((st.st_dev, st.st_ino))
                found.append(p)
        if len(found) == 1:
            return found[0]
        if found:
            raise DataError(f"image '{name}' is ambiguous: {' and '.join(found)} both exist; "
                            "keep one of them")
        raise DataError(
            f"image '{name}' is missing: no {os.path.join(self.root, 'JPEGImages', name)}.jpg")

    def mask_path(self, name: str) -> str:
        return os.path.join(self.root, "SegmentationClass", name + ".png")



# What tf.io.decode_image (the training pipeline's decoder) reads.
DECODABLE_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP")
_JPEG_EOI = b"\xff\xd9"
_PNG_IEND = b"IEND\xaeB`\x82"


def check_image_file(path: str, limits=None):
    """(height, width) of an image file, after cheap checks that the training pipeline can
    decode it: it exists, its header names a format tf.io.decode_image reads, it is not
    empty and not larger than `limits` (an image_limits.ImageLimits; default 50 megapixels
    and 20000 px a side, checked from the header before anything is decoded: the pipeline
    decodes at full size), a PNG's chunk checksums hold (no pixel decoding), a JPEG or PNG is
    not cut short, and a JPEG's compressed data is complete (data.jpeg_check: a JPEG cut short
    whose end marker was appended again; a decode at 1/8 scale). Raises DataError naming the
    file and the problem."""
    from tsss_tf.image_limits import DEFAULT_LIMITS, image_header

    limits = DEFAULT_LIMITS if limits is None else limits
    if not os.path.isfile(path):
        raise DataError(f"image file {path} is missing")
    fix = "downscale the file (the training pipeline decodes images at full size)"
    with pil_errors(path, "not a readable image", "the image is too large", f"; {fix}"):
        header = image_header(path)
        if header is not None and not limits.fits(header[1], header[2]):
            raise DataError(f"{path}: {limits.excess(header[1], header[2])}; {fix}")
        with Image.open(path) as im:
            fmt, (width, height) = im.format, im.size
            if fmt == "PNG":
                im.verify()  # chunk CRCs: catches a damaged PNG without decoding its pixels
    if fmt not in DECODABLE_FORMATS:
        raise DataError(f"{path}: a {fmt} image; the pipeline reads "
                        f"{', '.join(DECODABLE_FORMATS)}")
    if width < 1 or height < 1:
        raise DataError(f"{path}: the image is empty ({width}x{height})")
    if not limits.fits(height, width):
        raise DataError(f"{path}: {limits.excess(height, width)}; {fix}")
    if fmt in ("JPEG", "PNG"):
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - 1024))
            tail = f.read()
        # The end marker, followed by at most some padding: a JPEG's compressed data never
        # holds FF D9, so it is missing from the last kilobyte of a file cut short.
        if (_JPEG_EOI if fmt == "JPEG" else _PNG_IEND) not in tail:
            raise DataError(f"{path}: the {fmt} file is cut short (no end marker): "
                            "truncated by an interrupted copy or download?")
    if fmt == "JPEG":
        from tsss_tf.data.jpeg_check import jpeg_cut_short

        try:
            with open(path, "rb") as f:
                cut = jpeg_cut_short(f.read())
        except (OSError, SyntaxError, ValueError) as e:
            raise DataError(f"{path}: not a readable image ({e})") from None
        if cut:
            raise DataError(f"{path}: the JPEG file is cut short (its compressed data ends "
                            "before the last rows; the end marker was appended after the "
                            "cut): truncated by an interrupted copy or download?")
    return height, width


def read_mask_file(path: str, num_classes: int, image_shape=None, limits=None) -> np.ndarray:
    """Reads a palette (mode P) or grey (mode L) PNG of class indices and validates it; its
    size is checked against `limits` (image_limits.ImageLimits, default 50 megapixels) from
    the header, before its pixels are decoded."""
    from tsss_tf.image_limits import DEFAULT_LIMITS

    limits = DEFAULT_LIMITS if limits is None else limits
    if not os.path.exists(path):
        raise DataError(f"mask file {path} is missing")
    with pil_errors(path, "cannot decode the mask", "the mask is too large to decode"), \
            Image.open(path) as im:
        if not limits.fits(im.size[1], im.size[0]):
            raise DataError(f"{path}: {limits.excess(im.size[1], im.size[0])}")
        if im.mode not in ("P", "L"):
            raise DataError(
                f"{path}: a mask must be a palette or grey PNG of class indices, "
                f"got mode {im.mode}")
        mask = np.asarray(im, dtype=np.uint8)
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
