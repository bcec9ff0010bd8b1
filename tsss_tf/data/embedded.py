"""The embedded data set: a generated, deterministic stand-in for PASCAL VOC.

Written to disk in the VOC layout (PNG images), so the same reader and tf.data path as real data
serve it. 16 object categories: 10 *target* ones (group A: train/val/test) and 6 *source* ones
(group B: the `source` set, the 0% setting). A category is a shape AND a texture; object colours
come from one distribution shared by all categories, so colour alone says nothing about the class.
Backgrounds are smooth random colour fields with lines, scribbles, small marks and textured bands
(textures are not unique to objects); objects share generic cues (a compact closed shape, a
coherent, upright texture in two well-separated colours, a dark rim, often a drop shadow; the
background field is duller than objects). 1 to 3 objects per image, random scale (40% to 80% of
the image side) and shape rotation; later objects paint over earlier ones and the mask
holds the visible object's label, pixel-exact (image edges are anti-aliased, masks are not).

    root = materialize()                   # cached under $TSSS_TF_CACHE or ~/.cache/tsss_tf
    ds = VocLayout(root)
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile

import numpy as np
from PIL import Image

from tsss_tf import cache
from tsss_tf.data.palette import color_palette
from tsss_tf.data.voc import DataError, write_palette_png

GENERATOR_VERSION = 6
GENERATOR_NAME = "tsss_tf.data.embedded"

# name: (shape, texture). Group A, then group B.
_CATEGORIES = {
    "disc": ("circle", "concentric"), "ring": ("annulus", "noise"),
    "oval": ("ellipse", "stripes"), "square": ("square", "checker"),
    "brick": ("rect", "grid"), "triangle": ("triangle", "dots"),
    "diamond": ("rhombus", "hatch"), "star": ("star", "gradient"),
    "cross": ("cross", "diagonal"), "crescent": ("crescent", "zigzag"),
    "hexagon": ("hexagon", "wavy"), "heart": ("heart", "speckle"),
    "blob": ("blob", "sunburst"), "tee": ("tee", "spiral"),
    "dome": ("dome", "plaid"), "frame": ("frame", "marble"),
}
TARGET_CATEGORIES = ("disc", "ring", "oval", "square", "brick", "triangle", "diamond", "star",
                     "cross", "crescent")
SOURCE_CATEGORIES = ("hexagon", "heart", "blob", "tee", "dome", "frame")
EMBEDDED_CLASSES = ("background",) + TARGET_CATEGORIES + SOURCE_CATEGORIES
# Each weak category has a strong cousin: oval~disc, crescent~ring, brick~square,
# diamond~triangle, cross~star.
DEFAULT_50_STRONG = ("disc", "ring", "square", "triangle", "star")
DEFAULT_50_WEAK = ("oval", "crescent", "brick", "diamond", "cross")

SETS = ("train", "val", "test", "source")
# The default set: generator seed, image side, images per set (DataConfig's embedded_* fields).
SEED, SIZE, NUM_TRAIN, NUM_SOURCE, NUM_VAL, NUM_TEST = 0, 112, 2400, 1200, 200, 400
_NUM_OBJECTS_P = (0.4, 0.4, 0.2)   # 1, 2, 3 objects
_REPEAT_P = 0.35                   # a further object repeats a category already in the image
_SIZE_RANGE = (0.4, 0.8)           # object extent / image side
_BAND_P = 0.25                     # a background gets a textured band or half-plane
_RIM_P = 1.0                       # an object gets a darker rim (a generic objectness cue)
_SHADOW_P = 0.5                    # an object gets a drop shadow
_TEX_SCALE = 1.6                   # object texture period multiplier (coarse, readable at /2)
_BG_CONTRAST = (0.2, 0.6)          # background colour field contrast range
_BG_SAT = 0.5                      # background field saturation (1: as drawn, 0: grey)
_BAND_ALPHA = (0.2, 0.45)          # opacity of a background's textured band
_CLUTTER = 0.5                     # multiplier on line / scribble / mark counts
_PAIR_DIST = 150                   # object texture colours differ at least this much (RGB)
_RIM_DARK = (0.5, 0.7)             # how much darker the rim is
_CENTRE = (0.2, 0.8)               # object centre range / image side
# Textures are not rotated with the object: with rotated textures stripes~diagonal and
# grid~hatch are the same texture, and learning rotation-invariant texture features is slow.
_TEX_ROTATE = False


# ----------------------------------------------------------------------------- shapes
def _box(u, v, a, b):
    qx, qy = np.abs(u) - a, np.abs(v) - b
    return np.hypot(np.maximum(qx, 0), np.maximum(qy, 0)) + np.minimum(np.maximum(qx, qy), 0)


def _polygon(u, v, n, phase=0.0):
    """Regular n-gon of circumradius 1 (distance to the farthest edge line)."""
    ang = phase + 2 * np.pi * (np.arange(n) + 0.5) / n
    return np.max(np.cos(ang)[:, None, None] * u + np.sin(ang)[:, None, None] * v, 0) \
        - np.cos(np.pi / n)


def _star(u, v, points=5, inner=0.45):
    rho, phi = np.hypot(u, v), np.arctan2(v, u)
    sector = 2 * np.pi / points
    a = np.abs(np.mod(phi, sector) - sector / 2) - sector / 2   # fold: vertex at a = 0
    a = np.abs(a)
    px, py = rho * np.cos(a), rho * np.sin(a)
    ax, ay, bx, by = 1.0, 0.0, inner * np.cos(sector / 2), inner * np.sin(sector / 2)
    ex, ey = bx - ax, by - ay
    h = np.clip(((px - ax) * ex + (py - ay) * ey) / (ex * ex + ey * ey), 0, 1)
    dist = np.hypot(px - ax - h * ex, py - ay - h * ey)
    side = ex * (py - ay) - ey * (px - ax)   # > 0 on the centre's side
    return np.where(side > 0, -dist, dist)


def _heart(u, v):
    a, b = (u + v + 0.15) / np.sqrt(2), (v + 0.15 - u) / np.sqrt(2)
    lobes = np.minimum(np.hypot(u - 0.354, v - 0.204), np.hypot(u + 0.354, v - 0.204))
    return np.minimum(_box(a, b, 0.5, 0.5), lobes - 0.5)


def _blob(u, v, rho, p):
    phi = np.arctan2(v, u)
    return (rho - 0.85 * (1 + sum(a * np.cos(k * phi + ph) for k, a, ph in p["harmonics"]))) * .8


# Approximate signed distances (negative inside) in units of the object radius.
_SHAPES = {
    "circle": lambda u, v, rho, p: rho - 0.95,
    "annulus": lambda u, v, rho, p: np.abs(rho - 0.7) - 0.3,
    "ellipse": lambda u, v, rho, p: (np.hypot(u, v / 0.55) - 1) * 0.55,
    "square": lambda u, v, rho, p: _box(u, v, 0.78, 0.78),
    "rect": lambda u, v, rho, p: _box(u, v, 1.0, 0.5),
    "triangle": lambda u, v, rho, p: _polygon(u, v + 0.15, 3, np.pi / 2),
    "rhombus": lambda u, v, rho, p: (np.abs(u) + np.abs(v) / 0.6 - 1) / np.hypot(1, 1 / 0.6),
    "star": lambda u, v, rho, p: _star(u, v),
    "cross": lambda u, v, rho, p: np.minimum(_box(u, v, 1.0, 0.3), _box(u, v, 0.3, 1.0)),
    "crescent": lambda u, v, rho, p: np.maximum(rho - 1, 0.8 - np.hypot(u - 0.5, v)),
    "hexagon": lambda u, v, rho, p: _polygon(u, v, 6),
    "heart": lambda u, v, rho, p: _heart(u, v),
    "blob": _blob,
    "tee": lambda u, v, rho, p: np.minimum(_box(u, v - 0.65, 0.9, 0.27),
                                           _box(u, v + 0.15, 0.27, 0.8)),
    "dome": lambda u, v, rho, p: np.maximum(np.hypot(u, v + 0.4) - 1, -(v + 0.4)),
    "frame": lambda u, v, rho, p: np.maximum(_box(u, v, 0.92, 0.92), -_box(u, v, 0.5, 0.5)),
}


def _shape(name, u, v, p):
    return _SHAPES[name](u, v, np.hypot(u, v), p)


def _shape_params(name, rng):
    if name == "blob":
        return {"harmonics": [(k, float(rng.uniform(0.06, 0.16)), float(rng.uniform(0, 6.3)))
                              for k in (2, 3, 5)]}
    return {}


# ----------------------------------------------------------------------------- textures
def _sq(phase):
    """Smooth square wave in [0, 1] with period 1."""
    return np.clip(0.5 + 1.6 * np.cos(2 * np.pi * phase), 0, 1)


def _smooth_noise(rng, spacing, shape):
    cells = [max(2, int(n / spacing) + 1) for n in shape]
    return _resize(rng.uniform(0, 1, [1] + cells), shape)[0]


def _lines(a, b, q, width=1.3):
    """Two sets of 1-2 px lines of period q (a grid in the a, b coordinates)."""
    dist = np.minimum(np.abs(np.mod(a, q) - q / 2), np.abs(np.mod(b, q) - q / 2))
    return np.clip(width - dist, 0, 1)


def _dots(x, y, q, rad):
    dy = np.mod(y + (np.floor(x / q) % 2) * q / 2, q) - q / 2
    return np.clip(rad + 0.5 - np.hypot(np.mod(x, q) - q / 2, dy), 0, 1)


_R2 = np.sqrt(2)
# Texture value in [0, 1] at object-local pixel coordinates x, y; p: period scale.
_TEXTURES = {
    "concentric": lambda x, y, r, p, rng: _sq(np.hypot(x, y) / (6 * p)),
    "stripes": lambda x, y, r, p, rng: _sq(y / (5 * p)),
    "checker": lambda x, y, r, p, rng: (np.floor(x / (4 * p)) + np.floor(y / (4 * p))) % 2,
    "grid": lambda x, y, r, p, rng: _lines(x, y, 6 * p),
    "dots": lambda x, y, r, p, rng: _dots(x, y, 6 * p, 1.8 * p),
    "hatch": lambda x, y, r, p, rng: _lines((x + y) / _R2, (x - y) / _R2, 5 * p),
    "gradient": lambda x, y, r, p, rng: np.clip(0.5 + x / (2 * r), 0, 1),
    "diagonal": lambda x, y, r, p, rng: _sq((x + y) / (_R2 * 4 * p)),
    "zigzag": lambda x, y, r, p, rng: _sq(
        (y + np.abs(np.mod(x / (6 * p), 1) - 0.5) * 4 * p) / (5 * p)),
    "noise": lambda x, y, r, p, rng: np.clip(
        (_smooth_noise(rng, 3 * p, x.shape) - 0.5) * 2.5 + 0.5, 0, 1),
    "wavy": lambda x, y, r, p, rng: _sq((y + 1.8 * p * np.sin(2 * np.pi * x / (10 * p))) / (5 * p)),
    "speckle": lambda x, y, r, p, rng: (rng.uniform(0, 1, x.shape) < 0.3),
    "sunburst": lambda x, y, r, p, rng: _sq(np.arctan2(y, x) * 12 / (2 * np.pi)),
    "spiral": lambda x, y, r, p, rng: _sq(np.hypot(x, y) / (6 * p)
                                          + 3 * np.arctan2(y, x) / (2 * np.pi)),
    "plaid": lambda x, y, r, p, rng: 0.5 * _sq(x / (8 * p)) + 0.5 * _sq(y / (3.5 * p)),
    "marble": lambda x, y, r, p, rng: 0.5 + 0.5 * np.sin(
        2 * np.pi * (x / (9 * p) + 2.5 * _smooth_noise(rng, 12 * p, x.shape))),
}


def _texture(name, x, y, r, sc, rng):
    p = sc * rng.uniform(0.85, 1.15)   # period jitter
    return np.asarray(_TEXTURES[name](x, y, r, p, rng), np.float32)


# ----------------------------------------------------------------------------- drawing
@functools.lru_cache(maxsize=256)
def _interp_matrix(k, n):
    """[n, k] linear interpolation weights from k grid points to n pixels."""
    pos = np.linspace(0, k - 1, n)
    i0 = np.minimum(np.floor(pos).astype(int), max(k - 2, 0))
    f = pos - i0
    m = np.zeros((n, k), np.float32)
    m[np.arange(n), i0] += 1 - f
    m[np.arange(n), np.minimum(i0 + 1, k - 1)] += f
    return m


def _resize(grid, shape):
    """Bilinear upsampling of a [C, k, l] grid to [C, H, W] (shape: (H, W) or a side)."""
    h, w = (shape, shape) if np.isscalar(shape) else shape
    grid = np.asarray(grid, np.float32)
    return _interp_matrix(grid.shape[1], h) @ grid @ _interp_matrix(grid.shape[2], w).T


def _window(cx, cy, rad, size):
    """Slices of the image rows/columns within `rad` of (cx, cy), a point in the image."""
    return (slice(max(int(cy - rad), 0), min(int(np.ceil(cy + rad)) + 1, size)),
            slice(max(int(cx - rad), 0), min(int(np.ceil(cx + rad)) + 1, size)))


def _colour(rng, n=None):
    """Colours from the one distribution shared by every category and the clutter."""
    return rng.uniform(0, 255, (3, 1, 1) if n is None else (n, 3, 1, 1)).astype(np.float32)


def _colour_pair(rng, dist=90):
    """Two colours that differ enough to show a texture."""
    for _ in range(50):
        c = _colour(rng, 2)
        if np.linalg.norm(c[0] - c[1]) > dist:
            break
    return c[0], c[1]


def _blend(canvas, alpha, colour):
    """canvas [3, h, w] <- alpha-blend of colour ([3, 1, 1] or [3, h, w]); in place."""
    if colour.shape[1:] == (1, 1) and alpha.size > 256:   # thin strokes: touch their pixels only
        iy, ix = np.nonzero(alpha)
        if len(iy) < alpha.size // 4:
            v = canvas[:, iy, ix]
            canvas[:, iy, ix] = v + alpha[iy, ix] * (colour[:, :, 0] - v)
            return
    canvas += alpha * (colour - canvas)


def _crop(canvas, win):
    return canvas[:, win[0], win[1]]


def _strokes(canvas, x0, y0, x1, y1, w, colours):
    """Draws n straight lines at once (arrays of n); visits only the pixels near each line."""
    size, n = canvas.shape[1], len(x0)
    steep = np.abs(y1 - y0) > np.abs(x1 - x0)   # walk along the major axis a; b = minor axis
    a0, b0, a1, b1 = [np.where(steep, p, q) for p, q in ((y0, x0), (x0, y0), (y1, x1), (x1, y1))]
    slope = ((b1 - b0) / np.where(np.abs(a1 - a0) < 1e-6, 1e-6, a1 - a0))[:, None]
    half = int(np.ceil((w.max() + 1) * np.sqrt(2))) + 1
    a = np.arange(size, dtype=np.float32)
    lo, hi = np.minimum(a0, a1)[:, None], np.maximum(a0, a1)[:, None]
    b = np.round(b0[:, None] + slope * (np.clip(a, lo, hi) - a0[:, None]))
    b = b[:, None, :] + np.arange(-half, half + 1, dtype=np.float32)[:, None]   # [n, K, S]
    a = np.broadcast_to(a, b.shape)
    st = steep[:, None, None]
    xs, ys = np.where(st, b, a), np.where(st, a, b)
    ex, ey, px, py = [v.reshape(n, 1, 1) for v in (x1 - x0, y1 - y0, x0, y0)]
    px, py = xs - px, ys - py
    h = np.clip((px * ex + py * ey) / np.maximum(ex * ex + ey * ey, 1e-6), 0, 1)
    alpha = np.clip(w.reshape(n, 1, 1) + 0.5 - np.hypot(px - h * ex, py - h * ey), 0, 1)
    keep = (alpha > 0) & (b >= 0) & (b < size)
    iy, ix = ys[keep].astype(np.intp), xs[keep].astype(np.intp)
    v = canvas[:, iy, ix]   # where lines cross, the later one is drawn
    canvas[:, iy, ix] = v + alpha[keep].astype(np.float32) * (colours[np.nonzero(keep)[0]].T - v)


def _background(rng, size, sc, yy, xx):
    k = int(rng.integers(2, 6))
    grid = rng.uniform(0, 255, (3, k, k))
    contrast = rng.uniform(*_BG_CONTRAST)
    canvas = _resize(grid * contrast + grid.mean((1, 2), keepdims=True) * (1 - contrast), size)
    if _BG_SAT < 1:
        canvas = canvas * _BG_SAT + canvas.mean(0, keepdims=True) * (1 - _BG_SAT)
    canvas += _resize(rng.normal(0, 14, (3, 12, 12)), size)
    if rng.uniform() < _BAND_P:   # a textured band or half-plane: texture is not only on objects
        th = rng.uniform(0, np.pi)
        offset = rng.uniform(-0.3, 0.3) * size
        d = np.cos(th) * (xx - size / 2) + np.sin(th) * (yy - size / 2) - offset
        width = rng.uniform(0.1, 0.4) * size if rng.uniform() < 0.6 else size * 4
        inside = np.clip(0.5 - (np.abs(d) - width / 2), 0, 1)
        tex = _texture(str(rng.choice(["stripes", "noise", "checker", "wavy", "hatch"])),
                       xx * np.cos(th) + yy * np.sin(th), yy * np.cos(th) - xx * np.sin(th),
                       size / 4, sc, rng)
        c1, c2 = _colour_pair(rng)
        _blend(canvas, inside * rng.uniform(*_BAND_ALPHA), c1 + (c2 - c1) * tex)
    for _ in range(int(rng.choice(3, p=(0.5, 0.3, 0.2)))):   # stains: closed, untextured
        cx, cy = rng.uniform(0, size, 2)
        ax, ay = rng.uniform(0.08, 0.3, 2) * size
        th, colour, alpha = rng.uniform(0, np.pi), _colour(rng), rng.uniform(0.4, 0.9)
        win = _window(cx, cy, max(ax, ay) + 2, size)
        wx, wy = xx[win] - cx, yy[win] - cy
        u, v = np.cos(th) * wx + np.sin(th) * wy, np.cos(th) * wy - np.sin(th) * wx
        d = (np.hypot(u / ax, v / ay) - 1) * min(ax, ay)
        _blend(_crop(canvas, win), alpha * np.clip(0.5 - d / 2, 0, 1), colour)
    n = max(1, int(rng.integers(2, 9) * _CLUTTER))   # straight lines
    x0, y0, x1, y1 = rng.uniform(-0.2, 1.2, (4, n)) * size
    _strokes(canvas, x0, y0, x1, y1, rng.uniform(0.6, 2.0, n) * sc, _colour(rng, n)[..., 0, 0])
    for _ in range(int(rng.integers(0, 4) * _CLUTTER)):   # scribbles: sine curves
        th, cx, cy = rng.uniform(0, np.pi), *rng.uniform(0, size, 2)
        amp, period, ph = rng.uniform(2, 8) * sc, rng.uniform(3, 10) * sc, rng.uniform(0, 6)
        half, w = rng.uniform(0.15, 0.5) * size, rng.uniform(0.5, 1.5) * sc
        colour = _colour(rng)
        win = _window(cx, cy, half + amp + w + 2, size)
        wx, wy = xx[win] - cx, yy[win] - cy
        u = np.cos(th) * wx + np.sin(th) * wy
        v = -np.sin(th) * wx + np.cos(th) * wy
        dist = np.maximum(np.abs(v - amp * np.sin(u / period + ph)) - w, np.abs(u) - half)
        _blend(_crop(canvas, win), np.clip(0.5 - dist, 0, 1), colour)
    n = max(1, int(rng.integers(4, 20) * _CLUTTER))   # small marks, too small to be objects; drawn at once
    cx, cy, rad = rng.uniform(0, size, n), rng.uniform(0, size, n), rng.uniform(1, 3.5, n) * sc
    square, colour = rng.uniform(size=n) < 0.5, _colour(rng, n)[..., 0, 0]
    off = np.arange(-int(3.5 * sc + 2), int(3.5 * sc + 2) + 1)
    iy = (np.floor(cy)[:, None, None] + off[:, None]).astype(np.intp) + 0 * off
    ix = (np.floor(cx)[:, None, None] + off).astype(np.intp) + 0 * off[:, None]
    dy, dx = np.abs(iy - cy[:, None, None]), np.abs(ix - cx[:, None, None])
    d = np.where(square[:, None, None], np.maximum(dy, dx), np.hypot(dy, dx)) - rad[:, None, None]
    alpha = np.clip(0.5 - d, 0, 1)
    keep = (alpha > 0) & (iy >= 0) & (iy < size) & (ix >= 0) & (ix < size)
    iy, ix, alpha = iy[keep], ix[keep], alpha[keep].astype(np.float32)
    v = canvas[:, iy, ix]
    canvas[:, iy, ix] = v + alpha * (colour[np.nonzero(keep)[0]].T - v)
    return canvas


def object_distance(obj, size):
    """Signed distance in pixels (negative inside) of a placed object over the image grid."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    return _object_distance(obj, yy, xx)[0]


