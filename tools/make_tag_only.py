"""Makes a tag-only copy of a data set in the VOC layout, the way a practitioner's data looks.

The weak training images of a split (those showing a weak category) lose their mask files;
their tags (every class their mask shows, background excluded) go to `ImageTags/<set>.txt`.
Every other file is linked, not copied. With --hold_out=CATEGORY, every image that shows that
category moves to a second folder (--hold_out_dir): its training images as tag-only images,
its val / test images with their masks, so that the category can be added back to the first
folder with one more --data_dir.

    python tools/make_tag_only.py --src=../shared/data/msrc_things --dst=/tmp/msrc_tags \\
        --config=msrc_things_50
    python -m tsss_tf.train --config=msrc_things_50 --data_dir=/tmp/msrc_tags

    python tools/make_tag_only.py --src=../shared/data/msrc_things --dst=/tmp/msrc_base \\
        --config=msrc_things_50 --hold_out=book --hold_out_dir=/tmp/msrc_books
    python -m tsss_tf.train --data_dir=/tmp/msrc_base --data_dir=/tmp/msrc_books --recipe=photo
"""

from __future__ import annotations

import os
import shutil
import sys

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tsss_tf.config import load_config  # noqa: E402
from tsss_tf.data.voc import (TAGS_DIR, DataError, VocLayout, present_classes,  # noqa: E402
                              read_mask_file)

flags.DEFINE_string("src", None, "Data folder in the VOC layout, every image with a mask.")
flags.DEFINE_string("dst", None, "New folder for the tag-only copy (must not exist).")
flags.DEFINE_string("config", "msrc_things_50", "Config whose split names the weak categories.")
flags.DEFINE_multi_string("train_sets", ["train"], "Image sets whose weak images lose masks.")
flags.DEFINE_string("hold_out", None, "A category whose images move to --hold_out_dir.")
flags.DEFINE_string("hold_out_dir", None, "Second folder, for --hold_out.")
FLAGS = flags.FLAGS


def _link(src: str, dst: str) -> None:
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if not os.path.lexists(dst):  # an image listed in several sets
        os.symlink(os.path.abspath(src), dst)


def _write(path: str, lines) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in lines)


def make_copies(src: str, dst: str, weak, train_sets=("train",), hold_out=None,
                hold_out_dir=None, background="background") -> dict:
    """Writes the tag-only copy (and the hold-out folder); returns counts per folder."""
    layout = VocLayout(src)
    names = layout.class_names
    for path in (dst, hold_out_dir):
        if path and os.path.exists(path):
            raise DataError(f"{path} exists: give a new folder")
    if hold_out is not None and (hold_out not in names or not hold_out_dir):
        raise DataError(f"--hold_out={hold_out}: needs a class of {src} and --hold_out_dir")
    weak_ids = {names.index(c) for c in weak}
    held = names.index(hold_out) if hold_out else None
    bg = names.index(background) if background in names else None
    counts = {}
    tmp = {d: d + ".partial" for d in (dst, hold_out_dir) if d}
    for d in tmp.values():
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        shutil.copyfile(layout._classes_path(), os.path.join(d, "classes.txt"))
    # Training sets first: their weak images become tag-only, and stay so in every other set
    # that lists them (e.g. trainval), since a mask file belongs to an image, not to a set.
    sets = sorted(layout.available_sets(), key=lambda s: (s not in train_sets, s))
    tag_only = set()
    for set_name in sets:
        listed = {tmp[dst]: [], tmp.get(hold_out_dir): []}
        tags = {tmp[dst]: [], tmp.get(hold_out_dir): []}
        for name in layout.image_ids(set_name):
            mask_path = layout.mask_path(name)
            present = present_classes(read_mask_file(mask_path, layout.num_classes),
                                      layout.num_classes).tolist()
            folder = tmp.get(hold_out_dir) if held in present else tmp[dst]
            image = layout.image_path(name)
            _link(image, os.path.join(folder, "JPEGImages", os.path.basename(image)))
            listed[folder].append(name)
            if name in tag_only or (set_name in train_sets and weak_ids & set(present)):
                tag_only.add(name)
                tags[folder].append(" ".join([name] + [names[c] for c in present if c != bg]))
            else:
                _link(mask_path, os.path.join(folder, "SegmentationClass", name + ".png"))
            row = counts.setdefault(folder, {}).setdefault(set_name, [0, 0])
            row[0 if name in tag_only else 1] += 1
        for folder in (tmp[dst], tmp.get(hold_out_dir)):
            if folder is None or not listed[folder]:
                continue
            # Every image stays listed in its set, in the original order; tag-only ones are
            # also in ImageTags/, so the copy indexes in the same order as the original.
            _write(os.path.join(folder, "ImageSets", "Segmentation", f"{set_name}.txt"),
                   listed[folder])
            if tags[folder]:
                _write(os.path.join(folder, TAGS_DIR, f"{set_name}.txt"), tags[folder])
    for final, partial in ((d, tmp[d]) for d in tmp):
        os.rename(partial, final)
    return {final: counts.get(tmp[final], {}) for final in tmp}


def main(argv):
    del argv
    if not FLAGS.src or not FLAGS.dst:
        raise app.UsageError("--src and --dst are required")
    split = load_config(FLAGS.config).split
    counts = make_copies(FLAGS.src, FLAGS.dst, split.weak, tuple(FLAGS.train_sets),
                         FLAGS.hold_out, FLAGS.hold_out_dir, split.background or "background")
    for folder, sets in counts.items():
        text = ", ".join(f"{s}: {t} tag-only + {m} with masks" for s, (t, m) in sorted(
            sets.items()))
        print(f"{folder}: {text}")


if __name__ == "__main__":
    app.run(main)
