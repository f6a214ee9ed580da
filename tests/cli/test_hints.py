"""Errors that say the next step: a store lacking what a command needs names the command that makes it, a misspelt
variable gets ``did you mean``, and every such line is worded in one place (:func:`vaearr.store.schema.no_variable`),
whose advice is a command line that parses."""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest
import typer

from tests.helpers import assert_one_line_error, cli, tree_hash
from vaearr.errors import InputError
from vaearr.store.schema import MADE_BY, MADE_BY_ENDING, made_by, no_variable

#: a command line given as advice: 'vaearr …' in quotes
ADVICE = re.compile(r"'(vaearr [^']+)'")


def app_commands() -> dict[str, typer.core.TyperCommand]:
    from vaearr.cli import app

    root = typer.main.get_command(app)
    out = {}
    for name, cmd in root.commands.items():
        for sub, leaf in (getattr(cmd, "commands", None) or {"": cmd}).items():
            out[f"{name} {sub}".strip()] = leaf
    return out


def test_every_command_line_given_as_advice_is_one_a_user_can_type() -> None:
    """Each command line the hints name is a command of the app, with options it has and as many arguments as it
    takes: advice that does not parse would be a second error."""
    commands = app_commands()
    lines = {line for text in [*MADE_BY.values(), *(c for _, c in MADE_BY_ENDING), made_by("cluster_x") or ""]
             for line in ADVICE.findall(text)}
    assert len(lines) >= 15, lines
    for line in sorted(lines):
        words = shlex.split(line)[1:]
        name = next(n for n in sorted(commands, key=len, reverse=True) if words[:len(n.split())] == n.split())
        command, rest = commands[name], words[len(name.split()):]
        options = {o for p in command.params for o in [*getattr(p, "opts", ()), *getattr(p, "secondary_opts", ())]
                   if p.param_type_name == "option"}
        flags = [w for w in rest if w.startswith("--")]
        assert set(flags) <= options, (line, set(flags) - options)
        arguments = [p for p in command.params if p.param_type_name == "argument"]
        values = {i + 1 for i, w in enumerate(rest) if w in options and not next(
            p for p in command.params if w in getattr(p, "opts", ())).is_flag}
        positional = [w for i, w in enumerate(rest) if not w.startswith("--") and i not in values]
        assert sum(p.required for p in arguments) <= len(positional) <= len(arguments) or any(
            p.nargs == -1 for p in arguments), (line, positional)


def test_the_line_for_a_missing_variable() -> None:
    """Close to a name the store has: did you mean it; a name a command writes: that command; else the names there."""
    assert no_variable("rois", ["roi", "patterns"], kind="mask variable") == \
        "no mask variable 'rois' in the store; did you mean 'roi'?"
    assert no_variable("latent", ["patterns"]) == "no variable 'latent' in the store; run 'vaearr encode STORE --run RUN' first"
    assert no_variable("seg", ["grain_id"], made="'vaearr segment STORE --name seg'").endswith(
        "run 'vaearr segment STORE --name seg' first")
    many = no_variable("x", [f"map_{i:02d}" for i in range(39)])
    assert "map_00, map_01" in many and "map_12" not in many and "and 27 more: 'vaearr info STORE' lists them" in many
    assert made_by("orientation_ipf") == made_by("hough_kam") == "'vaearr orientation-maps STORE'"
    assert "vaearr decompose" in made_by("pca_weights") and made_by("mine") is None


def test_export_of_a_store_without_orientations_names_index(demo_store: Path, tmp_path: Path) -> None:
    """``vaearr export … .ang`` on a store of patterns: one line naming the command that makes orientations."""
    before = tree_hash(demo_store)
    proc = cli("export", demo_store, "--out", tmp_path / "map.ang")
    assert_one_line_error(proc.returncode, proc.stderr, f"{demo_store}: no orientation variable 'orientation' in the store",
                          "run 'vaearr index STORE --phase PHASE --pc X,Y,Z'", "'vaearr ingest orientations FILE STORE'")
    assert not (tmp_path / "map.ang").exists() and tree_hash(demo_store) == before
    proc = cli("orientation-maps", demo_store)
    assert_one_line_error(proc.returncode, proc.stderr, "no orientation variable 'orientation'", "'vaearr index STORE")
    proc = cli("rank", demo_store, "--out", tmp_path / "r")
    assert_one_line_error(proc.returncode, proc.stderr, "no latent variable 'latent' in the store; "
                                                        "run 'vaearr encode STORE --run RUN' first")


def test_a_misspelt_variable_gets_did_you_mean(demo_store: Path, tmp_path: Path) -> None:
    """On the command line (a mask, a CSV column, a threshold's map) and in a notebook (``ds.vaearr``)."""
    import vaearr

    before = tree_hash(demo_store)
    proc = cli("segment", demo_store, "--var", "bandcontrast", "--mask", "rois")
    assert_one_line_error(proc.returncode, proc.stderr, "no mask variable 'rois' in the store; did you mean 'roi'?")
    proc = cli("export", demo_store, "--out", tmp_path / "t.csv", "--vars", "bandcontrst")
    assert_one_line_error(proc.returncode, proc.stderr, "no variable 'bandcontrst' in the store; did you mean "
                                                        "'bandcontrast'?")
    proc = cli("roi", demo_store, "--var", "bandcontrat", "--otsu", "--name", "r2")
    assert_one_line_error(proc.returncode, proc.stderr, "did you mean 'bandcontrast'?")
    assert tree_hash(demo_store) == before and not (tmp_path / "t.csv").exists()
    ds = vaearr.open(demo_store)
    with pytest.raises(InputError, match=r"no variable 'elemnts' in the store; did you mean 'elements'\?$"):
        ds.vaearr.map("elemnts")


def test_every_line_for_a_missing_variable_is_worded_in_one_place() -> None:
    """No message of the library words ``no … variable '{name}'`` itself: each goes through ``no_variable`` (one
    wording, did you mean, the command that makes it). references.py names two variables (a method's map or its
    weights) and says the decompose command itself."""
    import vaearr

    root = Path(vaearr.__file__).parent
    own = re.compile(r"\bno (\w+ )?(variable|mask|map) '\{\}'(?! or)")
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.relative_to(root).as_posix() == "store/schema.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.JoinedStr):
                text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
                if own.search(text):
                    found.append(f"{path.relative_to(root)}:{node.lineno}: {text[:60]}")
    assert not found, "\n".join(found)