def _object_distance(obj, yy, xx, shift=(0.0, 0.0)):
    c, s = np.cos(obj["theta"]), np.sin(obj["theta"])
    dx, dy = xx - (obj["cx"] + shift[0]), yy - (obj["cy"] + shift[1])
    x, y = c * dx + s * dy, -s * dx + c * dy
    r, a = obj["r"], obj["aspect"]
    shape = _CATEGORIES[obj["category"]][0]
    return _shape(shape, x / (r * a), y * a / r, obj["params"]) * r, x, y


_G = np.meshgrid(*[np.linspace(-1.6, 1.6, 97, dtype=np.float32)] * 2)
# Area of each shape at radius 1 (a blob's without its harmonics).
_UNIT_AREA = {k: float((_shape(k, *_G, {"harmonics": []}) < 0).mean() * 3.2 ** 2) for k in _SHAPES}


def render_example(rng, categories, size=112):
    """Draws one image. categories: names to place, in painting order.

    Returns (image uint8 [S,S,3], mask uint8 [S,S], objects): `objects` are the placed objects
    (category, cx, cy, r, theta, aspect, params), so `object_distance(obj) < 0` is exactly the
    painted shape; an object that could not be placed visibly is left out.
    """
    sc = max(size / 112.0, 0.6)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    canvas = _background(rng, size, sc, yy, xx)
    owner = np.full((size, size), -1, np.int16)
    objects, areas = [], []
    for name in categories:
        for _ in range(12):
            r = size / 2 * np.exp(rng.uniform(*np.log(_SIZE_RANGE)))
            obj = {"category": name, "cx": float(rng.uniform(*_CENTRE) * size),
                   "cy": float(rng.uniform(*_CENTRE) * size), "r": float(r),
                   "theta": float(rng.uniform(0, 2 * np.pi)),
                   "aspect": float(rng.uniform(0.9, 1.1)),
                   "params": _shape_params(_CATEGORIES[name][0], rng)}
            win = _window(obj["cx"], obj["cy"], 1.65 * r + 3 + 4 * sc, size)
            d, x, y = _object_distance(obj, yy[win], xx[win])
            inside = d < 0
            area = int(inside.sum())
            trial = owner.copy()
            trial[win][inside] = len(objects)
            visible = np.bincount(trial[trial >= 0].ravel(), minlength=len(objects) + 1)
            full = _UNIT_AREA[_CATEGORIES[name][0]] * r * r
            if area >= max(20, 0.5 * full) and all(
                    visible[k] >= 0.4 * areas[k] for k in range(len(objects))):
                break
        else:
            continue
        view = _crop(canvas, win)
        if rng.uniform() < _SHADOW_P:   # drop shadow
            off = rng.uniform(1.5, 4.0, 2) * sc
            ds = _object_distance(obj, yy[win], xx[win], (off[0], off[1]))[0]
            view *= 1 - rng.uniform(0.25, 0.5) * np.clip(0.5 - ds / 1.5, 0, 1)
        c1, c2 = _colour_pair(rng, _PAIR_DIST)
        tx, ty = x, y
        if not _TEX_ROTATE:   # textures stay upright: orientation is part of the texture
            c, s_ = np.cos(obj["theta"]), np.sin(obj["theta"])
            tx, ty = c * x - s_ * y, s_ * x + c * y
        t = _texture(_CATEGORIES[name][1], tx, ty, r, sc * _TEX_SCALE, rng)
        colour = c1 + (c2 - c1) * t
        colour *= 1 + rng.uniform(-0.2, 0.2) * np.clip(x / r, -1, 1)   # shading
        if rng.uniform() < _RIM_P:   # a darker rim
            colour *= 1 - rng.uniform(*_RIM_DARK) * ((d > -1.5 * sc) & (d < 0))
        _blend(view, np.clip(0.5 - d, 0, 1), colour)
        owner = trial
        objects.append(obj)
        areas.append(area)
    canvas = canvas.transpose(1, 2, 0) * rng.uniform(0.85, 1.15)
    canvas += rng.standard_normal(canvas.shape, dtype=np.float32) * rng.uniform(2, 7)
    mask = np.zeros((size, size), np.uint8)
    for k, obj in enumerate(objects):
        mask[owner == k] = EMBEDDED_CLASSES.index(obj["category"])
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8), mask, objects


