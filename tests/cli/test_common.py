"""vaearr.cli.common: what every command shares: the run options taken anywhere on a line, old spellings made new,
a flag given a value, the help's words, the commands' order, and the ``--out`` parameter. Each command's own
behaviour is in the tests of its library module; the walk over every command's vocabulary is
tests/cli/test_vocabulary.py."""

from __future__ import annotations

import inspect
import typing
from pathlib import Path
from typing import Annotated, Optional

import click
import pytest
import typer

import vaearr.cli  # noqa: F401 - registers every command on the app
from vaearr.cli.common import (
    ARGUMENT,
    ORDER,
    Invocation,
    StoreArg,
    app,
    as_typed,
    command_class,
    command_name,
    flag_given_a_value,
    invocation,
    modern_args,
    out_parameter,
    renamed_flags,
    storage_options,
    take_run_options,
    usage_pieces,
)
from vaearr.errors import InputError
from vaearr.interface import Renamed


@pytest.fixture(scope="module")
def root() -> click.Group:
    return typer.main.get_command(app)


def test_run_options_are_taken_anywhere_but_after_a_double_dash():
    run = Invocation()
    rest = take_run_options(["a.zarr", "--debug", "--storage-option", "region = eu", "--k", "3",
                             "--storage-option=anon=1", "--", "--debug", "--storage-option"], run)
    assert rest == ["a.zarr", "--k", "3", "--", "--debug", "--storage-option"]
    assert run.debug and run.storage_options == {"region": " eu", "anon": "1"}
    with pytest.raises(InputError, match=r"--storage-option takes key=value, got ''"):
        take_run_options(["--storage-option"], Invocation())  # the value missing at the end


@pytest.mark.parametrize("item", ["region", "=eu", " =eu"])
def test_a_storage_option_that_is_not_key_value_is_one_line(item):
    with pytest.raises(InputError, match=rf"--storage-option takes key=value, got '{item}'"):
        storage_options([item])
    assert storage_options(["endpoint_url=http://h:9000/?a=b"]) == {"endpoint_url": "http://h:9000/?a=b"}


def test_a_lines_context_is_made_once_with_its_storage_options_and_command():
    run = Invocation(command="vaearr info s3://b/x.zarr", storage_options={"anon": "1"})
    context = run.context()
    assert context is run.context()
    assert context.storage_options == {"anon": "1"} and context.command == "vaearr info s3://b/x.zarr"


@pytest.mark.parametrize(("args", "out", "used"), [
    (["s.zarr", "--features", "pca", "--k", "2"], ["s.zarr", "--var", "pca", "--k", "2"], ["--features"]),
    (["--store", "s.zarr", "--k=2"], ["--k=2", "s.zarr"], ["--store"]),
    (["--store=s.zarr", "--features=a", "--features=b"], ["--var=a", "--var=b", "s.zarr"], ["--store", "--features"]),
    (["s.zarr", "--", "--features"], ["s.zarr", "--", "--features"], []),
    (["-s", "s.zarr", "--var", "x"], ["--var", "x", "s.zarr"], ["-s"]),
])
def test_old_spellings_become_the_new_ones_and_the_old_store_option_the_argument(args, out, used):
    assert modern_args(args, {"--features": "--var", "--store": ARGUMENT, "-s": ARGUMENT}) == (out, used)


def _old_spellings(store: StoreArg,
                   top: Annotated[int, typer.Option("--top", "-t"), Renamed("--n-top")] = 3,
                   plain: Annotated[int, typer.Option(), Renamed("--simple", "--plainly")] = 0,
                   switch: Annotated[bool, typer.Option("--switch/--no-switch"), Renamed("--toggle")] = False,
                   untouched: Optional[int] = None) -> None:
    """A command written by hand with old spellings."""


def test_old_spellings_declared_on_parameters_name_their_new_flags():
    assert renamed_flags(_old_spellings) == {"--store": ARGUMENT, "-s": ARGUMENT, "--n-top": "--top",
                                             "--simple": "--plain", "--plainly": "--plain", "--toggle": "--switch"}
    cls = command_class(_old_spellings)
    assert cls.renamed == renamed_flags(_old_spellings) and cls.__mro__[1].__name__ == "Command"


def _params(root: click.Group, *path: str) -> tuple[click.Command, click.Context]:
    group, ctx = root, click.Context(root, info_name="vaearr")
    for name in path:
        group = group.commands[name]
        ctx = click.Context(group, info_name=name, parent=ctx)
    return group, ctx


def test_a_flag_given_a_value_is_one_line_saying_how_to_write_it(root):
    encode, ctx = _params(root, "encode")
    params = encode.get_params(ctx)
    said = flag_given_a_value(params, ["s.zarr", "--overwrite", "true"])
    assert said == ("--overwrite is a flag and takes no value (got 'true'): write --overwrite alone to turn it on, "
                    "and leave it out to turn it off")
    said = flag_given_a_value(params, ["s.zarr", "--recon-error=no"])
    assert said == ("--recon-error is a flag and takes no value (got 'no'): write --recon-error alone to turn it on, "
                    "and --no-recon-error to turn it off")
    assert flag_given_a_value(params, ["s.zarr", "--overwrite", "--name", "z"]) is None
    assert flag_given_a_value(params, ["s.zarr", "--overwrite", "later.zarr"]) is None  # not a yes or no word
    assert flag_given_a_value(params, ["s.zarr", "--", "--overwrite", "yes"]) is None


def test_help_shows_arguments_in_capitals_and_flags_alone(root):
    encode, ctx = _params(root, "encode")
    params = {p.name: p for p in encode.get_params(ctx)}
    assert params["store"].metavar == "STORE" and params["overwrite"].metavar == ""
    pieces = usage_pieces(encode, ctx)
    assert pieces == ["[OPTIONS]", "STORE"]
    several, ctx = _params(root, "ingest", "nifti")
    assert usage_pieces(several, ctx)[-2:] == ["SRC...", "STORE"]
    option = click.Option(["--k"], type=int)
    assert as_typed(option) is option and option.metavar is None  # an option with a value keeps its own


def test_a_commands_name_is_as_a_user_types_it(root):
    _, ctx = _params(root, "ingest", "ebsd")
    assert command_name(ctx) == "vaearr ingest ebsd"
    assert command_name(click.Context(root, info_name="python -m vaearr")) == "vaearr"


def test_commands_are_listed_in_the_order_of_the_path_and_new_ones_after(root):
    names = root.list_commands(click.Context(root))
    assert names[:len(ORDER)] == [n for n in ORDER if n in names]
    assert names[0] == "ingest" and names.index("train") < names.index("encode") < names.index("report")
    assert set(names) >= set(ORDER)


def test_a_context_without_an_invocation_gets_one(root):
    ctx = click.Context(root, info_name="vaearr")
    made = invocation(ctx)
    assert isinstance(made, Invocation) and invocation(click.Context(root, parent=ctx)) is made


def test_the_out_parameter_takes_its_old_spellings():
    p = out_parameter("Where.", old=("--figures", "--folder"))
    assert (p.name, p.kind, p.default) == ("out", inspect.Parameter.KEYWORD_ONLY, None)
    meta = typing.get_args(p.annotation)
    assert meta[0] == Optional[Path] and meta[2].flags == ("--figures", "--folder")
    assert meta[1].default == "--out" and meta[1].help == "Where."

