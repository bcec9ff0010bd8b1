"""A PNG grid of images and their coloured masks, to look at a data set.

    python -m tsss_tf.data.preview --data_dir=DIR --set=train --num=16 --out=preview.png
    python -m tsss_tf.data.preview --embedded --set=source --out=/tmp/source.png
    python -m tsss_tf.data.preview --config=embedded_50 --set=val

Each cell is the image and its mask (palette colours, white = ignore) side by side; a legend
below the grid names the classes that appear, with their colours.
"""

from __future__ import annotations

import os
import sys
from typing import Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw

from tsss_tf.atomic import atomic_open
from tsss_tf.data.palette import color_palette, colorize
from tsss_tf.data.voc import IGNORE_LABEL, VocLayout, present_classes

GAP = 4          # pixels between the cells of the grid
PAIR_GAP = 2     # pixels between an image and its mask
LEGEND_ROW = 14  # height of one legend line
BACKGROUND = (255, 255, 255)


def _fit(array: np.ndarray, cell: int, resample) -> np.ndarray:
    """Scales an image or mask so that its longer side is `cell`."""
    h, w = array.shape[:2]
    if max(h, w) == cell:
        return array
    s = cell / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return np.asarray(Image.fromarray(array).resize(size, resample))


def _legend(classes: Sequence[int], class_names: Sequence[str], width: int) -> np.ndarray:
    entries = [(c, class_names[c] if c < len(class_names) else str(c)) for c in classes]
    pal = color_palette()
    col_w = 110
    per_row = max(1, (width - GAP) // col_w)
    rows = max(1, -(-len(entries) // per_row))
    im = Image.new("RGB", (width, rows * LEGEND_ROW + GAP), BACKGROUND)
    draw = ImageDraw.Draw(im)
    for i, (c, name) in enumerate(entries):
        x, y = GAP + (i % per_row) * col_w, GAP // 2 + (i // per_row) * LEGEND_ROW
        draw.rectangle([x, y + 1, x + 10, y + 11], fill=tuple(int(v) for v in pal[c]),
                       outline=(0, 0, 0))
        draw.text((x + 14, y), name[:15], fill=(0, 0, 0))
    return np.asarray(im)


def preview_grid(layout: VocLayout, names: Sequence[str], columns: int = 4,
                 cell: Optional[int] = None, legend: bool = True) -> np.ndarray:
    """An RGB uint8 grid: for each image name, the image | its coloured mask.

    cell: the box (pixels) each image and each mask is scaled to fit; by default the largest
    image side, at most 256. The legend lists the classes present in the masks shown.
    """
    if not names:
        raise ValueError("preview_grid needs at least one image name")
    columns = max(1, min(columns, len(names)))
    examples = [layout.read_example(n) for n in names]
    if cell is None:
        cell = min(256, max(max(im.shape[:2]) for im, _ in examples))
    cw, rows = 2 * cell + PAIR_GAP, -(-len(names) // columns)
    grid = np.empty((GAP + rows * (cell + GAP), GAP + columns * (cw + GAP), 3), np.uint8)
    grid[:] = BACKGROUND
    seen = set()
    for i, (image, mask) in enumerate(examples):
        seen.update(present_classes(mask, 256).tolist())
        y, x = GAP + (i // columns) * (cell + GAP), GAP + (i % columns) * (cw + GAP)
        im = _fit(image, cell, Image.BILINEAR)
        grid[y:y + im.shape[0], x:x + im.shape[1]] = im
        m = _fit(colorize(mask), cell, Image.NEAREST)
        grid[y:y + m.shape[0], x + cell + PAIR_GAP:x + cell + PAIR_GAP + m.shape[1]] = m
    if legend:
        classes = sorted(c for c in seen if c != IGNORE_LABEL)
        if IGNORE_LABEL in seen:
            classes.append(IGNORE_LABEL)
        names_ = list(layout.class_names) + [""] * (256 - layout.num_classes)
        names_[IGNORE_LABEL] = "ignore"
        grid = np.concatenate([grid, _legend(classes, names_, grid.shape[1])], 0)
    return grid


def write_png(path: str, array: np.ndarray) -> str:
    """Writes an image atomically (temp file next to it, then os.replace)."""
    path = os.path.abspath(os.path.expanduser(path))
    with atomic_open(path) as f:
        Image.fromarray(array).save(f, format="PNG")
    return path


def resolve_data_dir(data_dir=None, embedded=False, config=None, progress=True) -> str:
    """The folder to preview: --data_dir, the embedded set, or a config's data."""
    from tsss_tf.data import embedded as emb

    if sum(bool(x) for x in (data_dir, embedded, config)) != 1:
        raise ValueError("name exactly one of --data_dir, --embedded, --config")
    if data_dir:
        return data_dir
    if embedded:
        return emb.materialize(progress=progress)
    from tsss_tf.config import load_config

    data = load_config(config).data
    if data.dataset == "embedded":
        return emb.materialize(
            root=data.data_dir, seed=data.embedded_seed, size=data.embedded_size,
            num_train=data.embedded_num_train, num_source=data.embedded_num_source,
            num_val=data.embedded_num_val, num_test=data.embedded_num_test, progress=progress)
    if data.dataset == "voc" and data.data_dir:
        return data.data_dir
    raise ValueError(f"config '{config}': cannot preview dataset '{data.dataset}' "
                     f"(data_dir={data.data_dir!r}); use --data_dir")


def main(argv):
    from absl import flags

    del argv
    FLAGS = flags.FLAGS
    try:
        root = resolve_data_dir(FLAGS.data_dir, FLAGS.embedded, FLAGS.config)
        layout = VocLayout(root)
        names = layout.image_ids(FLAGS.set, check_files=False)
    except ValueError as e:   # DataError and ConfigError are ValueErrors
        sys.exit(f"preview: {e}")
    if FLAGS.random:
        rng = np.random.default_rng(FLAGS.seed)
        names = [names[i] for i in sorted(rng.choice(len(names), min(FLAGS.num, len(names)),
                                                     replace=False))]
    names = names[:FLAGS.num]
    grid = preview_grid(layout, names, FLAGS.columns, cell=FLAGS.cell or None)
    out = write_png(FLAGS.out, grid)
    print(f"wrote {out}: {len(names)} images of set '{FLAGS.set}' from {root}")


def _define_flags():
    from absl import flags

    flags.DEFINE_string("data_dir", None, "A data set folder in the VOC layout.")
    flags.DEFINE_bool("embedded", False, "Preview the embedded set (default parameters).")
    flags.DEFINE_string("config", None, "Preview the data of this experiment config.")
    flags.DEFINE_string("set", "train", "Image set (ImageSets/Segmentation/SET.txt).")
    flags.DEFINE_integer("num", 16, "Number of images.")
    flags.DEFINE_integer("columns", 4, "Cells per row.")
    flags.DEFINE_integer("cell", 0, "Side in pixels each image is scaled to (0: automatic).")
    flags.DEFINE_bool("random", False, "Pick images at random (else the first ones).")
    flags.DEFINE_integer("seed", 0, "Seed of --random.")
    flags.DEFINE_string("out", "preview.png", "Output PNG.")


if __name__ == "__main__":
    from absl import app

    _define_flags()
    app.run(main)