def sample_categories(rng, pool):
    n = int(rng.choice(3, p=_NUM_OBJECTS_P)) + 1
    cats = [str(rng.choice(pool))]
    for _ in range(n - 1):
        cats.append(str(rng.choice(cats)) if rng.uniform() < _REPEAT_P else str(rng.choice(pool)))
    return cats


# ----------------------------------------------------------------------------- writing
def _params(seed, size, num_train, num_source, num_val, num_test):
    return {"seed": int(seed), "size": int(size), "num_train": int(num_train),
            "num_source": int(num_source), "num_val": int(num_val), "num_test": int(num_test)}


def _is_complete(root):
    return os.path.isfile(os.path.join(root, "meta.json"))


def _build(folder, params, progress):
    from tqdm import tqdm

    for sub in ("JPEGImages", "SegmentationClass", os.path.join("ImageSets", "Segmentation")):
        os.makedirs(os.path.join(folder, sub), exist_ok=True)
    counts = {s: params[f"num_{s}"] for s in SETS}
    palette = color_palette()
    stats = {}
    with tqdm(total=sum(counts.values()), desc="embedded data set", disable=not progress,
              unit="img") as bar:
        for set_index, set_name in enumerate(SETS):
            pool = SOURCE_CATEGORIES if set_name == "source" else TARGET_CATEGORIES
            per_cat = dict.fromkeys(pool, 0)
            n_objects, multi, names = [0, 0, 0, 0], 0, []
            for i in range(counts[set_name]):
                rng = np.random.default_rng([params["seed"], set_index, i])
                image, mask, objects = render_example(
                    rng, sample_categories(rng, pool), params["size"])
                name = f"{set_name}_{i:05d}"
                Image.fromarray(image).save(os.path.join(folder, "JPEGImages", name + ".png"),
                                            compress_level=1)
                write_palette_png(os.path.join(folder, "SegmentationClass", name + ".png"), mask,
                                  palette)
                present = [EMBEDDED_CLASSES[c] for c in np.unique(mask) if c != 0]
                for c in present:
                    per_cat[c] += 1
                multi += len(present) >= 2
                n_objects[len(objects)] += 1
                names.append(name)
                bar.update(1)
            with open(os.path.join(folder, "ImageSets", "Segmentation", set_name + ".txt"),
                      "w") as f:
                f.write("".join(n + "\n" for n in names))
            stats[set_name] = {"images": len(names), "images_per_category": per_cat,
                               "objects_per_image": {str(k): n_objects[k] for k in range(1, 4)},
                               "images_with_two_categories": int(multi)}
    with open(os.path.join(folder, "classes.txt"), "w") as f:
        f.write("".join(c + "\n" for c in EMBEDDED_CLASSES))
    meta = {"generator": GENERATOR_NAME, "version": GENERATOR_VERSION, "params": params,
            "classes": list(EMBEDDED_CLASSES), "target_categories": list(TARGET_CATEGORIES),
            "source_categories": list(SOURCE_CATEGORIES),
            "default_50_strong": list(DEFAULT_50_STRONG), "default_50_weak": list(DEFAULT_50_WEAK),
            "category_design": {c: {"shape": s, "texture": t} for c, (s, t) in _CATEGORIES.items()},
            "sets": stats}
    with open(os.path.join(folder, "meta.json"), "w") as f:   # written last: marks completion
        json.dump(meta, f, indent=1, sort_keys=True)


