"""The architecture, checked: import-linter's contracts (layers, no cycles, import hygiene), module and function sizes, a short fit()."""

from __future__ import annotations

import ast
import inspect
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
    assert "Contracts: 3 kept, 0 broken" in proc.stdout


def test_the_hygiene_contract_catches_what_it_forbids(tmp_path: Path) -> None:
    # a package that breaks each rule once: the contract must name all three
    pkg = tmp_path / "badpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("_secret = 1\n\n\ndef public():\n    return 2\n")
    (pkg / "b.py").write_text(textwrap.dedent("""
        from badpkg.a import _secret
        from badpkg import a


        def f():
            import json

            return a._secret, json, _secret
    """))
    config = tmp_path / "contracts.toml"
    config.write_text(textwrap.dedent("""
        [tool.importlinter]
        root_packages = ["badpkg"]
        contract_types = ["import_hygiene: tests.contracts.ImportHygieneContract"]

        [[tool.importlinter.contracts]]
        name = "hygiene"
        type = "import_hygiene"
        packages = ["badpkg"]
        optional = ["holoviews"]
    """))
    proc = _lint(tmp_path, config)
    assert proc.returncode != 0
    out = " ".join(proc.stdout.split())
    assert "imports the private name badpkg.a._secret" in out
    assert "uses the private name a._secret" in out
    assert "imports json inside a function" in out


def test_no_module_is_over_600_lines() -> None:
    sizes = {p.relative_to(ROOT).as_posix(): len(p.read_text().splitlines())
             for p in (ROOT / "vaearr").rglob("*.py")}
    assert {p: n for p, n in sizes.items() if n > 600} == {}


#: The longest a function may be: its lines (signature, body, blank and comment lines) without its docstring.
MAX_FUNCTION_LINES = 100


def _function_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = node.body
    has_doc = isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)
    rest = body[1:] if has_doc else body
    if not rest:
        return 0
    signature = body[0].lineno - node.lineno  # the def lines up to the first statement (the docstring, if any)
    return signature + rest[-1].end_lineno - rest[0].lineno + 1


def _compiled(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A numba kernel, or a function that builds one (``@njit`` on it or on a function inside it): exempt."""
    return any("jit" in ast.unparse(d) for f in ast.walk(node) if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
               for d in f.decorator_list)


def long_functions(root: Path, limit: int = MAX_FUNCTION_LINES) -> dict[str, int]:
    """``module::function`` → lines, for every function of the package under ``root`` longer than ``limit``."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not _compiled(node):
                n = _function_lines(node)
                if n > limit:
                    out[f"{path.relative_to(root.parent).as_posix()}::{node.name}"] = n
    return out


def test_no_function_is_over_100_lines() -> None:
    # docstrings aside; numba kernels (long loops written out for the compiler) are exempt
    assert long_functions(ROOT / "vaearr") == {}


def test_the_function_length_check_counts_what_it_says(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(99))
    # 1 + 99 lines (the docstring aside): kept; 1 + 1 + 99 + 1 (a comment and a blank line count): too long
    (pkg / "m.py").write_text(f'def ok(a, b):\n    """Doc\n\n    more doc.\n    """\n{body}\n\n\n'
                              f'def long():\n    # a comment counts\n{body}\n\n    return 1\n')
    assert long_functions(pkg) == {"pkg/m.py::long": 103}


def test_architecture_md_names_every_package_and_the_contracts_floors() -> None:
    """ARCHITECTURE.md stays true: its floors are pyproject's layers contract, and every package and
    top-level module of vaearr/ is named in it."""
    import re
    import tomllib

    text = (ROOT / "ARCHITECTURE.md").read_text()
    block = text.split("<!-- layers:", 1)[1].split("```", 2)[1]
    floors = [line.strip() for line in block.strip().splitlines()]
    contract = next(c for c in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
                    if c["type"] == "layers")
    assert floors == contract["layers"]
    named = set(re.findall(r"vaearr\.[a-z_]+", text))
    here = {f"vaearr.{p.stem if p.is_file() else p.name}" for p in (ROOT / "vaearr").iterdir()
            if (p.suffix == ".py" and p.stem != "__init__") or (p.is_dir() and (p / "__init__.py").exists())}
    assert here - named == set()


def test_fit_is_a_short_loop() -> None:
    from vaearr.train.trainer import Trainer, fit

    assert len(inspect.getsource(fit).splitlines()) < 60
    assert len(inspect.getsource(Trainer.fit).splitlines()) < 60
