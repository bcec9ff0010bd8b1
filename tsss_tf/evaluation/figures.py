"""The PNG figures linked from results.md (matplotlib, a dependency of the package).

    per_class_iou.png     test IoU of each class for each variant (full, strong_only,
                          lnet_only, tsss), strong and weak classes marked
    test_predictions.png  the first test images: image | ground truth | each variant's
                          prediction, in the palette of tsss_tf.data.palette

A figure never makes the experiment fail: when one cannot be drawn (a broken matplotlib
install, say) results.md says so in one line. Figures are written atomically (temp file, then
rename), with a fixed size in pixels (FIGURE_DPI and the sizes below), drawn with matplotlib's object API (no
pyplot: no global state, no display needed).
"""

from __future__ import annotations

import os
from typing import Dict, Optional

import numpy as np
from absl import logging

from tsss_tf.atomic import atomic_open
from tsss_tf.data.palette import color_palette
from tsss_tf.data.voc import IGNORE_LABEL
from tsss_tf.evaluation.panels import label_tile
from tsss_tf.evaluation.report import VARIANTS

FIGURE_DPI = 100
BAR_FILE = "per_class_iou.png"
GRID_FILE = "test_predictions.png"
EXAMPLES_FILE = "test_examples.npz"
KIND_COLOURS = {"strong": "#d8ecd8", "weak": "#f6dcc8", "background": "#ffffff"}
VARIANT_COLOURS = {"full": "#4c72b0", "strong_only": "#8c8c8c", "lnet_only": "#dd8452",
                   "tsss": "#c44e52"}


def bar_chart_inches(num_classes: int) -> tuple:
    return (max(6.0, 0.6 * num_classes + 2.0), 4.5)


def grid_inches(num_images: int, num_variants: int) -> tuple:
    return (1.7 * (num_variants + 2) + 0.3, 1.7 * num_images + 1.1)


def _save(fig, path: str) -> str:
    with atomic_open(path) as f:
        fig.savefig(f, format="png", dpi=FIGURE_DPI)
    return path


