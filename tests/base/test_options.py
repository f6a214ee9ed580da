"""vaearr.options: options declared once as dataclass fields (``opt``), the one check of their ranges, the
dataclass made from a command line's or a Python caller's values, the figure options and the projection centre."""

from __future__ import annotations

import dataclasses
import inspect
import math
import warnings
from dataclasses import dataclass

import pytest

from vaearr.errors import InputError, OptionError, VaearrDeprecationWarning
from vaearr.options import (
    FigureOptions,
    Option,
    build,
    check_declared,
    check_pc,
    check_values,
    declared,
    flag,
    from_fields,
    given_pc,
    keyword_of,
    keyword_parameters,
    made,
    opt,
    options,
    parse_pc,
    parse_shape,
    renamed_keywords,
    shown,
    take_renamed,
)


@dataclass(frozen=True, kw_only=True)
class Base:
    """Options shared by commands: declared after a command's own."""

    overwrite: bool = opt(False, "Replace.", flags=("--overwrite",))
    dpi: int = opt(300, "Dots per inch.", min=1, max=2400)


@dataclass(frozen=True, kw_only=True)
class Picks(Base):
    """A command's options: its own fields first."""

    store: str = opt(help="The store.", flags=())
    top: int = opt(5, "How many.", min=1, deprecated=("--n-top",))
    fraction: float = opt(0.5, "A share.", above=0, below=1)
    method: str = opt("pca", "Which.", choices=("pca", "nmf"))
    shape: tuple[int, ...] | None = opt(None, "A shape.", cli_type=str, parse=lambda t: parse_shape(t, 2, "`shape`"))
    names: list[str] = opt(["a"], "Names.")
    plain: int = 0  # no Option: no interface sees it


@dataclass(frozen=True, kw_only=True)
class Checked(Base):
    """Options whose own check() adds a rule beyond the ranges."""

    k: int = opt(2, "Clusters.", min=1)

    def check(self) -> None:
        check_declared(self)
        if self.k == 7:
            raise InputError(None, "k=7 is unlucky")


@pytest.mark.parametrize(("option", "words"), [
    (Option("", min=1), "at least 1"),
    (Option("", above=0), "above 0"),
    (Option("", max=2.5), "at most 2.5"),
    (Option("", below=1), "below 1"),
    (Option("", min=0, max=1), "in [0, 1]"),
    (Option("", above=0, below=1), "in (0, 1)"),
    (Option("", min=0, below=1), "in [0, 1)"),
    (Option("", choices=("a", "b")), "one of a, b"),
    (Option(""), "anything"),
])
def test_an_option_says_what_it_allows_in_words(option, words):
    assert option.allowed() == words


def test_an_option_admits_its_range_none_flags_and_words_but_no_nan_or_infinity():
    o = Option("", min=1, below=10)
    assert o.admits(1) and o.admits(9.5) and not o.admits(0) and not o.admits(10)
    assert o.admits(None) and o.admits(True)  # None: the field may be None; a flag has no range
    assert o.admits("auto")  # a word: the field's parse and check() judge it
    assert not o.admits(math.nan) and not o.admits(math.inf)
    assert Option("", choices=("pca",)).admits("pca") and not Option("", choices=("pca",)).admits("nmf")


def test_values_are_shown_as_an_error_line_shows_them():
    assert [shown(v) for v in (0.5, 2.0, 1e-7, "x", 3, None)] == ["0.5", "2", "1e-07", "'x'", "3", "None"]


def test_own_fields_come_before_the_shared_ones_and_plain_fields_are_not_options():
    assert [f.name for f, _ in options(Picks)] == ["store", "top", "fraction", "method", "shape", "names",
                                                 "overwrite", "dpi"]
    assert [d.name for d in declared(Picks, skip=("names",))] == ["store", "top", "fraction", "method", "shape",
                                                                  "overwrite", "dpi"]


def test_a_flag_is_the_first_declared_the_field_name_or_the_argument_in_capitals():
    f = {f.name: (f, o) for f, o in options(Picks)}
    assert flag(*f["top"]) == "--top"
    assert flag(*f["overwrite"]) == "--overwrite"
    assert flag(*f["store"]) == "STORE"


