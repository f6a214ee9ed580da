"""``--help`` in the words a user types: every command's usage line names its arguments as typed (``STORE``, not
``{store}``), an on/off flag shows as a flag (``--overwrite``, ``--tensorboard / --no-tensorboard``, never
``--overwrite <bool>``), and the command line parses what the help shows: a flag given a value, or an option
misspelt, is one line saying what to type."""

from __future__ import annotations

import re

import pytest
import typer

from tests.helpers import assert_one_line_error, cli

WIDE = {"COLUMNS": "200", "TERMINAL_WIDTH": "200"}
#: rich's colours, which a terminal would show
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def every_command() -> dict[str, typer.core.TyperCommand]:
    """Every command and group of the app by the words a user types (``""`` the app itself, ``ingest``,
    ``ingest ebsd``, ``segment``…)."""
    from vaearr.cli import app

    root = typer.main.get_command(app)
    out: dict[str, typer.core.TyperCommand] = {"": root}
    for name, cmd in root.commands.items():
        out[name] = cmd
        for sub, leaf in (getattr(cmd, "commands", None) or {}).items():
            out[f"{name} {sub}"] = leaf
    return out


COMMANDS = every_command()


def test_the_walk_finds_every_command() -> None:
    assert {"", "ingest", "ingest ebsd", "ingest nifti", "segment", "export", "train", "demo"} <= set(COMMANDS)
    assert len(COMMANDS) >= 31  # the app, 24 commands with the ingest group, ingest's 6 kinds


@pytest.mark.parametrize("words", sorted(COMMANDS))
def test_help_shows_arguments_as_typed_and_flags_as_flags(words: str) -> None:
    """For each command: the usage line lists each argument in capitals (``[STORE]`` where it may be left out,
    ``SRC...`` for several) and no ``{…}``; no ``<bool>`` anywhere; each flag's row is the flag (and its off flag)
    with nothing after it but its help."""
    command = COMMANDS[words]
    proc = cli(*words.split(), "--help", env=WIDE)
    assert proc.returncode == 0, proc.stderr
    text = ANSI.sub("", proc.stdout)
    usage = next(line for line in text.splitlines() if "Usage:" in line).split("Usage:", 1)[1].split()
    assert usage[:len(words.split()) + 1] == ["vaearr", *words.split()], usage
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    shown = [(p.name.upper() if p.required else f"[{p.name.upper()}]") + ("..." if p.nargs != 1 else "")
             for p in arguments]
    assert [w for w in usage if w.strip("[].").isupper() and w != "[OPTIONS]"][:len(shown)] == shown, usage
    assert "{" not in " ".join(usage) and "<bool>" not in text, text
    for p in command.params:
        if getattr(p, "is_flag", False):
            row = next(line for line in text.splitlines() if re.search(rf"(?<![\w-]){re.escape(p.opts[0])}(?![\w-])", line))
            after = row.split(p.opts[0], 1)[1].strip(" │*")
            if p.secondary_opts:  # the off flag beside it, then the help
                assert after.startswith(p.secondary_opts[0]), row
                after = after[len(p.secondary_opts[0]):].strip(" │")
            assert not after.startswith("<"), row  # no value: the help follows


def test_help_of_segment_reads_as_a_user_types_it() -> None:
    """One command's help as a whole: ``vaearr segment [OPTIONS] STORE``, ``--overwrite`` a flag."""
    text = ANSI.sub("", cli("segment", "--help", env=WIDE).stdout)
    assert re.search(r"Usage: vaearr segment \[OPTIONS\] STORE\s*$", text, re.M), text
    assert re.search(r"│ --overwrite\s+Replace the variables if they exist\.", text), text
    train = ANSI.sub("", cli("train", "--help", env=WIDE).stdout)
    assert re.search(r"--tensorboard\s+--no-tensorboard\s+Write TensorBoard", train), train


@pytest.mark.parametrize("given", [["--overwrite", "true"], ["--overwrite=yes"], ["--overwrite", "False"]])
def test_a_flag_given_a_value_is_one_line_saying_to_give_it_alone(tmp_path, given: list[str]) -> None:
    """``--overwrite true`` is refused before any work (exit 2), saying the flag takes no value: the help shows it as a
    flag and the command line parses it as one."""
    proc = cli("export", tmp_path / "s.zarr", "--out", tmp_path / "x.ang", *given)
    assert_one_line_error(proc.returncode, proc.stderr, "vaearr export: --overwrite is a flag and takes no value",
                          "write --overwrite alone to turn it on, and leave it out to turn it off")
    proc = cli("train", tmp_path / "s.zarr", "--tensorboard", "no")
    assert_one_line_error(proc.returncode, proc.stderr, "--tensorboard is a flag and takes no value (got 'no')",
                          "and --no-tensorboard to turn it off")
    assert not (tmp_path / "x.ang").exists() and not (tmp_path / "s.zarr").exists()


def test_a_flag_alone_still_parses(demo_store, tmp_path) -> None:
    """The flag alone is what the help shows, and what runs: a second export with ``--overwrite`` replaces the file."""
    out = tmp_path / "bc.csv"
    cli("export", demo_store, "--out", out, "--vars", "bandcontrast", check=True)
    proc = cli("export", demo_store, "--out", out, "--vars", "bandcontrast", "--overwrite")
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().splitlines()[0].startswith("x,y")


@pytest.mark.parametrize("line, said", [
    (["export", "s.zarr", "--out", "x.ang", "--overwrit"], "vaearr export: no option --overwrit; did you mean --overwrite?"),
    (["segment", "s.zarr", "--min-sise", "3"], "vaearr segment: no option --min-sise; did you mean --min-size?"),
    (["ingest", "ebsd", "a.h5", "s.zarr", "--datset", "p"], "vaearr ingest ebsd: no option --datset; did you mean --dataset?"),
    (["--verson"], "vaearr: no option --verson; did you mean --version?"),
    (["export", "s.zarr", "--zzzzzz"], "vaearr export: no option --zzzzzz; 'vaearr export --help' lists the options"),
])
def test_a_misspelt_option_is_answered_with_the_closest(tmp_path, line: list[str], said: str) -> None:
    proc = cli(*line, cwd=tmp_path)
    assert_one_line_error(proc.returncode, proc.stderr, said)
    assert proc.stderr.strip() == f"error: {said}"
