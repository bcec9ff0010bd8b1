r"""Renders the image panels that a run wrote to TensorBoard into one PNG (for docs and reports).

    python tools/tensorboard_panels.py --logdir=runs/embedded_50_seed0/tensorboard \
        --out=docs/tensorboard_panels.png
    python tools/tensorboard_panels.py --logdir=/tmp/tiny/tensorboard \
        --tags=lnet/panels/val,tsss/panels/val --step=10 --colors=128 --out=/tmp/panels.png

The panels are read back from the event files exactly as TensorBoard shows them (the encoded
PNG of each `tf.summary.image`); each gets a title (tag and step) and the column names of
tsss_tf.evaluation.panels above it. Default tags: the last L-Net panel, the transfer panel and
the last tsss panel.
"""

from __future__ import annotations

import argparse
import io
import os
import sys

import numpy as np
from PIL import Image, ImageDraw

DEFAULT_TAGS = ("lnet/panels/val", "transfer/panels/weak_train", "tsss/panels/val")


def read_panels(logdir: str, tags, step: int = -1) -> list:
    """[(tag, step, uint8 image)] for each tag found, at `step` (-1: the last one)."""
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(logdir, size_guidance={"tensors": 0})
    ea.Reload()
    have = set(ea.Tags()["tensors"])
    out = []
    for tag in tags:
        if tag not in have:
            print(f"no tag {tag} in {logdir}", file=sys.stderr)
            continue
        events = ea.Tensors(tag)
        ev = events[-1] if step < 0 else min(events, key=lambda e: abs(e.step - step))
        data = tf.make_ndarray(ev.tensor_proto)  # [width, height, png...]
        image = np.asarray(Image.open(io.BytesIO(data[2])).convert("RGB"))
        out.append((tag, int(ev.step), image))
    return out


def compose(panels, scale: int = 1, columns=None) -> np.ndarray:
    """Stacks the panels with a title line and the column names above each."""
    from tsss_tf.evaluation.panels import COLUMNS, GAP

    columns = columns or COLUMNS
    blocks = []
    for tag, step, image in panels:
        im = Image.fromarray(image)
        if scale != 1:
            im = im.resize((im.width * scale, im.height * scale), Image.NEAREST)
        tile = (im.width - (len(columns) + 1) * GAP * scale) // len(columns)
        head = Image.new("RGB", (im.width, 30), (255, 255, 255))
        draw = ImageDraw.Draw(head)
        draw.text((4, 2), f"{tag}  (step {step})", fill=(0, 0, 0))
        for j, name in enumerate(columns):
            draw.text((GAP * scale + j * (tile + GAP * scale) + 2, 17), name, fill=(60, 60, 60))
        blocks.append(np.concatenate([np.asarray(head), np.asarray(im)], 0))
    width = max(b.shape[1] for b in blocks)
    blocks = [np.pad(b, ((0, 6), (0, width - b.shape[1]), (0, 0)), constant_values=255)
              for b in blocks]
    return np.concatenate(blocks, 0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--logdir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--tags", default=",".join(DEFAULT_TAGS))
    ap.add_argument("--step", type=int, default=-1)
    ap.add_argument("--scale", type=int, default=1)
    ap.add_argument("--colors", type=int, default=0,
                    help="Quantize to this many colours (a smaller PNG; 0: keep RGB).")
    args = ap.parse_args(argv)
    panels = read_panels(args.logdir, [t for t in args.tags.split(",") if t], args.step)
    if not panels:
        print("no panels found", file=sys.stderr)
        return 1
    from tsss_tf.data.preview import write_png

    grid = compose(panels, args.scale)
    if args.colors:  # a palette PNG: the panels are mostly flat class colours
        im = Image.fromarray(grid).quantize(args.colors, method=Image.Quantize.MEDIANCUT)
        path = os.path.abspath(args.out)
        tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp{os.getpid()}")
        im.save(tmp, format="PNG", optimize=True)
        os.replace(tmp, path)
    else:
        path = write_png(args.out, grid)
    print(f"wrote {path} ({os.path.getsize(path)} bytes): "
          + ", ".join(f"{t}@{s}" for t, s, _ in panels))
    return 0


if __name__ == "__main__":
    sys.exit(main())
