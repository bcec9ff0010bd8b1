"""Pictures of a predicted class map: a coloured overlay and the raw map, in the VOC palette."""

import os

import numpy as np
from PIL import Image

from tsss_tf.atomic import atomic_open
from tsss_tf.data.palette import color_palette, colorize


def overlay(image: np.ndarray, class_map: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """uint8 RGB [H, W, 3]: `image` blended with the colours of `class_map` [H, W]; class 0
    (background) is left unpainted."""
    if image.shape[:2] != class_map.shape:
        raise ValueError(f"image {image.shape[:2]} and class map {class_map.shape} differ in size")
    colours = colorize(class_map).astype(np.float32)
    paint = (class_map > 0)[..., None]
    mixed = np.where(paint, (1 - alpha) * image + alpha * colours, image)
    return np.clip(np.round(mixed), 0, 255).astype(np.uint8)


def _save_atomic(picture: Image.Image, path: str) -> str:
    path = os.path.abspath(path)
    with atomic_open(path) as f:
        picture.save(f, format="PNG")
    return path


def write_class_map(path: str, class_map: np.ndarray) -> str:
    """Writes class ids as a palette PNG (pixel value = class id, shown in the VOC colours)."""
    picture = Image.fromarray(np.asarray(class_map, np.uint8))  # "L"; putpalette makes it "P"
    picture.putpalette(color_palette().reshape(-1).tolist())
    return _save_atomic(picture, path)


def write_rgb(path: str, image: np.ndarray) -> str:
    """Writes an RGB uint8 image as PNG."""
    return _save_atomic(Image.fromarray(image), path)