def test_a_list_default_is_a_copy_for_each_instance():
    a, b = Picks(store="s"), Picks(store="s")
    a.names.append("b")
    assert b.names == ["a"]


def test_every_field_out_of_range_is_named_in_one_error():
    with pytest.raises(OptionError) as raised:
        check_declared(Picks(store="s", top=0, fraction=1.0, method="ica", dpi=3000))
    assert raised.value.owner is Picks
    assert raised.value.problems == (
        ("top", "must be at least 1, got 0"),
        ("fraction", "must be in (0, 1), got 1"),
        ("method", "must be one of pca, nmf, got 'ica'"),
        ("dpi", "must be in [1, 2400], got 3000"),
    )
    assert str(raised.value).startswith("top must be at least 1, got 0; fraction must be in (0, 1), got 1")
    check_declared(Picks(store="s"))  # the defaults pass


def test_values_without_a_dataclass_are_held_to_ranges_the_same_way():
    check_values(step=(0.5, {"above": 0}), k=(None, {"min": 1}))
    with pytest.raises(OptionError, match=r"^step must be above 0, got -1$") as raised:
        check_values(step=(-1, {"above": 0}))
    assert raised.value.owner is None


def test_a_flag_spells_a_keyword():
    assert keyword_of("--top-percent") == "top_percent"
    assert keyword_of("--recon-error/--no-recon-error") == "recon_error"
    assert keyword_of("-k") == "k"
    assert renamed_keywords(Picks) == {"n_top": "top"}


def test_an_old_keyword_is_taken_under_its_new_name_with_a_warning_at_the_callers_line():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        got = take_renamed({"n_top": 3, "dpi": 9}, {"n_top": "top"}, "vaearr.pick")
    assert got == {"top": 3, "dpi": 9}
    assert [str(w.message) for w in seen] == [
        "vaearr.pick: n_top= is deprecated, use top= (the old spelling goes in vaearr 0.3)"]
    assert seen[0].category is VaearrDeprecationWarning
    assert seen[0].filename == __file__  # the caller's line, not vaearr's
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert take_renamed({"n_top": 3}, {"n_top": "top"}, "x", warn=False) == {"top": 3}
    with pytest.raises(InputError, match=r"vaearr.pick: give top= \(or the deprecated n_top=\), not both"):
        take_renamed({"n_top": 3, "top": 4}, {"n_top": "top"}, "vaearr.pick")


def test_made_parses_each_value_then_checks_the_ranges():
    got = made(Picks, {"store": "s.zarr", "shape": "4x6", "top": 2, "unknown": 1})
    assert (got.store, got.shape, got.top, got.fraction) == ("s.zarr", (4, 6), 2, 0.5)
    with pytest.raises(OptionError, match=r"top must be at least 1, got 0"):
        made(Picks, {"store": "s", "top": 0})
    with pytest.raises(InputError, match=r"k=7 is unlucky"):
        made(Checked, {"k": 7})  # its own check() runs too


def test_build_makes_lists_the_tuples_the_fields_are_declared_as():
    got = build(Picks, {"store": "s", "shape": [4, 6], "names": ["x", "y"]})
    assert got.shape == (4, 6) and got.names == ["x", "y"]


def test_from_fields_refuses_an_unknown_keyword_listing_the_options():
    assert from_fields(Picks, {"store": "s", "shape": [2, 3]}).shape == (2, 3)
    with pytest.raises(InputError, match=r"no option 'topp', 'dpis'; the options are store, top, fraction, method, "
                                         r"shape, names, overwrite, dpi"):
        from_fields(Picks, {"store": "s", "topp": 1, "dpis": 2})
    with pytest.raises(OptionError, match=r"fraction must be in \(0, 1\), got 0"):
        from_fields(Picks, {"store": "s", "fraction": 0})
    with pytest.warns(VaearrDeprecationWarning, match=r"^vaearr.pick: n_top= is deprecated, use top="):
        assert from_fields(Picks, {"store": "s", "n_top": 9}, "vaearr.pick").top == 9
    with pytest.raises(InputError, match=r"k=7 is unlucky"):
        from_fields(Checked, {"k": 7})