def iou_bar_chart(results: dict, path: str) -> Optional[str]:
    """The per-class IoU bar chart of the variants in results; None when there is none."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    variants = [v for v in VARIANTS if v in results.get("variants", {})]
    if not variants:
        return None
    names = class_names_from_results(results)
    kinds = results.get("class_kinds", {})
    fig = Figure(figsize=bar_chart_inches(len(names)), dpi=FIGURE_DPI)
    ax = fig.add_axes([0.07, 0.22, 0.76, 0.68])
    x = np.arange(len(names))
    width = 0.8 / len(variants)
    for i, name in enumerate(names):
        ax.axvspan(i - 0.5, i + 0.5, color=KIND_COLOURS.get(kinds.get(name), "#ffffff"),
                   zorder=0, lw=0)
    for j, v in enumerate(variants):
        per = results["variants"][v]["per_class"]
        vals = [100 * (per.get(n) or 0.0) for n in names]
        ax.bar(x - 0.4 + width * (j + 0.5), vals, width, label=v, zorder=2,
               color=VARIANT_COLOURS.get(v))
    labels = [f"{n}\n({kinds[n][0].upper()})" if kinds.get(n) in ("strong", "weak") else n
              for n in names]
    ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=8)
    ax.set_xlim(-0.5, len(names) - 0.5)
    ax.set_ylim(0, 100)
    ax.set_ylabel("test IoU (%)")
    ax.set_title(f"Per-class IoU: {results.get('config')}, seed {results.get('seed')}, "
                 f"{results.get('eval_set')}", fontsize=10)
    handles = ax.get_legend_handles_labels()[0] + [
        Patch(facecolor=KIND_COLOURS["strong"], label="strong class (S)"),
        Patch(facecolor=KIND_COLOURS["weak"], label="weak class (W)")]
    fig.legend(handles=handles, loc="center right", fontsize=8, frameon=False)
    return _save(fig, path)


def prediction_grid(examples: Dict[str, dict], class_names, path: str,
                    with_images: bool = True) -> Optional[str]:
    """Rows: the saved test images; columns: image | ground truth | each variant.

    with_images=False leaves the photograph column out: a figure that can be published where
    the data set's licence does not allow its images to be redistributed."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    variants = [v for v in VARIANTS if v in examples]
    if not variants:
        return None
    first = examples[variants[0]]
    n = len(first["image"])
    cols = (["image"] if with_images else []) + ["ground truth"] + variants
    fig = Figure(figsize=grid_inches(n, len(cols) - 2), dpi=FIGURE_DPI)
    axes = fig.subplots(n, len(cols), squeeze=False,
                        gridspec_kw=dict(left=0.01, right=0.99, top=1 - 0.3 / fig.get_figheight(),
                                         bottom=0.8 / fig.get_figheight(), wspace=0.04,
                                         hspace=0.04))
    seen = set()
    for i in range(n):
        tiles = ([first["image"][i]] if with_images else []) + [label_tile(first["truth"][i])]
        seen.update(np.unique(first["truth"][i]).tolist())
        for v in variants:
            pred = examples[v]["prediction"][i]
            seen.update(np.unique(pred).tolist())
            tiles.append(label_tile(pred))
        for j, tile in enumerate(tiles):
            ax = axes[i][j]
            ax.imshow(tile, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(cols[j], fontsize=9)
    pal = color_palette()
    handles = [Patch(facecolor=pal[c] / 255.0, edgecolor="black", label=class_names[c])
               for c in sorted(seen) if c < len(class_names)]
    if IGNORE_LABEL in seen:  # void / padding in the ground truth: not scored
        handles.append(Patch(facecolor=pal[IGNORE_LABEL] / 255.0, edgecolor="black",
                             label="ignored (not scored)"))
    fig.legend(handles=handles, loc="lower center", ncol=min(6, max(1, len(handles))),
               fontsize=7, frameon=False)
    return _save(fig, path)


def class_names_from_results(results: dict) -> list:
    """Class names in class-id order: `results["class_names"]`. The per-class dicts of
    results.json are written with sorted keys, so their order is alphabetical and must never be
    taken for the class ids (a prediction's colour is its class id)."""
    if "class_names" in results:
        return list(results["class_names"])
    raise ValueError("results have no 'class_names' (results.json of an older tsss_tf run): "
                     "rerun the experiment's last stage to write it")


def write_figures(model_dir: str, results: dict) -> str:
    """Writes the figures of an experiment next to its results.md; returns the markdown that
    links them (or a one-line note when a figure cannot be drawn)."""
    links = []
    try:
        if iou_bar_chart(results, os.path.join(model_dir, BAR_FILE)):
            links.append(f"![Per-class test IoU of the variants; strong (S) and weak (W) "
                         f"classes marked]({BAR_FILE})")
        examples = {v: e for v in VARIANTS
                    if (e := load_examples(os.path.join(model_dir, v, EXAMPLES_FILE)))}
        class_names = class_names_from_results(results)
        if examples and prediction_grid(examples, class_names,
                                        os.path.join(model_dir, GRID_FILE)):
            links.append(f"![Test predictions: image, ground truth, each variant]"
                         f"({GRID_FILE})")
    except Exception as e:  # a figure must never fail the experiment
        logging.warning("results figures failed: %r", e)
        return f"\nFigures skipped: {type(e).__name__}: {e}\n"
    if not links:
        return ""
    return "\n## Figures\n\n" + "\n\n".join(links) + "\n"


def save_examples(path: str, **arrays) -> None:
    """np.savez_compressed to `path`, atomically (temp file, then rename)."""
    with atomic_open(path) as f:
        np.savez_compressed(f, **arrays)


def load_examples(path: str) -> Optional[dict]:
    if not os.path.exists(path):
        return None
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
