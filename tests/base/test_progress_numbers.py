"""Rates and losses as progress lines print them: a slow rate never as 0.0, losses with six significant figures."""

from __future__ import annotations

from vaearr.maps.indexing.indexing import IndexResult
from vaearr.progress import format_loss, format_rate


def test_a_slow_rate_keeps_its_digits_and_an_unmeasured_one_is_left_out() -> None:
    assert format_rate(9, 199.2, "patterns") == "0.0452 patterns/s"
    assert format_rate(1, 3600, "patterns") == "0.000278 patterns/s"
    assert format_rate(35_500, 10, "patterns") == "3,550 patterns/s"
    assert format_rate(12, 1, "samples") == "12 samples/s"
    assert format_rate(9, 0.0, "patterns") is None and format_rate(0, 5.0, "patterns") is None


def test_losses_print_with_six_significant_figures() -> None:
    assert format_loss(5285.7509765625) == "5285.75"
    assert format_loss(0.012345678) == "0.0123457"
    assert format_loss(1.0) == "1" and format_loss(None) == "nan"


def _result(n: int, seconds: float) -> IndexResult:
    attrs = {"method": "hough", "refine": False, "phases": [{"name": "ni"}], "n_indexed": n}
    return IndexResult("orientation", {"orientation": None}, attrs, n, seconds)


def test_the_index_summary_never_prints_a_rate_of_zero() -> None:
    slow = _result(9, 199.2).summary()
    assert "(0.0452 patterns/s)" in slow and "0.0 patterns/s" not in slow, slow
    assert "patterns/s" not in _result(9, 0.0).summary()
    assert "(1,230 patterns/s)" in _result(12_345, 10.0).summary()
