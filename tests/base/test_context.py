"""The run's context is passed down, never held by a global: vaearr.context (issue 40, point 1)."""

from __future__ import annotations

import ast
import pickle
from pathlib import Path

import numpy as np
import xarray as xr

from tests.helpers import cli
from vaearr.context import NO_CONTEXT, Context, context_of, with_context
from vaearr.options import FigureOptions
from vaearr.store import open_store, write_variable

REPO = Path(__file__).resolve().parents[2]


def _bc() -> xr.DataArray:
    grid = {"y": np.arange(4) * 0.5, "x": np.arange(6) * 0.5}
    return xr.DataArray(np.random.default_rng(0).random((4, 6)), dims=("y", "x"), coords=grid)


def test_a_store_ref_is_its_path_and_carries_its_context_through_pickling() -> None:
    ctx = Context(storage_options={"region": "eu"}, figures=FigureOptions("svg", 150), command="vaearr x s.zarr")
    ref = ctx.reading().store("s.zarr")
    assert ref == "s.zarr" and isinstance(ref, str) and {ref: 1}["s.zarr"] == 1 and f"{ref}" == "s.zarr"
    assert context_of(ref).command == "vaearr x s.zarr" and context_of(ref).snapshots == {}
    back = pickle.loads(pickle.dumps(ref))  # a dask worker, a spawned loader process
    assert back == "s.zarr" and context_of(back) == ctx and context_of(back).figures.formats == ("svg",)
    assert context_of("s.zarr") is NO_CONTEXT and context_of(Path("s.zarr")) is NO_CONTEXT
    assert with_context(Path("a/s.zarr"), ctx) == "a/s.zarr" and context_of(with_context(Path("s.zarr"), ctx)) == ctx
    assert with_context(None, ctx) is None and with_context(ref, NO_CONTEXT) is ref  # a ref keeps its own
    assert type(str(ref)) is str and context_of(str(ref)) is NO_CONTEXT


def test_the_command_recorded_is_the_one_the_store_was_named_with(tmp_path: Path) -> None:
    """Two writes in one process, one with a command's context and one without: each records what it was given
    (with a global, the second would have read whatever the first had set)."""
    store = tmp_path / "m.zarr"
    write_variable(Context(command="vaearr roi m.zarr --otsu").store(store), "bandcontrast", _bc())
    write_variable(store, "other", _bc())
    ds = open_store(store)
    assert ds["bandcontrast"].attrs["command"] == "vaearr roi m.zarr --otsu"
    assert "command" not in ds["other"].attrs  # a library call records no command line


def test_the_command_line_hands_its_context_to_the_store(tmp_path: Path, demo_store: Path) -> None:
    cli("roi", str(demo_store), "--otsu", "--name", "roi_ctx", "--overwrite")
    assert open_store(demo_store)["roi_ctx"].attrs["command"] == f"vaearr roi {demo_store} --otsu --name roi_ctx --overwrite"


def test_no_global_holds_the_run_outside_the_entry_point() -> None:
    """No ContextVar anywhere in the package or the flows, and sys.argv read only by ``vaearr.cli.main``."""
    for path in [*REPO.joinpath("vaearr").rglob("*.py"), *REPO.joinpath("flows").rglob("*.py")]:
        tree = ast.parse(path.read_text())
        names = {n.attr if isinstance(n, ast.Attribute) else n.id for n in ast.walk(tree)
                 if isinstance(n, ast.Attribute | ast.Name)}
        assert "ContextVar" not in names, path
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "argv":
                assert path == REPO / "vaearr" / "cli" / "__init__.py", path
    main = ast.parse((REPO / "vaearr" / "cli" / "__init__.py").read_text())
    uses = [f.name for f in ast.walk(main) if isinstance(f, ast.FunctionDef)
            and any(isinstance(n, ast.Attribute) and n.attr == "argv" for n in ast.walk(f))]
    assert uses == ["main"]
