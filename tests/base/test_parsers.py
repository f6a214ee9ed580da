"""vaearr.parsers: the command-line text parsers (lists, shapes, ranges, ``key=value`` pairs, ``--window``)."""

from __future__ import annotations

import pytest

from vaearr.errors import InputError
from vaearr.parsers import (
    WINDOW_MAX,
    WindowRequest,
    parse_floats,
    parse_ints,
    parse_k_range,
    parse_names,
    parse_none,
    parse_options,
    parse_range,
    parse_shape,
    parse_window,
)


def test_numbers_split_on_commas_and_semicolons_and_none_stays_none():
    assert parse_floats("0.5,1;2, ,-3e2", "`bins`") == [0.5, 1.0, 2.0, -300.0]
    assert parse_floats(None, "`bins`") is None
    assert parse_floats("", "`bins`") == []
    with pytest.raises(InputError, match=r"`bins` must be comma-separated numbers, got '1,two'"):
        parse_floats("1,two", "`bins`")


def test_whole_numbers_refuse_a_fraction():
    assert parse_ints("3, 7,12", "`dims`") == [3, 7, 12]
    assert parse_ints("4.0", "`dims`") == [4]
    assert parse_ints(None, "`dims`") is None
    with pytest.raises(InputError, match=r"`dims` must be whole numbers \(latent dims\), got '3,4.5'"):
        parse_ints("3,4.5", "`dims`")


def test_a_shape_takes_x_or_commas_and_n_positive_integers():
    assert parse_shape("40x60", 2, "`crop`") == (40, 60)
    assert parse_shape("40X60", 2, "`crop`") == (40, 60)
    assert parse_shape("8,9,10", 3, "`patch`") == (8, 9, 10)
    assert parse_shape(None, 2, "`crop`") is None
    with pytest.raises(InputError, match=r"`crop` must look like NxN, got '4xa'"):
        parse_shape("4xa", 2, "`crop`")
    with pytest.raises(InputError, match=r"`crop` must be 2 positive integers like NxN, got '4x0'"):
        parse_shape("4x0", 2, "`crop`")
    with pytest.raises(InputError, match=r"`patch` must be 3 positive integers like 64x64x64, got '4x4'"):
        parse_shape("4x4", 3, "`patch`", like="64x64x64")


def test_names_are_stripped_and_empty_ones_dropped():
    assert parse_names(" a, b ,,c ") == ["a", "b", "c"]
    assert parse_names("") == []
    assert parse_names(None) is None


def test_a_k_range_is_two_whole_numbers_low_first():
    assert parse_k_range("2:8") == (2, 8)
    assert parse_k_range("3:3") == (3, 3)
    with pytest.raises(InputError, match=r"`k_range` must look like 2:8, got '2-8'"):
        parse_k_range("2-8")
    with pytest.raises(InputError, match=r"`k_range` 5:2 is empty or below 1"):
        parse_k_range("5:2")
    with pytest.raises(InputError, match=r"`k_range` 0:4 is empty or below 1"):
        parse_k_range("0:4")


def test_a_range_may_leave_either_end_open():
    assert parse_range(" 1.5 : 2 ") == (1.5, 2.0)
    assert parse_range(":") == (None, None)
    assert parse_range("-3:") == (-3.0, None)
    assert parse_range("4:4") == (4.0, 4.0)


@pytest.mark.parametrize(("text", "said"), [
    ("1:2:3", r"range '1:2:3' is not of the form A:B"),
    ("12", r"range '12' is not of the form A:B"),
    ("a:2", r"range 'a:2': 'a' is not a number"),
    ("1:inf", r"range '1:inf': 'inf' is not a finite number"),
    ("nan:1", r"range 'nan:1': 'nan' is not a finite number"),
    ("5:1", r"range '5:1' is empty: 5 > 1"),
])
def test_a_bad_range_is_one_line_saying_why(text, said):
    with pytest.raises(InputError, match=said):
        parse_range(text)


def test_a_range_that_is_not_text_is_refused():
    with pytest.raises(InputError, match=r"range 3 is not of the form A:B"):
        parse_range(3)  # type: ignore[arg-type]


def test_key_value_options_are_json_where_they_can_be():
    got = parse_options(["channels=[16,32]", "beta = 0.5", "norm=batch", "flag=true", "empty="])
    assert got == {"channels": [16, 32], "beta": 0.5, "norm": "batch", "flag": True, "empty": ""}
    assert parse_options(None) == {}
    with pytest.raises(InputError, match=r"`option` takes key=value, got 'beta'"):
        parse_options(["beta"])


def test_none_in_any_case_is_no_variable():
    assert parse_none("None") is None
    assert parse_none("NONE") is None
    assert parse_none(None) is None
    assert parse_none("roi") == "roi"
    assert parse_none("") == ""


@pytest.mark.parametrize(("text", "how", "value"), [
    ("auto", "auto", ()),
    (" ALL ", "all", ()),
    ("64", "size", (64, 64)),
    ("40x60", "size", (40, 60)),
    ("0:8,2:10", "box", (0, 8, 2, 10)),
    ("0:8,0:8;16:24,40:48", "boxes", (0, 8, 0, 8, 16, 24, 40, 48)),
])
def test_a_window_is_auto_all_a_size_a_box_or_boxes(text, how, value):
    request = parse_window(text)
    assert request == WindowRequest(how, value)


@pytest.mark.parametrize("text", ["auto", "all", "64x64", "40x60", "0:8,2:10", "0:8,0:8;16:24,40:48"])
def test_a_window_written_back_reads_the_same(text):
    request = parse_window(text)
    assert request.text() == text
    assert parse_window(request.text()) == request


def test_a_side_alone_is_written_back_as_a_square():
    assert parse_window("64").text() == "64x64"


@pytest.mark.parametrize("text", ["1x2x3", "big", "0:8", "0:8,1", "0:8,1:2:3", "0:8,a:b", ""])
def test_a_window_of_another_form_says_the_forms(text):
    with pytest.raises(InputError, match=r"`window` must be auto, all, a side N or HxW, or a box y0:y1,x0:x1"):
        parse_window(text)


def test_a_window_number_beyond_any_map_is_refused():
    assert parse_window(f"{WINDOW_MAX}").value == (WINDOW_MAX, WINDOW_MAX)
    with pytest.raises(InputError, match=rf"`window` takes scan pixels from 0 to {WINDOW_MAX}, got {WINDOW_MAX + 1}"):
        parse_window(f"0:8,0:{WINDOW_MAX + 1}")
    with pytest.raises(InputError, match=r"got -4 in '-4x8'"):
        parse_window("-4x8")
    assert parse_window(None) is None