def _generate(root, params, progress, replace):
    root = os.path.abspath(os.path.expanduser(root))
    parent = os.path.dirname(root)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(root)}.tmp-", dir=parent)
    try:
        _build(tmp, params, progress)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if replace and os.path.isdir(root):
        old = tempfile.mkdtemp(prefix=f".{os.path.basename(root)}.old-", dir=parent)
        os.rename(root, os.path.join(old, "set"))
    try:
        os.rename(tmp, root)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not _is_complete(root):   # another process won the race and finished: use its set
            raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return root


def generate(root, seed=SEED, size=SIZE, num_train=NUM_TRAIN, num_source=NUM_SOURCE,
             num_val=NUM_VAL, num_test=NUM_TEST, progress=True) -> str:
    """Writes the whole embedded set to `root` atomically and returns `root`.

    An existing `root` is replaced only when it is empty or an embedded set itself.
    """
    path = os.path.abspath(os.path.expanduser(root))
    if os.path.isdir(path) and not os.listdir(path):
        os.rmdir(path)
    elif os.path.exists(path):
        try:
            with open(os.path.join(path, "meta.json")) as f:
                ours = json.load(f).get("generator") == GENERATOR_NAME
        except (OSError, ValueError):
            ours = False
        if not ours:
            raise DataError(f"'{path}' exists and is not an embedded data set; "
                            "name an empty or new folder")
    return _generate(path, _params(seed, size, num_train, num_source, num_val, num_test),
                     progress, replace=True)


