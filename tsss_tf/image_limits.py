"""The largest image tsss_tf decodes, read from the file header before any pixel is decoded.

A small file can hold a huge image: a 10000 x 10000 single-colour PNG is 25 KB, decodes to
300 MB of RGB and, sent to an exported model, took the serving process to 7.2 GB. Every place
that decodes an image it did not make checks the size the header declares first:

    data sets   voc.check_image_file (when a set is indexed), ExampleReader.read_image
    predict     python -m tsss_tf.predict (--max_image_pixels, --max_image_side)
    serving     the exported signatures that take image_bytes (tsss_tf.serving.preprocess),
                limits fixed at export (python -m tsss_tf.export --max_image_pixels ...)

The default bound suits photographs: at most 50 megapixels and 20000 pixels a side (a 50 MP
camera gives 8688 x 5792; a 20000 px side admits panoramas up to 20000 x 2500). An image beyond
it is refused with a message naming it, unless large images are to be resized
(`ImageLimits.resize`, `--resize_large_images`): a larger JPEG is then decoded at 1/2, 1/4 or
1/8 scale by the JPEG decoder itself (libjpeg's DCT scaling), the largest scale that fits, so
memory stays bounded by the limit; other formats cannot be decoded at a reduced scale and stay
refused. The training pipeline decodes at full size and never resizes: there a larger image is
an error (downscale the file).

    limits = ImageLimits()                        # 50 MP, 20000 px a side, refuse
    fmt, height, width = image_header(data)       # PNG / JPEG header of bytes or a file path
    problem = limits.excess(height, width)        # None, or "10000x10000 (100.0 megapixels) ..."
"""

from __future__ import annotations

import dataclasses
import math
import os
import struct
from typing import Optional, Tuple, Union

DEFAULT_MAX_PIXELS = 50_000_000
DEFAULT_MAX_SIDE = 20_000
# libjpeg's DCT scaling (tf.io.decode_jpeg's `ratio`, PIL's Image.draft).
JPEG_SCALES = (1, 2, 4, 8)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
# Start-of-frame markers (baseline, progressive, lossless, arithmetic): they carry the size.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_NO_LENGTH = frozenset(range(0xD0, 0xDA)) | {0x01}  # RSTn, SOI, EOI, TEM
_HEADER_SCAN_BYTES = 1 << 20  # APPn segments (EXIF, ICC) before the frame header


@dataclasses.dataclass(frozen=True)
class ImageLimits:
    """At most `max_pixels` pixels and `max_side` pixels a side; with `resize`, a larger JPEG
    is decoded at the largest DCT scale (1/2, 1/4, 1/8) that fits instead of refused."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    max_side: int = DEFAULT_MAX_SIDE
    resize: bool = False

    def __post_init__(self):
        for name in ("max_pixels", "max_side"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"image limit {name} must be a positive integer, got {value!r}")

    def fits(self, height: int, width: int) -> bool:
        return height * width <= self.max_pixels and max(height, width) <= self.max_side

    def excess(self, height: int, width: int) -> Optional[str]:
        """None if (height, width) fits, else what is too large, in words."""
        if self.fits(height, width):
            return None
        return (f"{width}x{height} pixels ({height * width / 1e6:.1f} megapixels) is over the "
                f"image size limit of {self.describe()}")

    def describe(self) -> str:
        return f"{self.max_pixels / 1e6:g} megapixels and {self.max_side} pixels a side"

    def jpeg_scale(self, height: int, width: int) -> Optional[int]:
        """The smallest JPEG_SCALES denominator at which a JPEG of this size fits (1 if it
        fits as it is), or None when not even 1/8 does."""
        for s in JPEG_SCALES:
            if self.fits(-(-height // s), -(-width // s)):
                return s
        return None

    def decode_scale(self, fmt: str, height: int, width: int) -> Optional[int]:
        """The scale an image is decoded at under these limits: 1 if it fits, 2/4/8 for a
        larger JPEG with `resize`; None if it is refused."""
        if self.fits(height, width):
            return 1
        if self.resize and fmt == "JPEG":
            return self.jpeg_scale(height, width)
        return None

    def refusal(self, fmt: str, height: int, width: int, how_to_raise: str = "") -> Optional[str]:
        """None if the image is decoded under these limits, else the reason, in one line."""
        if self.decode_scale(fmt, height, width) is not None:
            return None
        text = self.excess(height, width)
        if self.resize and fmt == "JPEG":
            text += " even at 1/8 scale"
        elif self.resize:
            text += f" (only a JPEG can be decoded at a reduced scale; this is a {fmt})"
        return text + (f"; {how_to_raise}" if how_to_raise else "")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


DEFAULT_LIMITS = ImageLimits()


def limits_from_flags(max_pixels, max_side, resize, base: ImageLimits = DEFAULT_LIMITS):
    """ImageLimits from optional command-line values (None keeps `base`'s); ValueError for a
    non-positive limit."""
    return ImageLimits(base.max_pixels if max_pixels is None else int(max_pixels),
                       base.max_side if max_side is None else int(max_side),
                       base.resize if resize is None else bool(resize))


def _read_head(source, size: int) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source[:size])
    with open(source, "rb") as f:
        return f.read(size)


def _jpeg_size(head: bytes) -> Optional[Tuple[int, int]]:
    """(height, width) of the first start-of-frame segment, or None."""
    i = 2
    n = len(head)
    while i + 4 <= n:
        if head[i] != 0xFF:
            return None
        marker = head[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _JPEG_NO_LENGTH:
            i += 2
            continue
        (length,) = struct.unpack(">H", head[i + 2:i + 4])
        if marker in _JPEG_SOF:
            if i + 9 > n:
                return None
            height, width = struct.unpack(">HH", head[i + 5:i + 9])
            return (height, width) if height and width else None  # 0: set later (DNL)
        if marker == 0xDA or length < 2:  # scan data before a frame header: not a JPEG
            return None
        i += 2 + length
    return None


def image_header(source: Union[bytes, str, os.PathLike]) -> Optional[Tuple[str, int, int]]:
    """("PNG" | "JPEG", height, width) from the header of encoded bytes or of a file, without
    decoding; None for another format or a header that cannot be read."""
    head = _read_head(source, 32)
    if head.startswith(PNG_MAGIC):
        if len(head) < 24 or head[12:16] != b"IHDR":
            return None
        width, height = struct.unpack(">II", head[16:24])
        return "PNG", height, width
    if head.startswith(JPEG_MAGIC):
        size = _jpeg_size(_read_head(source, _HEADER_SCAN_BYTES))
        return None if size is None else ("JPEG", size[0], size[1])
    return None


def scaled_size(height: int, width: int, scale: int) -> Tuple[int, int]:
    """The size libjpeg decodes (height, width) to at 1/scale."""
    return math.ceil(height / scale), math.ceil(width / scale)
