"""A typed surface (issue 62): ``help(vaearr.segment)`` and a notebook's completion list every option of a step with
its type and default (its run-time signature, made from the options dataclass), and a type checker reads the same
in ``vaearr/__init__.pyi`` and ``vaearr/_steps.pyi``, written from those signatures by ``python -m tools.stubs``: ``mypy --strict`` refuses a
user's script that misspells an option or gives it the wrong type."""

from __future__ import annotations

import ast
import inspect
import os
import pydoc
import subprocess
import sys
from pathlib import Path

import pytest

import vaearr
from tools import stubs

REPO = Path(__file__).resolve().parents[2]


def test_the_stub_is_what_the_signatures_say() -> None:
    """``vaearr/__init__.pyi`` and ``vaearr/_steps.pyi`` are the text ``python -m tools.stubs`` writes now (an option
    added to a dataclass and not to the stub fails here); the first declares every name ``vaearr`` exports, each step
    imported from the second, which defines every step."""
    for path, text in stubs.stubs().items():
        assert path.read_text() == text, f"run python -m tools.stubs ({path.name})"
    tree = ast.parse(stubs.STUB.read_text())
    assert not [n for n in tree.body if isinstance(n, ast.FunctionDef)]  # griffe: a definition would hide vaearr.train
    imported = {a.asname or a.name: n.module for n in tree.body if isinstance(n, ast.ImportFrom) for a in n.names}
    assert set(vaearr.__all__) | set(vaearr.STEPS) <= set(imported), sorted(set(vaearr.__all__) - set(imported))
    assert {s for s in vaearr.STEPS if s != "open"} == {k for k, m in imported.items() if m == "vaearr._steps"}
    defined = {n.name for n in ast.parse(stubs.STEPS_STUB.read_text()).body if isinstance(n, ast.FunctionDef)}
    assert defined == set(vaearr.STEPS) - {"open"}


def test_the_stub_says_each_option_with_its_type_and_default() -> None:
    """The stub of ``segment`` and ``train`` lists the options of their dataclasses as keywords, with their defaults."""
    from vaearr.maps.options import SegmentOptions
    from vaearr.options import declared
    from vaearr.train import TrainConfig

    tree = {n.name: n for n in ast.parse(stubs.STEPS_STUB.read_text()).body if isinstance(n, ast.FunctionDef)}
    for step, cls, own in (("segment", SegmentOptions, {"store"}), ("train", TrainConfig, {"store", "run"})):
        args = tree[step].args
        keywords = {a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults)}
        assert [a.arg for a in args.args] == [d.name for d in declared(cls) if d.name in own]
        assert {d.name for d in declared(cls)} - own <= set(keywords)
        for d in declared(cls):
            if d.name in keywords and not (isinstance(keywords[d.name], ast.Constant) and keywords[d.name].value is ...):
                assert ast.literal_eval(keywords[d.name]) == d.default, (step, d.name)  # `...`: not a plain literal


def test_help_shows_every_option_with_its_type_and_default() -> None:
    text = pydoc.render_doc(vaearr.segment, renderer=pydoc.plaintext)
    assert "grain_angle: float = 2.0" in text and "min_size: int | None = None" in text and "-> xarray" in text
    sig = inspect.signature(vaearr.train)
    assert sig.parameters["epochs"].annotation is int and sig.parameters["epochs"].default == 10
    assert sig.return_annotation is Path


@pytest.mark.slow  # mypy reads xarray's and numpy's types first: 30-60 s on a fresh cache, under a second after
def test_mypy_strict_refuses_a_misspelt_option(tmp_path: Path) -> None:
    """``mypy --strict`` on a user's script (vaearr found as an installed package is: its own errors silent) passes
    the steps called with their options and fails a misspelt one or one of the wrong type."""
    pytest.importorskip("mypy", reason="needs mypy (the dev extra)")
    good, bad = tmp_path / "good.py", tmp_path / "bad.py"
    good.write_text("from pathlib import Path\n\nimport vaearr\n\n"
                    "run: Path = vaearr.train('s.zarr', 'runs/x', epochs=3, latent_dim=4, model_options={'a': 1})\n"
                    "latent = vaearr.encode('s.zarr', run, recon_error=False, out='maps')\n"
                    "print(vaearr.segment('s.zarr', var='latent', grain_angle=2.0, out=Path('seg')).data_vars)\n"
                    "ds = vaearr.ingest('map.h5', 's.zarr', scan_shape=(4, 5), quiet=True)\n"
                    "images = vaearr.ingest('folder', 'i.zarr', kind='images', size=64)\n")
    bad.write_text("import vaearr\n\nvaearr.train('s.zarr', 'runs/x', epoch=3)\n"
                   "vaearr.segment('s.zarr', grain_angel=2.0)\nvaearr.segment('s.zarr', min_size='5')\n"
                   "vaearr.ingest('folder', 'i.zarr', kind='images', dataset='x')\n")
    for script, expected in ((good, 0), (bad, 1)):
        proc = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
                               "--cache-dir", str(tmp_path / "cache"), str(script)], capture_output=True, text=True,
                              env={**os.environ, "MYPYPATH": str(REPO)}, cwd=tmp_path)
        assert proc.returncode == expected, proc.stdout + proc.stderr
    assert 'Unexpected keyword argument "epoch" for "train"; did you mean "epochs"?' in proc.stdout
    assert 'Unexpected keyword argument "grain_angel" for "segment"' in proc.stdout
    assert 'Argument "min_size" to "segment" has incompatible type "str"; expected "int | None"' in proc.stdout
    assert 'No overload variant of "ingest" matches' in proc.stdout  # images take no `dataset`
