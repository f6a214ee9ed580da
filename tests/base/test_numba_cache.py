"""The guard against numba's gufunc-cache crash (numba#10128) that killed `vaearr` in fresh venvs."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import vaearr
from vaearr.numba_cache import GUFUNC_PACKAGES

pytest.importorskip("numba")

# numba's own reproducer of the crash: two variants of one kernel, both cached; the dynamic one
# loads the wrapper the explicit one cached, which calls a symbol the dynamic kernel does not have
KERNELS = """
import numpy as np
from numba import guvectorize

def twice(x, out):
    for i in range(x.shape[0]):
        out[i] = 2 * x[i]

explicit = guvectorize(["(f8[:], f8[:])"], "(n)->(n)", cache=True)(twice)
dynamic = guvectorize("(n)->(n)", cache=True)(twice)
"""

CALL = """
import numpy as np
out = np.empty(3)
kernels.dynamic(np.arange(3.0), out)
print(",".join(map(str, out)))
"""


def _run(tmp: Path, guarded: bool) -> subprocess.CompletedProcess:
    tmp.mkdir()
    (tmp / "kernels.py").write_text(textwrap.dedent(KERNELS))
    guard = "from vaearr.numba_cache import guard_gufunc_cache\nassert guard_gufunc_cache()\n" if guarded else ""
    script = f"import sys\nsys.path.insert(0, {str(tmp)!r})\n{guard}import kernels\n{CALL}"
    # a cache of its own: pyebsdindex points NUMBA_CACHE_DIR at ~/.pyebsdindex when imported, and
    # child processes of a test session that imported it would inherit that
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp / "cache")}
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
            for _ in range(2)]  # the second run reads what the first one cached
    return runs[-1]


def test_guarded_gufuncs_survive_their_own_cache(tmp_path: Path) -> None:
    guarded = _run(tmp_path / "guarded", guarded=True)
    assert guarded.returncode == 0, guarded.stderr
    assert np.array(guarded.stdout.strip().split(","), float).tolist() == [0.0, 2.0, 4.0]
    assert list((tmp_path / "guarded" / "cache").rglob("guf-kernels.twice-*.nbc")), "wrappers are still cached"


def test_a_step_that_imports_orix_guards_it_and_require_alone_does_not() -> None:
    """The guard is the explicit call of the functions that import the EBSD libraries (here
    :func:`vaearr.crystals.structures.aligned_lattice`), not a side effect of :func:`vaearr.errors.require`."""
    pytest.importorskip("orix", reason="needs the 'ebsd' extra")
    code = ("from numba.np.ufunc import wrappers; before = wrappers._GufuncWrapper.__init__\n"
            "from vaearr.errors import require; require('orix.quaternion', 'ebsd')\n"
            "print(wrappers._GufuncWrapper.__init__ is not before)\n"
            "from vaearr.crystals.structures import aligned_lattice; aligned_lattice((3.6, 3.6, 3.6, 90, 90, 90))\n"
            "print(wrappers._GufuncWrapper.__init__ is not before)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.split() == ["False", "True"], (proc.stdout, proc.stderr)


def _imports_before_guard(path: Path) -> list[str]:
    """``file:line`` of each import of a :data:`~vaearr.numba_cache.GUFUNC_PACKAGES` package (``import``, ``from``,
    ``require("...")``) in a function of ``path`` that has not called ``guard_gufunc_cache()`` on an earlier line."""
    tree = ast.parse(path.read_text())
    bad = []

    def names(node: ast.AST) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        if isinstance(node, ast.ImportFrom):
            return [node.module or ""]
        if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "require" and node.args
                and isinstance(node.args[0], ast.Constant)):
            return [str(node.args[0].value)]
        return []

    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        guarded = [n.lineno for n in ast.walk(fn) if isinstance(n, ast.Call)
                   and getattr(n.func, "id", None) == "guard_gufunc_cache"]
        for node in ast.walk(fn):
            if any(name.split(".")[0] in GUFUNC_PACKAGES for name in names(node)):
                if not any(g < node.lineno for g in guarded):
                    bad.append(f"{path}:{node.lineno}")
    return bad


def test_every_import_of_the_ebsd_libraries_is_guarded_on_the_line_before() -> None:
    """The explicit call, checked in the sources: every function of vaearr and flows that imports kikuchipy, orix,
    pyebsdindex or diffsims calls ``guard_gufunc_cache()`` before; ``vaearr.errors`` no longer imports the guard."""
    root = Path(vaearr.__file__).parent
    files = [*root.rglob("*.py"), *(root.parent / "flows").rglob("*.py")]
    bad = [where for f in files for where in _imports_before_guard(f)]
    assert not bad, bad
    found = [f for f in files if "guard_gufunc_cache()" in f.read_text() and f.name != "numba_cache.py"]
    assert len(found) >= 15, found  # the check saw the guarded modules
    assert "from vaearr.numba_cache" not in (root / "errors.py").read_text()


def test_unguarded_numba_crashes_where_the_guarded_one_does_not(tmp_path: Path) -> None:
    """What the guard is for: the same two runs without it die with no output (SIGSEGV)."""
    import numba

    unguarded = _run(tmp_path / "unguarded", guarded=False)
    if unguarded.returncode == 0:
        pytest.skip(f"numba {numba.__version__} no longer crashes (numba#10128 fixed): vaearr.numba_cache can go")
    assert unguarded.returncode < 0 and not unguarded.stdout.strip(), (unguarded.returncode, unguarded.stdout)
    guarded = _run(tmp_path / "guarded", guarded=True)
    assert guarded.returncode == 0, guarded.stderr
