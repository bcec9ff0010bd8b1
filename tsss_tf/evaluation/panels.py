"""Image panels of a run, in numpy only: uint8 RGB arrays for `tf.summary.image` and PNGs.

One panel row per image, always the same six columns:

    input | objectness M | CAMs | transferred label | P-Net prediction | ground truth

- objectness M: L-Net's foreground probability, black (0) -> red -> yellow -> white (1).
- CAMs: for each pixel the present category with the largest normalised CAM, in that class's
  palette colour, as bright as its CAM value, over the dimmed image.
- transferred label, P-Net prediction, ground truth: class maps in the palette of
  tsss_tf.data.palette (the one used for masks on disk, previews and overlays); white = ignore
  (255: unlabelled by the transfer, or padding).
- A column without data (no L-Net yet, no P-Net in this stage) is a grey hatched tile.

>>> import numpy as np
>>> grid = render_panels(np.zeros([2, 8, 8, 3], np.uint8), truth=np.zeros([2, 8, 8], np.int32))
>>> grid.shape == panel_shape(2, 8) == (2 * 8 + 3 * ROW_GAP, 6 * 8 + 7 * GAP, 3), grid.dtype
(True, dtype('uint8'))
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from tsss_tf.data.palette import color_palette
from tsss_tf.data.voc import IGNORE_LABEL

COLUMNS = ("input", "objectness M", "CAMs", "transferred label", "P-Net prediction",
           "ground truth")
GAP = 2          # white pixels between the tiles of a row
ROW_GAP = 4      # white pixels between rows


def panel_shape(num_images: int, size: int) -> tuple:
    """(height, width, 3) of `render_panels` for num_images tiles of size x size."""
    return (num_images * size + (num_images + 1) * ROW_GAP,
            len(COLUMNS) * size + (len(COLUMNS) + 1) * GAP, 3)


def to_uint8_image(image) -> np.ndarray:
    """A float [0, 255] (or uint8) RGB image as uint8."""
    return np.clip(np.rint(np.asarray(image, np.float32)), 0, 255).astype(np.uint8)


def heat(x) -> np.ndarray:
    """Values in [0, 1] [H, W] -> uint8 [H, W, 3] on a black-red-yellow-white ramp."""
    x = np.clip(np.nan_to_num(np.asarray(x, np.float32)), 0.0, 1.0)[..., None]
    rgb = np.clip(3.0 * x - np.array([0.0, 1.0, 2.0], np.float32), 0.0, 1.0)
    return (255 * rgb + 0.5).astype(np.uint8)


def label_tile(mask) -> np.ndarray:
    """Class ids [H, W] (255 = ignore, drawn white) -> palette colours uint8 [H, W, 3]."""
    mask = np.asarray(mask)
    ids = np.where((mask < 0) | (mask > 255), IGNORE_LABEL, mask).astype(np.uint8)
    return color_palette()[ids]


def cam_tile(image, cams, present_ids: Sequence[int], num_background: int = 1) -> np.ndarray:
    """The CAMs of the present categories on one tile.

    image: [H, W, 3] RGB (float 0..255 or uint8); cams: [H, W, K] normalised CAMs in [0, 1]
    (category k is class id k + num_background); present_ids: the class ids shown."""
    grey = to_uint8_image(image).astype(np.float32).mean(-1, keepdims=True)
    base = np.repeat(0.35 * grey, 3, -1)
    ks = [c - num_background for c in present_ids if 0 <= c - num_background < cams.shape[-1]]
    if not ks:
        return base.astype(np.uint8)
    sub = np.clip(np.nan_to_num(np.asarray(cams, np.float32)[..., ks]), 0.0, 1.0)
    best = sub.argmax(-1)
    value = np.take_along_axis(sub, best[..., None], -1)
    colors = color_palette()[np.array(ks) + num_background].astype(np.float32)[best]
    return np.clip(value * colors + (1.0 - value) * base, 0, 255).astype(np.uint8)


def blank_tile(size: int) -> np.ndarray:
    """A grey hatched tile: no data for this column."""
    yy, xx = np.mgrid[:size, :size]
    tile = np.full((size, size, 3), 200, np.uint8)
    tile[(xx + yy) % 8 == 0] = 150
    return tile


def _present(tags, num_background: int) -> list:
    return [int(k) + num_background for k in np.flatnonzero(np.asarray(tags) > 0.5)]


def render_panels(images, objectness=None, cams=None, tags=None, transferred=None,
                  prediction=None, truth=None, num_background: int = 1) -> np.ndarray:
    """The panel grid (see the module docstring) as uint8 [H, W, 3], H, W = panel_shape(N, S).

    images: [N, S, S, 3]; objectness: [N, S, S] probabilities; cams: [N, S, S, K] normalised
    CAMs with tags [N, K] (the present categories; all categories when None); transferred,
    prediction, truth: [N, S, S] class ids (prediction may also be [N, S, S, C] logits). Any
    of them may be None: that column is blank."""
    images = np.asarray(images)
    n, size = images.shape[0], images.shape[1]
    if images.shape[1] != images.shape[2]:
        raise ValueError(f"panel images must be square, got {images.shape}")
    if prediction is not None and np.ndim(prediction) == 4:
        prediction = np.asarray(prediction).argmax(-1)
    grid = np.full(panel_shape(n, size), 255, np.uint8)
    for i in range(n):
        cols = [to_uint8_image(images[i])]
        cols.append(blank_tile(size) if objectness is None else heat(objectness[i]))
        if cams is None:
            cols.append(blank_tile(size))
        else:
            present = (list(range(num_background, num_background + np.shape(cams)[-1]))
                       if tags is None else _present(tags[i], num_background))
            cols.append(cam_tile(images[i], cams[i], present, num_background))
        for maps in (transferred, prediction, truth):
            cols.append(blank_tile(size) if maps is None else label_tile(maps[i]))
        y = ROW_GAP + i * (size + ROW_GAP)
        for j, tile in enumerate(cols):
            x = GAP + j * (size + GAP)
            grid[y:y + size, x:x + size] = tile[:size, :size]
    return grid


def legend_markdown(class_names: Sequence[str], kinds: Optional[Sequence[str]] = None) -> str:
    """A markdown table of the palette: class | kind | colour (hex), for a text summary."""
    pal = color_palette()
    lines = ["| id | class | kind | colour |", "|---|---|---|---|"]
    for i, name in enumerate(class_names):
        kind = kinds[i] if kinds is not None else ""
        lines.append(f"| {i} | {name} | {kind} | #{''.join(f'{v:02x}' for v in pal[i])} |")
    lines.append(f"| {IGNORE_LABEL} | ignore / unlabelled | | #ffffff |")
    return "\n".join(lines)
