"""Whether a JPEG's compressed image data ends early, even with its end marker in place.

A JPEG cut short by an interrupted copy has no end marker (FF D9) and `voc.check_image_file`
says so. One cut short whose end marker was appended again (some repair and download tools do
that) decodes without error in TensorFlow and PIL: libjpeg warns "premature end of data
segment" and paints the missing part grey, and the model trains on the grey.

The check: decode the file twice with PIL, as it is and with filler bytes inserted before its
end marker. A complete scan has decoded all of its blocks before it reaches the filler, which
the decoder then skips as junk before the marker, so both decodes are equal; a scan that ends
early reads the filler as image data and the two decodes differ. A baseline JPEG is decoded at
1/8 scale (libjpeg's DC-only path: Huffman decoding, almost no inverse DCT, 1/64 of the memory):
about 1 ms each for a 500 x 375 photo. A progressive JPEG's later scans refine coefficients that
the 1/8 scale ignores, so it is decoded at full size.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image

_EOI = b"\xff\xd9"
# No FF byte (a marker prefix): the decoder of a cut scan reads it all as entropy-coded data.
_FILLER = bytes((i * 73 + 41) % 255 for i in range(512))


def _decode(data: bytes, progressive: bool) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data)) as im:
            if not progressive:
                im.draft(im.mode if im.mode in ("L", "CMYK") else "RGB", (1, 1))
            im.load()
            return np.asarray(im)


def jpeg_cut_short(data: bytes) -> bool:
    """True if the (complete-looking) JPEG file `data` has an entropy-coded scan that ends
    before all of its blocks; OSError/ValueError if it cannot be decoded at all."""
    end = data.rfind(_EOI)
    if end < 0:
        return True
    with Image.open(io.BytesIO(data)) as im:
        progressive = bool(im.info.get("progressive") or im.info.get("progression"))
    plain = _decode(data, progressive)
    try:
        filled = _decode(data[:end] + _FILLER + data[end:], progressive)
    except (OSError, ValueError, SyntaxError):
        return True  # the filler was read as image data, and broke it
    return plain.shape != filled.shape or not np.array_equal(plain, filled)