def test_a_steps_parameters_are_the_positional_ones_then_keywords_with_defaults():
    params = keyword_parameters(Picks, ("store",), skip=("names",))
    assert [(p.name, p.kind) for p in params][:2] == [("store", inspect.Parameter.POSITIONAL_OR_KEYWORD),
                                                      ("top", inspect.Parameter.KEYWORD_ONLY)]
    assert params[0].default is inspect.Parameter.empty
    by_name = {p.name: p for p in params}
    assert by_name["top"].default == 5 and by_name["top"].annotation is int
    assert "names" not in by_name and "plain" not in by_name
    assert [p.name for p in keyword_parameters(Picks)][0] == "store"
    assert by_name["store"].annotation is str


def test_figure_formats_are_lower_case_each_once_in_order():
    assert FigureOptions(" PNG, .svg ,png,pdf").formats == ("png", "svg", "pdf")
    assert FigureOptions("svg", 72).check() == FigureOptions("svg", 72)


@pytest.mark.parametrize(("given", "said"), [
    ({"format": " , "}, r"format is empty; give png, svg or pdf"),
    ({"format": "png,gif"}, r"format 'gif' is not a figure format; give png, svg or pdf"),
    ({"dpi": 2.5}, r"dpi must be a whole number from 1 to 2400, got 2.5"),
    ({"dpi": True}, r"dpi must be a whole number from 1 to 2400, got True"),
    ({"dpi": 2401}, r"dpi must be in \[1, 2400\], got 2401"),
])
def test_bad_figure_options_are_one_line(given, said):
    with pytest.raises(OptionError, match=said):
        FigureOptions(**given).check()


def test_a_projection_centre_is_three_finite_numbers():
    assert parse_pc("0.4; 0.2,0.5") == (0.4, 0.2, 0.5)
    assert parse_pc([1, 2, 3]) == (1.0, 2.0, 3.0)
    with pytest.raises(OptionError, match=r"pc takes three numbers X,Y,Z, got '0.4,a,0.5'") as raised:
        parse_pc("0.4,a,0.5", Picks)
    assert raised.value.owner is Picks
    with pytest.raises(OptionError, match=r"pc takes three finite numbers X,Y,Z, got '0.4,0.5'"):
        parse_pc("0.4,0.5")
    with pytest.raises(OptionError, match=r"pc takes three finite numbers"):
        parse_pc("0.4,nan,0.5")


def test_the_store_word_or_none_asks_for_the_stores_projection_centre():
    assert given_pc(None, Picks) is None
    assert given_pc(" Store ", Picks) is None
    assert given_pc("0.5,0.5,0.6", Picks) == (0.5, 0.5, 0.6)
    with pytest.raises(OptionError, match=r"pc \(bruker\) is fractions of the detector in \[0, 1\] with Z > 0; got Y=1.5"):
        given_pc("0.5,1.5,0.6", Picks)


def test_projection_centre_conventions_are_checked_by_their_own_rules():
    check_pc((0.5, 0.5, 0.5), "tsl", None)
    check_pc((30.0, -12.0, 15000.0), "emsoft", 59.2)  # EMsoft: pixels from the centre and L in µm
    with pytest.raises(OptionError, match=r"pc_convention 'edax' is unknown; choose bruker, tsl, oxford, emsoft"):
        check_pc((0.5, 0.5, 0.5), "edax", None)
    with pytest.raises(OptionError, match=r"pc_convention emsoft gives L in µm: give the detector pixel size"):
        check_pc((0.0, 0.0, 15000.0), "emsoft", None)
    with pytest.raises(OptionError, match=r"pc L \(EMsoft detector distance, µm\) must be > 0, got 0"):
        check_pc((0.0, 0.0, 0.0), "emsoft", 59.2)
    with pytest.raises(OptionError, match=r"got Z=0$"):
        check_pc((0.5, 0.5, 0.0), "oxford", None)
    with pytest.raises(OptionError, match=r"got X=-0.1, Z=2$"):
        check_pc((-0.1, 0.5, 2.0), "bruker", None)


def test_options_of_a_dataclass_are_its_fields_metadata():
    f = {f.name: o for f, o in options(Picks)}
    assert f["top"].deprecated == ("--n-top",)
    assert f["store"].flags == ()
    assert dataclasses.fields(Picks)[-1].name == "plain"
