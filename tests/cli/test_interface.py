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
from vaearr.interface import (
    Flag,
    Renamed,
    command_flags,
    flagged,
    flow_parameters,
    in_flags,
    reworded,
    typer_parameters,
    warnings_in_flags,
    with_figure_options,
)
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


def test_a_keyword_in_a_message_reads_as_the_commands_flag() -> None:
    flags = {"sample_tilt": Flag("--tilt"), "tensorboard": Flag("--tensorboard/--no-tensorboard"), "store": Flag("STORE")}
    said = in_flags("`sample_tilt` off; `mask='none'`; `tensorboard=False`; `overwrite=True`; `window='a b'`; "
                    "`k=3`; `with_var=None`; `store`; not code: `a-b`", flags)
    assert said == "--tilt off; --mask none; --no-tensorboard; --overwrite; --window 'a b'; --k 3; --with-var none; STORE; not code: `a-b`"


def test_a_warning_inside_a_command_says_its_flags_and_the_display_is_put_back() -> None:
    import warnings

    seen: list[str] = []
    before = warnings.showwarning
    warnings.showwarning = lambda message, *args, **kw: seen.append(str(message))
    try:
        with warnings_in_flags({"kl_warmup_epochs": Flag("--kl-warmup")}):
            warnings.simplefilter("always")
            warnings.warn("what may help: `kl_warmup_epochs=5` or `kl_cycles=4`", UserWarning, stacklevel=1)
        assert seen == ["what may help: --kl-warmup 5 or --kl-cycles 4"]
        assert warnings.showwarning is not before and warnings.showwarning.__name__ == "<lambda>"
    finally:
        warnings.showwarning = before


def test_a_click_commands_parameters_give_their_flags() -> None:
    import typer
    from typer.main import get_command

    app = typer.Typer(add_completion=False)

    @app.command()
    def one(store: str, sample_tilt: float = typer.Option(70.0, "--tilt"),
            tensorboard: bool = typer.Option(True, "--tensorboard/--no-tensorboard")) -> None:
        """One command."""

    flags = command_flags(get_command(app).params)
    assert flags == {"store": Flag("STORE"), "sample_tilt": Flag("--tilt"), "tensorboard": Flag("--tensorboard", "--no-tensorboard")}


def test_a_library_error_says_the_keyword_and_the_command_line_the_flag(demo_store) -> None:
    """The demo store has a mask 'roi' already: the library asks for the keyword, the command line for the flag;
    the error keeps its type (a StoreError) and its exit status."""
    from tests.helpers import cli
    from vaearr.errors import StoreError
    from vaearr.maps.roi.roi import create_roi

    with pytest.raises(StoreError) as err:
        create_roi(demo_store, otsu=True)
    assert "pass `overwrite=True`" in str(err.value) and "--" not in str(err.value)
    proc = cli("roi", demo_store, "--otsu")
    assert proc.returncode == 2 and "pass --overwrite" in proc.stderr and "`" not in proc.stderr, proc.stderr
    assert reworded(err.value, {}) is err.value and "pass --overwrite" in str(err.value)


def test_no_message_of_the_library_spells_a_flag() -> None:
    """Below the interface floor a message names options as keywords (`overwrite=True`): every string of the
    library's code is read — errors, warnings, printed lines, notes kept in attrs, help; an f-string as a whole, its
    fields as ``{}``. A flag may appear only where it is declared (``opt(..., flags=..., deprecated=...)``), in a
    docstring, or in advice that is a whole other command line ('vaearr segment STORE --name x')."""
    import ast
    import re
    from pathlib import Path

    import vaearr

    root = Path(vaearr.__file__).parent
    flag, command = re.compile(r"(?<![\w-])--[a-z]"), re.compile(r"vaearr [a-z][a-z-]*( [^'\"()]*)?")
    floor = ("cli", "interface.py", "api.py", "api", "demo.py")

    def text(node: ast.AST) -> str:
        if isinstance(node, ast.JoinedStr):
            return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
        return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else ""

    found = []
    for path in sorted(root.rglob("*.py")):
        if path.relative_to(root).parts[0] in floor:
            continue
        tree = ast.parse(path.read_text())
        skip: set[int] = set()
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
                skip.add(id(body[0].value))  # a docstring describes the command line
            if isinstance(node, ast.keyword) and node.arg in ("flags", "deprecated"):
                skip.update(id(n) for n in ast.walk(node.value))  # where a flag is declared
            if isinstance(node, ast.JoinedStr):
                skip.update(id(v) for v in node.values)  # read as a whole
        for node in ast.walk(tree):
            said = "" if id(node) in skip else text(node)
            if said and flag.search(command.sub("", said)):
                found.append(f"{path.relative_to(root)}:{node.lineno}: {said[:60]}")
    assert not found, "\n".join(sorted(set(found)))


def test_a_command_run_in_process_leaves_the_warning_filters_as_they_were(capsys: pytest.CaptureFixture[str]) -> None:
    """``vaearr.cli.execute`` prints warnings as one line and hides other libraries' chatter while it runs, and only
    then: the caller's filters and display (a notebook's, a test's) are as they were after it (issue 62)."""
    import warnings

    from vaearr.cli import execute

    with warnings.catch_warnings():
        warnings.resetwarnings()
        filters, shown = list(warnings.filters), warnings.showwarning
        with pytest.raises(SystemExit):
            execute(["no-such-command"])
        assert warnings.filters == filters and warnings.showwarning is shown
    assert "no-such-command" in capsys.readouterr().err
