"""Small data fixtures written by the tests."""

import os

import numpy as np
from PIL import Image

from tsss_tf.data.voc import write_palette_png


def write_voc_fixture(root, class_names, examples, sets, image_format="jpg"):
    """Writes a VOC-layout folder.

    examples: {name: (image uint8 [H,W,3], mask uint8 [H,W])}; sets: {set_name: [names]}.
    """
    os.makedirs(os.path.join(root, "JPEGImages"), exist_ok=True)
    os.makedirs(os.path.join(root, "SegmentationClass"), exist_ok=True)
    os.makedirs(os.path.join(root, "ImageSets", "Segmentation"), exist_ok=True)
    if class_names is not None:
        with open(os.path.join(root, "classes.txt"), "w") as f:
            f.write("\n".join(class_names) + "\n")
    for name, (image, mask) in examples.items():
        path = os.path.join(root, "JPEGImages", f"{name}.{image_format}")
        Image.fromarray(image).save(path, quality=100) if image_format == "jpg" else \
            Image.fromarray(image).save(path)
        write_palette_png(os.path.join(root, "SegmentationClass", f"{name}.png"), mask)
    for set_name, names in sets.items():
        with open(os.path.join(root, "ImageSets", "Segmentation", f"{set_name}.txt"), "w") as f:
            f.write("\n".join(names) + "\n")
    return root


def blob_example(h, w, labels, rng):
    """An image with one rectangle per label on a noisy background, and its exact mask."""
    image = rng.integers(0, 80, size=(h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.uint8)
    for i, lab in enumerate(labels):
        y0, x0 = (i * h) // (len(labels) + 1), (i * w) // (len(labels) + 1)
        y1, x1 = min(h, y0 + h // 3), min(w, x0 + w // 3)
        image[y0:y1, x0:x1] = (40 * lab) % 255
        mask[y0:y1, x0:x1] = lab
    return image, mask
