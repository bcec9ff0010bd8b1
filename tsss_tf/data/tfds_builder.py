"""An offline TFDS builder for any folder in the VOC segmentation layout.

    builder = build_tfds("/data/VOCdevkit/VOC2012", "/data/tfds")   # no network, ever
    ds = load_tfds_split(builder, "train")     # {"image", "mask", "name"} per example
    builder.info.metadata["class_names"]       # or builder.info.features["labels"].feature.names

The builder reads the folder (`manual_dir`) with `VocLayout`, so masks are validated the same way
as the rest of the project. Splits: one per image set (`ImageSets/Segmentation/SET.txt` and / or
`ImageTags/SET.txt`). Examples keep the order of their set (`disable_shuffling`): shuffle in the
input pipeline when training. An image with tags but no mask (a weak image) has `has_mask`
False, a mask of 255 (ignore) everywhere and its tags as `labels`.

Images: a JPEG file in RGB mode is stored with its original bytes (no second lossy compression);
any other image (PNG, grey or CMYK JPEG, ...) is stored as its decoded RGB array, PNG-encoded
(lossless). Masks are stored as single-channel PNGs of class indices (255 = ignore), pixel-exact.
`load_tfds_split` decodes JPEGs with `dct_method="INTEGER_ACCURATE"`, which gives the same pixels
as PIL (`VocLayout.read_image`); tfds' own decoder (`builder.as_dataset`) uses TensorFlow's default
fast DCT and may differ from PIL by a few grey levels.

A prepared data_dir is reused as is: build again into a fresh data_dir (or delete the old one)
when the source folder changes.
"""

from __future__ import annotations

import os
import re
from typing import Optional

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from tsss_tf.data.voc import IGNORE_LABEL, DataError, VocLayout, present_classes

NAME = "tsss_voc_layout"

# A builder class registers its name with tfds when the class is created; a second class with the
# same name (module reloaded, or imported under another module path) would raise. Register only the
# first one; `build_tfds` / `load_tfds_split` never go through the registry anyway.
try:  # pragma: no cover - private registry; fall back to skipping registration
    from tensorflow_datasets.core import registered as _registered
    _SKIP_REGISTRATION = NAME in _registered._DATASET_REGISTRY
except (ImportError, AttributeError):
    _SKIP_REGISTRATION = True

_SPLIT_RE = re.compile(r"^[\w-]+$")


class VocLayoutBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=_SKIP_REGISTRATION):
    """A VOC-layout folder (JPEGImages/, SegmentationClass/, ImageSets/Segmentation/) as TFDS."""

    name = NAME
    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {"1.0.0": "Initial release.",
                     "1.1.0": "Images with tags but no mask (ImageTags/SET.txt); has_mask."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    This builder never downloads anything. Point `manual_dir` (e.g.
    `tfds.download.DownloadConfig(manual_dir=...)`, or `tsss_tf.data.tfds_builder.build_tfds`)
    at a folder in the PASCAL VOC 2012 segmentation layout:

        ROOT/JPEGImages/NAME.jpg            (or .png / .jpeg)
        ROOT/SegmentationClass/NAME.png     palette or grey PNG of class indices, 255 = ignore
        ROOT/ImageSets/Segmentation/SET.txt one NAME per line; each set becomes a split
        ROOT/ImageTags/SET.txt              optional: `NAME class_a class_b`, images of SET
                                            that have tags but no mask
        ROOT/classes.txt                    optional, one class name per line (default: VOC's 21)

    e.g. the `VOCdevkit/VOC2012` folder of the VOC 2012 trainval archive.
    """
    # Examples in set-file order: reproducible evaluation order.
    disable_shuffling = True

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(None, None, 3), dtype=np.uint8),
                "segmentation_mask": tfds.features.Image(
                    shape=(None, None, 1), dtype=np.uint8, encoding_format="png",
                    doc=f"class indices (see metadata class_names), {IGNORE_LABEL} = ignore"),
                "file_name": tfds.features.Text(doc="file name of the image in JPEGImages/"),
                # Names are set from the layout when the data set is prepared, and restored
                # from the prepared folder when it is read.
                "labels": tfds.features.Sequence(
                    tfds.features.ClassLabel(),
                    doc="sorted class indices present in the mask (ignore excluded), or the "
                        "image's tags when it has no mask"),
                "has_mask": tfds.features.Scalar(
                    dtype=np.bool_, doc="False for an image with tags only (mask all ignore)"),
            }),
            metadata=tfds.core.MetadataDict(),
            description="A folder in the PASCAL VOC segmentation layout, read offline.",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        layout = VocLayout(os.fspath(dl_manager.manual_dir))
        sets = layout.available_sets()
        if not sets:
            raise DataError(f"{layout.root}: no ImageSets/Segmentation/*.txt nor ImageTags/*.txt, "
                            "so no split")
        bad = [s for s in sets if not _SPLIT_RE.match(s)]
        if bad:
            raise DataError(f"{layout.root}: image set names {bad} are not valid split names "
                            "(letters, digits, '_' and '-' only): rename the files")
        self.info.features["labels"].feature.names = list(layout.class_names)
        self.info.metadata.update({
            "class_names": list(layout.class_names),
            "num_classes": layout.num_classes,
            "ignore_label": IGNORE_LABEL,
        })
        return {s: self._generate_examples(layout, s) for s in sets}

    def _generate_examples(self, layout: VocLayout, set_name: str):
        entries = layout.entries(set_name)
        ids = [e.name for e in entries]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise DataError(f"{layout.set_path(set_name)}: names listed twice: {dup[:10]}")
        for index, entry in enumerate(entries):  # with disable_shuffling, tfds sorts by key
            path = entry.image_path
            image = layout.read_image(entry.name)
            if entry.mask_path:
                mask = layout.read_mask(entry.name, image.shape[:2])
                labels = present_classes(mask, layout.num_classes)
            else:
                mask = np.full(image.shape[:2], IGNORE_LABEL, np.uint8)
                labels = np.array(entry.tags.classes)
            with Image.open(path) as im:
                keep_bytes = im.format == "JPEG" and im.mode == "RGB"
            if keep_bytes:
                with open(path, "rb") as f:
                    image = f.read()
            yield index, {
                "image": image,
                "segmentation_mask": mask[..., None],
                "file_name": os.path.basename(path),
                "labels": labels.astype(np.int64),
                "has_mask": bool(entry.mask_path),
            }


def build_tfds(manual_dir: str, data_dir: str,
               download_dir: Optional[str] = None) -> tfds.core.DatasetBuilder:
    """Prepares (once) and returns the builder for the VOC-layout folder `manual_dir`.

    Writes under `data_dir/tsss_voc_layout/1.1.0/`; an existing prepared copy there is reused.
    Makes no network connection (no GCS look-up, no download).
    """
    manual_dir = os.path.abspath(os.path.expanduser(manual_dir))
    VocLayout(manual_dir)  # a clear DataError now rather than a tfds assertion later
    builder = VocLayoutBuilder(data_dir=os.path.abspath(os.path.expanduser(data_dir)))
    builder.download_and_prepare(
        download_dir=download_dir,
        download_config=tfds.download.DownloadConfig(
            manual_dir=manual_dir, try_download_gcs=False,
            compute_stats=tfds.download.ComputeStatsMode.SKIP))
    return builder


def class_names(builder: tfds.core.DatasetBuilder) -> list:
    """The class names of a prepared builder, index order."""
    metadata = builder.info.metadata or {}
    if "class_names" not in metadata:
        raise DataError(f"{builder.data_dir}: not prepared yet (call build_tfds first)")
    return list(metadata["class_names"])


def decode_rgb(data: tf.Tensor) -> tf.Tensor:
    """uint8 [H, W, 3] from encoded bytes; JPEGs decoded exactly as PIL decodes them."""
    image = tf.cond(
        tf.io.is_jpeg(data),
        lambda: tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE"),
        lambda: tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False))
    image.set_shape([None, None, 3])
    return image


def _to_common(example):
    name = tf.strings.regex_replace(example["file_name"], r"\.[^.]*$", "")
    return {"image": decode_rgb(example["image"]), "mask": example["segmentation_mask"][..., 0],
            "name": name, "has_mask": example["has_mask"]}


def load_tfds_split(builder: tfds.core.DatasetBuilder, split: str,
                    read_config: Optional[tfds.ReadConfig] = None) -> tf.data.Dataset:
    """The split as the project's examples: {"image": uint8 [H,W,3], "mask": uint8 [H,W],
    "name": tf.string (the image id), "has_mask": tf.bool}, in set order."""
    ds = builder.as_dataset(split=split, shuffle_files=False, read_config=read_config,
                            decoders={"image": tfds.decode.SkipDecoding()})
    return ds.map(_to_common, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
