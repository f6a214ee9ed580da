"""The one adapter between options dataclasses and the interfaces (vaearr.interface, issue 40 point 1): a field
declared once reaches the command line, the flow and the Python step."""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass
from typing import Any

import pytest
from typer.models import ArgumentInfo, OptionInfo

from vaearr.errors import OptionError
from vaearr.interface import Renamed, flagged, flow_parameters, typer_parameters, with_figure_options
from vaearr.options import DEFAULT_FIGURES, FigureOptions, check_declared, keyword_signature, opt


@dataclass
class Toy:
    """An options dataclass as a newcomer writes one: a positional store and two options."""

    store: str = opt(help="The store.", flags=())
    k: int = opt(3, "Clusters.", min=2)
    new_option: float | None = opt(None, "An option added by editing one field.", deprecated=("--old-option",))


def _meta(p: inspect.Parameter) -> tuple[Any, ...]:
    return typing.get_args(p.annotation)[1:]


def test_one_field_reaches_the_command_line_the_flow_and_the_python_step() -> None:
    cli = {p.name: p for p in typer_parameters(Toy)}
    assert list(cli) == ["store", "k", "new_option"]
    assert isinstance(_meta(cli["store"])[0], ArgumentInfo) and cli["store"].default is inspect.Parameter.empty
    option = next(m for m in _meta(cli["new_option"]) if isinstance(m, OptionInfo))
    assert option.default == "--new-option" and option.help == "An option added by editing one field."
    assert next(m for m in _meta(cli["new_option"]) if isinstance(m, Renamed)).flags == ("--old-option",)
    assert cli["k"].default == 3
    flow = {p.name: p for p in flow_parameters(Toy)}
    assert list(flow) == ["store", "k", "new_option"]
    assert flow["new_option"].default is None and flow["new_option"].annotation == (float | None)
    assert flow["k"].annotation is int and flow["store"].default is inspect.Parameter.empty  # required
    step = inspect.Signature(keyword_signature(Toy, ("store",)).parameters.values())
    assert list(step.parameters) == ["store", "k", "new_option"] and step.parameters["k"].default == 3


def test_the_library_says_the_field_and_the_command_line_the_flag() -> None:
    with pytest.raises(OptionError) as err:
        check_declared(Toy(store="s.zarr", k=1))
    assert str(err.value).endswith("k must be at least 2, got 1")
    assert str(flagged(err.value)) == "--k must be at least 2, got 1"


def test_figure_options_are_added_one_way_to_a_command_and_a_flow() -> None:
    got: dict[str, Any] = {}

    def command(store: str, figure_options: FigureOptions = DEFAULT_FIGURES) -> None:
        got["command"] = figure_options

    def body(**params: Any) -> None:
        got["flow"] = params.pop("figure_options")

    asked: list[dict] = []
    cli = with_figure_options(command, typer_parameters, before=asked.append)
    flow = with_figure_options(body, flow_parameters)
    assert list(inspect.signature(cli).parameters) == ["store", "format", "dpi"]  # figure_options is not a flag
    assert list(inspect.signature(flow).parameters)[-3:] == ["format", "dpi", "params"]
    cli(store="s.zarr", format="svg,png", dpi=150)
    flow(store="s.zarr", format="pdf", dpi=600)
    assert got["command"] == FigureOptions("svg,png", 150) and got["flow"] == FigureOptions("pdf", 600)
    assert asked == [{"store": "s.zarr"}]
    with pytest.raises(OptionError, match="format 'gif' is not a figure format"):  # checked before any work
        flow(store="s.zarr", format="gif", dpi=300)
    assert got["flow"] == FigureOptions("pdf", 600)


@pytest.mark.parametrize("cls, fields, said", [
    ("SegmentOptions", dict(min_contrast=2.0), "min_contrast must be in [0, 1), got 2"),
    ("SegmentOptions", dict(name="../x"), "name '../x' is not a safe name"),
    ("SpreadOptions", dict(regions="a/b"), "regions 'a/b' is not a safe name"),
    ("DecomposeOptions", dict(components=0), "components must be at least 1, got 0"),
])
def test_options_errors_name_the_field_and_the_command_line_says_the_flag(cls, fields, said) -> None:
    from vaearr.maps import options as maps_options

    with pytest.raises(OptionError) as err:
        getattr(maps_options, cls)(store="s.zarr", **fields).check()
    assert str(err.value).startswith(said) and "--" not in str(err.value)
    field = next(iter(fields))
    assert str(flagged(err.value)).startswith(f"--{field.replace('_', '-')} {said.split(' ', 1)[1]}")
