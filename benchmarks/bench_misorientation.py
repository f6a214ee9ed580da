"""How close to the truth is the misorientation vaearr reads from two patterns, in degrees, with no indexing?

Pairs of simulated Ni patterns a known rotation apart (:func:`benchmarks.data.pairs.pattern_pairs`: 0.05–20°, random
axes, random orientations) are registered by :func:`vaearr.maps.patterns.misorientation.misorientations` (what ``segment`` and
``spread`` read), one factor varied at a time around a base detector (80 × 80 px, PC 0.51/0.31/0.62, 45 counts a
pixel, single patterns): pattern size 60–160 px, three projection centres, 20–120 counts and no noise, region means
(16 patterns averaged) at 20 counts, and the PC given wrong (z* ± 5 %, x*/y* + 0.02, and the stated default PC of
:data:`vaearr.io.detector.DEFAULT_PC` for a detector whose PC is another). Per row and angle: the median absolute
error, the bias (median signed error), the 90th percentile of the absolute error, the share of pairs registered
(the rest read ``inf``: not found within the search), and the median error over the standard error the registration
reports with the share of pairs within twice it (what ``segment`` and ``boundaries`` read as no boundary).

Run (about 10 minutes on 2 cores): ``python -m benchmarks run misorientation`` (``--quick``: a few rows).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package, as a script too

import numpy as np  # noqa: E402

from benchmarks import harness  # noqa: E402

#: The quick size: two angles, the base row and one size.
QUICK = ("--pairs", "4", "--angles", "0.5", "10", "--rows", "base", "size 60")

ANGLES = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 20.0)
BASE = {"shape": (80, 80), "pc": (0.51, 0.31, 0.62), "counts": 45.0, "average": 1, "given_pc": None}


def rows() -> dict[str, dict]:
    """Each row's detector, noise and the PC given to the registration (None: the true one)."""
    from vaearr.io.detector import DEFAULT_PC

    out = {"base": {}}
    out |= {f"size {s}": {"shape": (s, s)} for s in (60, 120, 160)}
    out |= {"PC 0.425/0.213/0.501 (demo)": {"pc": (0.425, 0.213, 0.501)},
            "PC 0.45/0.20/0.75": {"pc": (0.45, 0.20, 0.75)}}
    out |= {f"counts {c:g}": {"counts": c} for c in (20.0, 120.0)}
    out |= {"no noise": {"counts": None},
            "means of 16 at 20 counts": {"counts": 20.0, "average": 16}}
    pc = BASE["pc"]
    out |= {"PC z* +5 % (given wrong)": {"given_pc": (pc[0], pc[1], pc[2] * 1.05)},
            "PC z* −5 % (given wrong)": {"given_pc": (pc[0], pc[1], pc[2] * 0.95)},
            "PC x*, y* +0.02 (given wrong)": {"given_pc": (pc[0] + 0.02, pc[1] + 0.02, pc[2])},
            f"default PC {'/'.join(f'{v:g}' for v in DEFAULT_PC)} for the demo's detector":
                {"pc": (0.425, 0.213, 0.501), "given_pc": DEFAULT_PC}}
    return {k: {**BASE, **v} for k, v in out.items()}


def measure(row: dict, angles: tuple[float, ...], n: int) -> list[dict]:
    from benchmarks.data.pairs import pattern_pairs
    from vaearr.maps.patterns.misorientation import Geometry, prepared, register

    out = []
    for angle in angles:
        a, b, bg = pattern_pairs(n, angle, row["shape"], row["pc"], row["counts"], average=row["average"])
        geometry = Geometry(tuple(row["given_pc"] or row["pc"]), tuple(row["shape"]))
        t = time.perf_counter()
        pa, pb = prepared(a, bg), prepared(b, bg)
        ab, ba = register(pa, pb, geometry, search=True), register(pb, pa, geometry, search=True)
        first = ab.correlation >= ba.correlation  # vaearr.maps.patterns.misorientation.misorientations, with the error
        m = np.where(first, ab.angle, ba.angle)
        se = np.where(first, ab.noise, ba.noise)
        dt = time.perf_counter() - t
        ok = np.isfinite(m)
        err = m[ok] - angle
        out.append({"angle": angle, "n": n, "registered": round(float(ok.mean()), 3),
                    "median_abs_err": round(float(np.median(np.abs(err))), 4) if ok.any() else None,
                    "bias": round(float(np.median(err)), 4) if ok.any() else None,
                    "p90_abs_err": round(float(np.percentile(np.abs(err), 90)), 4) if ok.any() else None,
                    # the standard error the registration reports: median |error| / it (0.89 if it were the rms error
                    # of three normal axes; less: it overstates), and the share of pairs within twice it
                    "err_over_se": round(float(np.median(np.abs(err) / se[ok])), 3) if ok.any() else None,
                    "within_2se": round(float(np.mean(np.abs(err) <= 2 * se[ok])), 3) if ok.any() else None,
                    "ms_per_pair": round(1000 * dt / n, 1)})
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", type=int, default=24, help="pairs per angle and row")
    p.add_argument("--angles", type=float, nargs="*", default=list(ANGLES))
    p.add_argument("--rows", nargs="*", help="row names (default: every row)")
    args = p.parse_args(argv)
    table = rows()
    names = args.rows or list(table)
    result = {}
    for name in names:
        row = table[name]
        result[name] = {"detector": {k: (list(v) if isinstance(v, tuple) else v) for k, v in row.items()},
                        "angles": measure(row, tuple(args.angles), args.pairs)}
        worst = max((r["median_abs_err"] or np.inf) for r in result[name]["angles"])
        print(f"{name}: worst median error {worst:.3f}°", flush=True)
    return {"pairs": args.pairs, "rows": result}


def table(result: dict) -> str:
    """The BENCHMARKS table: a row per detector, per angle the median error / bias (registered share where < 1)."""
    angles = [r["angle"] for r in next(iter(result["rows"].values()))["angles"]]
    head = "| row | " + " | ".join(f"{a:g}°" for a in angles) + " |"
    lines = [head, "|" + "---|" * (len(angles) + 1)]
    for name, row in result["rows"].items():
        cells = []
        for r in row["angles"]:
            cell = "—" if r["median_abs_err"] is None else f"{r['median_abs_err']:.3f} / {r['bias']:+.3f}"
            if r["registered"] < 1:
                cell += f" ({r['registered']:.0%})"
            cells.append(cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(harness.script(__file__, main))