def cache_key(seed=SEED, size=SIZE, num_train=NUM_TRAIN, num_source=NUM_SOURCE,
              num_val=NUM_VAL, num_test=NUM_TEST):
    params = _params(seed, size, num_train, num_source, num_val, num_test)
    text = json.dumps({"version": GENERATOR_VERSION, "params": params}, sort_keys=True)
    return f"v{GENERATOR_VERSION}-s{seed}-{size}px-{hashlib.sha1(text.encode()).hexdigest()[:10]}"


def cache_dir() -> str:
    return cache.cache_dir("embedded")


def materialize(root=None, seed=SEED, size=SIZE, num_train=NUM_TRAIN, num_source=NUM_SOURCE,
                num_val=NUM_VAL, num_test=NUM_TEST, progress=True) -> str:
    """The embedded set's folder, generated on first use (cached; safe when processes race)."""
    if root is None:
        root = os.path.join(cache_dir(),
                            cache_key(seed, size, num_train, num_source, num_val, num_test))
    root = os.path.abspath(os.path.expanduser(root))
    if _is_complete(root):
        return root
    if os.path.isdir(root) and not os.listdir(root):
        os.rmdir(root)
    return _generate(root, _params(seed, size, num_train, num_source, num_val, num_test),
                     progress, replace=False)
