"""``vaearr spread`` of a store timed with another commit's package beside this checkout's: the scale benchmark's
``--spread-against REV`` (issue 61: spread's KAM/GOS from the patterns was the path's longest step at 10⁵ pixels).

The store as segment left it is copied before the path's spread; ``vaearr spread STORE --var latent --regions
segments`` then runs on the copy with the ``vaearr`` package of commit REV (``git archive``, put on ``PYTHONPATH``),
timed as every step is (:func:`benchmarks.bench_scale.run_step`: wall, the process tree's CPU seconds, peak memory),
and the two stores' ``pattern_kam``, ``pattern_gos`` and ``pattern_grod`` are compared: bit for bit, and the largest
difference in degrees.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

#: The variables compared between the two commits.
DEGREES = ("pattern_kam", "pattern_gos", "pattern_grod")
ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def pythonpath(code: Path) -> Iterator[None]:
    """Commands started inside import ``vaearr`` from ``code``."""
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(code)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


def code_of(rev: str, d: Path) -> Path:
    """The ``vaearr`` package of commit ``rev``, unpacked under ``d`` (the folder to put on PYTHONPATH)."""
    out = d / f"code-{rev}"
    out.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", rev, "vaearr"], cwd=ROOT, check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive.stdout, check=True)
    return out


def compared(a: Path, b: Path) -> dict:
    """Each degree variable of two stores: bit for bit the same, NaN at the same pixels, the largest difference."""
    import numpy as np

    from vaearr.store import open_store

    da, db = open_store(a), open_store(b)
    out = {}
    for name in DEGREES:
        x, y = np.asarray(da[name].values, float), np.asarray(db[name].values, float)
        both = np.isfinite(x) & np.isfinite(y)
        out[name] = {"identical": bool(np.array_equal(x, y, equal_nan=True)),
                     "same_nan": bool(np.array_equal(np.isnan(x), np.isnan(y))),
                     "max_abs_diff_deg": float(np.abs(x - y)[both].max()) if both.any() else None}
    return out


def spread_against(rev: str, before: Path, after: Path, d: Path, log: Path, run_step: Callable[..., dict],
                   step: dict) -> dict:
    """``vaearr spread`` of ``before`` (the store as segment left it) with commit ``rev``'s package, against this
    checkout's ``step`` that wrote ``after``: its record, the ratios and the comparison."""
    with pythonpath(code_of(rev, d)):
        other = run_step(f"spread at {rev} (beside; not in the path)",
                         [sys.executable, "-m", "vaearr", "spread", str(before), "--var", "latent", "--regions",
                          "segments"], log)
    other["not_in_path"] = True
    return {"against": rev, "step": other, "speedup_wall": round(other["seconds"] / step["seconds"], 2),
            "speedup_cpu": round(other["cpu_seconds"] / step["cpu_seconds"], 2), "same": compared(after, before)}
