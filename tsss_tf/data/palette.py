"""The one colour palette used everywhere (masks on disk, previews, TensorBoard, overlays)."""

import numpy as np


def color_palette(n: int = 256) -> np.ndarray:
    """The PASCAL VOC palette as uint8 [n, 3]; index 255 (ignore) is drawn white."""
    pal = np.zeros((256, 3), dtype=np.uint8)
    for i in range(256):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal[i] = (r, g, b)
    pal[255] = (255, 255, 255)
    return pal[:n]


def colorize(mask: np.ndarray) -> np.ndarray:
    """Class indices [H, W] -> RGB uint8 [H, W, 3]."""
    return color_palette()[np.asarray(mask, dtype=np.uint8)]
