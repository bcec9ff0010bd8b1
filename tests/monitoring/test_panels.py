"""The numpy panel renderer: layout, sizes and the one palette."""

import numpy as np
import pytest

from tsss_tf.data.palette import color_palette
from tsss_tf.evaluation import panels
from tsss_tf.evaluation.panels import COLUMNS, GAP, ROW_GAP, panel_shape, render_panels

N, S, K = 3, 16, 4


def _tile(grid, row, col):
    y, x = ROW_GAP + row * (S + ROW_GAP), GAP + col * (S + GAP)
    return grid[y:y + S, x:x + S]


def _inputs(rng):
    images = rng.uniform(0, 255, (N, S, S, 3)).astype(np.float32)
    truth = rng.integers(0, 5, (N, S, S)).astype(np.int32)
    truth[:, 0, :] = 255
    return images, truth


def test_layout_size_and_every_column(rng):
    images, truth = _inputs(rng)
    m = np.linspace(0, 1, S * S).reshape(S, S)[None].repeat(N, 0)
    cams = rng.uniform(0, 1, (N, S, S, K)).astype(np.float32)
    tags = np.zeros((N, K), np.float32)
    tags[:, 1] = 1
    transferred = truth.copy()
    logits = rng.normal(size=(N, S, S, 5)).astype(np.float32)
    grid = render_panels(images, objectness=m, cams=cams, tags=tags, transferred=transferred,
                         prediction=logits, truth=truth, num_background=1)
    assert grid.dtype == np.uint8
    assert grid.shape == panel_shape(N, S) == (N * S + (N + 1) * ROW_GAP,
                                              len(COLUMNS) * S + (len(COLUMNS) + 1) * GAP, 3)
    pal = color_palette()
    for r in range(N):
        np.testing.assert_array_equal(_tile(grid, r, 0), np.rint(images[r]).astype(np.uint8))
        np.testing.assert_array_equal(_tile(grid, r, 3), pal[transferred[r].astype(np.uint8)])
        np.testing.assert_array_equal(_tile(grid, r, 4), pal[logits[r].argmax(-1)])
        np.testing.assert_array_equal(_tile(grid, r, 5), pal[truth[r].astype(np.uint8)])
        assert (_tile(grid, r, 5)[0] == 255).all()                       # ignore: white
    # objectness: 0 is black, 1 is white
    assert (_tile(grid, 0, 1)[0, 0] == 0).all() and (_tile(grid, 0, 1)[-1, -1] == 255).all()
    # CAMs: only the tagged category (id 2) is drawn, in its palette colour where its CAM is 1
    cams1 = np.zeros((1, S, S, K), np.float32)
    cams1[0, 5, 5, 1] = 1.0
    cams1[0, 9, 9, 0] = 1.0            # not tagged: not drawn
    one = render_panels(np.zeros((1, S, S, 3)), cams=cams1, tags=tags[:1], num_background=1)
    cam = _tile(one, 0, 2)
    np.testing.assert_array_equal(cam[5, 5], pal[2])
    assert (cam[9, 9] == 0).all()


def test_missing_columns_are_hatched_and_gaps_white(rng):
    images, _ = _inputs(rng)
    grid = render_panels(images)
    blank = panels.blank_tile(S)
    for col in range(1, len(COLUMNS)):
        np.testing.assert_array_equal(_tile(grid, 1, col), blank)
    assert set(np.unique(blank)) == {150, 200}
    assert (grid[:ROW_GAP] == 255).all() and (grid[:, :GAP] == 255).all()


def test_rejects_non_square_images_and_legend_names_each_class():
    with pytest.raises(ValueError, match="square"):
        render_panels(np.zeros((1, 8, 9, 3)))
    md = panels.legend_markdown(["background", "disc", "oval"],
                                ["background", "strong", "weak"])
    assert "| 1 | disc | strong | #800000 |" in md and "| 255 | ignore" in md
