"""Hostile image files built by the tests: small files that declare huge images, JPEGs cut short
with their end marker put back."""

import io
import struct
import zlib

import numpy as np
from PIL import Image

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def png_bomb(height: int, width: int) -> bytes:
    """A valid single-colour PNG of height x width pixels (1-bit grey, so the file is tiny:
    about 25 KB for 10000 x 10000, which decodes to 300 MB of RGB). Built row by row without
    holding the image."""
    row = b"\0" * (1 + (width + 7) // 8)  # filter byte 0, then all-black 1-bit pixels
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return PNG_MAGIC + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """uint8 RGB [height, width, 3]: gradients with noise (compresses like a photograph)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.stack([xx * 255 // max(1, width - 1), yy * 255 // max(1, height - 1),
                      (xx + yy) % 256], -1)
    return np.clip(image + rng.integers(-20, 21, image.shape), 0, 255).astype(np.uint8)


def jpeg_bytes(image: np.ndarray, **save_kwargs) -> bytes:
    out = io.BytesIO()
    Image.fromarray(image).save(out, "JPEG", **{"quality": 90, **save_kwargs})
    return out.getvalue()


def cut_with_end_marker(data: bytes, fraction: float = 0.6) -> bytes:
    """The first `fraction` of a JPEG file with its end marker (FF D9) appended again: what a
    repair or download tool can make of a truncated file."""
    return data[:int(len(data) * fraction)] + b"\xff\xd9"
