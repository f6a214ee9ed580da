"""`vaearr rank`'s figures: Pearson r in each scatter's title over the finite pixels, and safe file names
(tests/viz/test_rank_figures.py draws every figure of a rank)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from vaearr.options import FigureOptions
from vaearr.viz import ranking
from vaearr.viz.ranking import dim_scatter_figure


def test_pearson_over_the_finite_pixels_or_nan() -> None:
    a = np.array([1.0, 2.0, np.nan, 4.0, 5.0])
    b = np.array([2.0, 1.0, 3.0, np.inf, 7.0])
    pearson = ranking._pearson  # noqa: SLF001 - the r the titles print
    assert pearson(a, b) == pytest.approx(stats.pearsonr([1.0, 2.0, 5.0], [2.0, 1.0, 7.0])[0])
    assert np.isnan(pearson(a[:3], b[:3]))  # two finite pairs
    assert np.isnan(pearson(np.ones(4), np.arange(4.0)))  # a constant


def test_safe_names() -> None:
    assert ranking._safe("Cr/Kα 1") == "Cr_Kα_1"  # noqa: SLF001 - file names of references


def test_scatter_titles_carry_r(tmp_path: Path) -> None:
    pytest.importorskip("bokeh", reason="the viz extra writes the HTML")
    x = np.arange(10.0)
    html = dim_scatter_figure(x, {"up": 2 * x, "down": -x}, tmp_path / "dim0", figures=FigureOptions("png", 40))
    text = html.read_text()
    assert "up (r = 1.000)" in text and "down (r = -1.000)" in text and (tmp_path / "dim0.png").is_file()
