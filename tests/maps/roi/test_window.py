"""The training window (:mod:`vaearr.maps.roi.window`) as a value: its boxes, text, region, one-line description and
saved form, made from boxes or the whole map, and the chooser's growth on a grid of kinds by hand (the chooser on
planted maps and the requests' errors: ``tests/train/test_window.py``)."""

from __future__ import annotations

import numpy as np

from vaearr.maps.roi.window import MIN_PIXELS, Window, from_boxes, grow, whole_map
from vaearr.maps.roi.window_measures import KindGrid


def test_a_window_of_one_box() -> None:
    w = from_boxes([(2, 6, 1, 5)], (8, 10), "box")
    assert w.boxes == ((2, 6, 1, 5),) and not w.whole and w.slices == (slice(2, 6), slice(1, 5))
    assert w.text == "2:6,1:5" and w.region().sum() == 16 and w.region()[2:6, 1:5].all()
    assert w.describe() == "rows 2:6, columns 1:5 (4 × 4 of 8 × 10; box)"
    assert Window.from_dict(w.to_dict()) == w
    whole = whole_map((8, 10), grain_size=None, kinds=1)
    assert whole.whole and whole.box == (0, 8, 0, 10) and whole.how == "all" and whole.info == {"grain_size": None,
                                                                                                   "kinds": 1}


def test_a_window_of_tiles() -> None:
    w = from_boxes([(0, 2, 0, 2), (4, 6, 6, 8)], (8, 10), "auto", {"grain_size": 2.0, "kinds": 3, "cover": 0.5})
    assert w.box == (0, 6, 0, 8) and w.tiles == ((0, 2, 0, 2), (4, 6, 6, 8)) and not w.whole
    assert w.region().sum() == 8 and w.text == "0:2,0:2;4:6,6:8"
    assert w.describe() == ("2 tiles of 2 × 2 spread over the 8 × 10 map (8 pixels; auto: grain size 2.0 px, 3 kinds, "
                            "the rarest at 0.50 of its share)")
    assert Window.from_dict(w.to_dict()) == w


def test_what_an_automatic_window_says() -> None:
    info = {"grain_size": 12.34, "kinds": 1, "covered": True}
    assert Window((0, 40, 12, 52), (48, 64), "auto", info).describe() == (
        "rows 0:40, columns 12:52 (40 × 40 of 48 × 64; auto: grain size 12.3 px (mean linear intercept), 1 kind of "
        "region, all covered)")
    held = Window((0, 40, 0, 40), (100, 100), "auto", {"grain_size": None, "kinds": 4, "cover": 0.1, "max_pixels": 1600})
    assert held.describe().endswith("auto: grain size none measured, 4 kinds, held to 1600 patterns: the rarest kind "
                                    "at 0.10 of its share)")
    whole = Window((0, 30, 0, 30), (30, 30), "auto", {"grain_size": 5.0, "kinds": 2})
    assert whole.describe().endswith("auto: grain size 5.0 px, 2 kinds; no smaller window holds every kind)")


def test_growth_on_a_grid_of_kinds() -> None:
    labels = np.zeros((60, 60), int)
    labels[:, 40:] = 1  # a third of the map is the other kind
    grid = KindGrid(np.arange(60), labels, 2, (60, 60))
    inside = np.ones((60, 60), bool)
    assert grow(grid, None, inside) == ((0, 60, 0, 60), 1.0)  # no boundary measured: the whole map
    (y0, y1, x0, x1), cover = grow(grid, 4.0, inside)
    side = y1 - y0
    assert side == x1 - x0 and side * side >= MIN_PIXELS and cover >= 0.25
    assert x0 < 40 < x1  # where both kinds are
