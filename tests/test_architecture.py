"""The architecture, checked: import-linter's contracts (layers, no cycles, private names), ruff's import rules, ARCHITECTURE.md."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path, config: Path | None = None) -> subprocess.CompletedProcess:
    if not LINT.exists() and shutil.which("lint-imports") is None:
        pytest.skip("needs import-linter (the 'dev' extra)")
    cmd = [str(LINT if LINT.exists() else "lint-imports"), "--no-cache"]
    if config is not None:
        cmd += ["--config", str(config)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(cwd), str(ROOT)])}
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def test_import_contracts_are_kept() -> None:
    proc = _lint(ROOT)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "Contracts: 5 kept, 0 broken" in proc.stdout


def test_the_private_imports_contract_catches_what_it_forbids(tmp_path: Path) -> None:
    # a package that imports another module's private name and a private module: ruff (PLC2701) lets both pass
    # within one package, the contract names both
    pkg = tmp_path / "badpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("_secret = 1\n\n\ndef public():\n    return 2\n")
    (pkg / "_hidden.py").write_text("thing = 3\n")
    (pkg / "b.py").write_text(textwrap.dedent("""
        import badpkg._hidden
        from badpkg.a import _secret, public


        def f():
            return badpkg._hidden.thing, _secret, public
    """))
    config = tmp_path / "contracts.toml"
    config.write_text(textwrap.dedent("""
        [tool.importlinter]
        root_packages = ["badpkg"]
        contract_types = ["private_imports: tests.contracts.PrivateImportsContract"]

        [[tool.importlinter.contracts]]
        name = "private"
        type = "private_imports"
        packages = ["badpkg"]
    """))
    proc = _lint(tmp_path, config)
    assert proc.returncode != 0
    out = " ".join(proc.stdout.split())
    assert "imports the private name badpkg.a._secret" in out
    assert "imports the private module badpkg._hidden" in out
    assert "badpkg.a.public" not in out


def test_ruff_holds_the_house_import_rules(tmp_path: Path) -> None:
    """pyproject's ruff rules catch what tests/contracts.py used to: an import in a function that is not of an
    optional extra (PLC0415), a private member of a module (SLF001), another package's private name (PLC2701);
    and an optional extra imported at a module's top (TID253)."""
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("needs ruff (the 'dev' extra)")
    module = tmp_path / "m.py"
    module.write_text(textwrap.dedent("""
        import holoviews
        from numpy import _core
        from vaearr import files


        def f():
            import json

            import bokeh

            return json, bokeh, files._private, holoviews, _core
    """))
    proc = subprocess.run([str(ruff), "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"),
                           "--output-format", "json", str(module)], capture_output=True, text=True, timeout=60)
    found = {(d["location"]["row"], d["code"]) for d in json.loads(proc.stdout)}
    # lines of m.py (the first is blank): bokeh, an optional extra, may be imported in a function
    assert found == {(2, "TID253"), (3, "PLC2701"), (8, "PLC0415"), (12, "SLF001")}, proc.stdout + proc.stderr
    assert proc.returncode == 1


def test_architecture_md_names_every_package_and_the_contracts_floors() -> None:
    """ARCHITECTURE.md stays true: its floors are pyproject's layers contract, its rooms of vaearr.maps the contract
    whose container is vaearr.maps (every room named), and every package and top-level module of vaearr/ is named in
    it."""
    import re
    import tomllib

    text = (ROOT / "ARCHITECTURE.md").read_text()
    block = text.split("<!-- layers:", 1)[1].split("```", 2)[1]
    floors = [line.strip() for line in block.strip().splitlines()]
    contract = next(c for c in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
                    if c["type"] == "layers")
    assert floors == contract["layers"]
    # the rooms of vaearr.maps: the block is the contract whose container is vaearr.maps
    block = text.split("<!-- rooms:", 1)[1].split("```", 2)[1]
    rooms = next(c for c in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
                 if c["type"] == "layers" and c.get("containers") == ["vaearr.maps"])
    assert [line.strip() for line in block.strip().splitlines()] == rooms["layers"]
    here_rooms = {p.name for p in (ROOT / "vaearr" / "maps").iterdir() if (p / "__init__.py").exists()}
    assert here_rooms == {r.strip() for line in rooms["layers"] for r in line.split("|")} - {"options", "region_options", "index_methods"}
    named = set(re.findall(r"vaearr\.[a-z_]+", text))
    here = {f"vaearr.{p.stem if p.is_file() else p.name}" for p in (ROOT / "vaearr").iterdir()
            if (p.suffix == ".py" and p.stem != "__init__") or (p.is_dir() and (p / "__init__.py").exists())}
    assert here - named == set()


