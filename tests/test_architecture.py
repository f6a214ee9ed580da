"""The architecture, checked: import-linter's contracts (layers, no cycles, import hygiene), module sizes, a short fit()."""

from __future__ import annotations

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


def test_fit_is_a_short_loop() -> None:
    from vaearr.train.trainer import Trainer, fit

    assert len(inspect.getsource(fit).splitlines()) < 60
    assert len(inspect.getsource(Trainer.fit).splitlines()) < 60