def test_architecture_md_names_only_files_that_exist() -> None:
    """Every ``vaearr/…``, ``benchmarks/…`` and ``tests/…`` file ARCHITECTURE.md names exists (a renamed module is
    renamed there too)."""
    import re

    text = (ROOT / "ARCHITECTURE.md").read_text()
    named = {f for f in re.findall(r"`((?:vaearr|benchmarks|tests)/[A-Za-z0-9_/]+\.py)`", text)
             if not re.search(r"[A-Z]{2,}", f)}  # not a pattern such as bench_NAME.py
    assert len(named) > 10
    assert {f for f in named if not (ROOT / f).exists()} == set()


def test_the_wheel_ships_the_package_only() -> None:
    """The wheel's packages (setuptools' find, as pyproject configures it) are vaearr's: the benchmarks' simulated
    maps (``benchmarks.data``) and the tests stay out, and vaearr.data ships the demo's data only."""
    import tomllib

    from setuptools import find_packages

    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = find_packages(str(ROOT), include=find["include"], exclude=find.get("exclude", ()))
    assert "vaearr.data" in packages and "vaearr.maps" in packages
    assert [p for p in packages if p.split(".")[0] != "vaearr"] == []
    assert sorted(p.stem for p in (ROOT / "vaearr" / "data").glob("*.py")) == ["__init__", "scene", "shipped", "simulated"]


def test_the_readme_opens_with_the_two_commands_ci_runs() -> None:
    """The README's first lines are the two set-up-and-run commands (the demo, the tests), and CI runs its test one."""
    text = (ROOT / "README.md").read_text()
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    assert text.index("```bash") < 20 and block.split() == ["make", "demo", "make", "test"], block
    assert "make test" in (ROOT / ".ci" / "run").read_text()


# ----------------------------------------------------------------------------------------------
# no process-wide state in module globals (issue 62): a cache lives on the run's context or on its owner

#: calls that make a mutable container
MUTABLE_CALLS = {"dict", "list", "set", "bytearray", "defaultdict", "OrderedDict", "Counter", "deque",
                 "WeakValueDictionary", "WeakKeyDictionary", "WeakSet"}
#: the module-level mutable containers vaearr keeps, each with why it is the process's (``__all__`` aside)
ALLOWED_STATE = {
    # a memory:// store lives in this process's memory for as long as the process: the store itself, not a cache
    "vaearr.store.remote._MEMORY": "memory:// repositories",
    # the output folders this process made and holds a lock on (a descriptor is the process's; a forked child drops
    # its copies): emptied by vaearr.files.command_outputs when a command ends
    "vaearr.files._MADE": "output folders made",
    "vaearr.files._HELD": "output folders held",
}


def _module_state(path: Path, module: str) -> list[str]:
    """``module.NAME`` of each mutable container ``path`` binds at module level (in its body, or in an ``if``,
    ``try`` or ``with`` there): a dict, list or set literal or comprehension, or a call of a container type."""
    found = []

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                v = node.value
                name = v.func.id if isinstance(v, ast.Call) and isinstance(v.func, ast.Name) else (
                    v.func.attr if isinstance(v, ast.Call) and isinstance(v.func, ast.Attribute) else None)
                if isinstance(v, ast.Dict | ast.List | ast.Set | ast.DictComp | ast.ListComp | ast.SetComp) or \
                        name in MUTABLE_CALLS:
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    found.extend(f"{module}.{t.id}" for t in targets if isinstance(t, ast.Name) and t.id != "__all__")
            for field in ("body", "orelse", "finalbody", "handlers"):
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    visit([n for n in getattr(node, field, []) if isinstance(n, ast.stmt | ast.excepthandler)])
            if isinstance(node, ast.excepthandler):
                visit(node.body)

    visit(ast.parse(path.read_text(), filename=str(path)).body)
    return found


def test_no_module_keeps_a_mutable_container() -> None:
    """A cache or a record in a module global is the whole process's: shared by every run, notebook cell and test.
    Constant tables are read-only (``MappingProxyType``, tuples, ``frozenset``); a cache lives on the run's context
    (:class:`vaearr.context.Opened`) or on what owns it (a zarr array's codec pipeline, a batch source's decode pool,
    a dask worker's plugin)."""
    found = [name for path in sorted((ROOT / "vaearr").rglob("*.py"))
             for name in _module_state(path, ".".join(path.relative_to(ROOT).with_suffix("").parts))]
    assert sorted(set(found) - set(ALLOWED_STATE)) == [], "make it read-only, or give it an owner (see the docstring)"
    assert sorted(set(ALLOWED_STATE) - set(found)) == [], "an allowed container is gone: take it off ALLOWED_STATE"


def test_the_state_check_finds_what_it_forbids(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(textwrap.dedent("""
        from collections import defaultdict
        from types import MappingProxyType
        __all__ = ["f"]
        TABLE = MappingProxyType({"a": 1})
        NAMES = ("a", "b")
        _CACHE: dict[str, int] = {}
        SEEN = set()
        try:
            BY_KEY = defaultdict(list)
        except ImportError:
            BY_KEY = None
        def f():
            local = {}
            return local
        class C:
            shared = []
    """))
    assert _module_state(source, "m") == ["m._CACHE", "m.SEEN", "m.BY_KEY"]
