"""Write a crystal map as an Oxford Channel Text File (``.ctf``), the layout AZtec/Channel 5 write and
orix, MTEX and AZtecCrystal read.

orix (0.15) reads ``.ctf`` but has no writer, so this one follows the layout its reader
(:mod:`orix.io.plugins.ctf`) parses: a tab-separated header (``XCells``/``YCells``,
``XStep``/``YStep``, ``Phases`` then one line per phase: ``a;b;c  α;β;γ  name  Laue id  space group``),
then one row per point in raster order: ``Phase X Y Bands Error Euler1 Euler2 Euler3 MAD BC BS``
with Bunge Euler angles in degrees. Phase 0 is "not indexed" (error 3, "no solution"); the
crystal map's phases are numbered 1, 2, … in the order of their ids.
"""

from __future__ import annotations

import os

import numpy as np

from vaearr.version import __version__

#: Laue group (orix's name) → the Laue id of a ``.ctf`` phase line (orix's reader: 1 … 11).
LAUE_IDS = {"-1": 1, "2/m": 2, "mmm": 3, "4/m": 4, "4/mmm": 5, "-3": 6, "-3m": 7, "6/m": 8, "6/mmm": 9,
            "m-3": 10, "m3": 10, "m-3m": 11}
#: Columns after Phase, X, Y: the crystal map property each takes (absent → 0), and its format.
PROPERTY_COLUMNS = (("bands", "%d"), ("MAD", "%.4f"), ("BC", "%d"), ("BS", "%d"))
#: Error code of a point that is not indexed ("no solution").
NO_SOLUTION = 3


def _phase_line(phase) -> str:
    lattice = [1.0, 1.0, 1.0, 90.0, 90.0, 90.0]
    try:
        lattice = [float(v) for v in phase.structure.lattice.abcABG()]
    except (AttributeError, TypeError):
        pass
    laue = 1 if phase.point_group is None else LAUE_IDS.get(phase.point_group.laue.name, 1)
    sg = 0 if phase.space_group is None else int(phase.space_group.number)
    abc = ";".join(f"{v:.4f}" for v in lattice[:3])
    angles = ";".join(f"{v:.4f}" for v in lattice[3:])
    return f"{abc}\t{angles}\t{phase.name or 'phase'}\t{laue}\t{sg}"


def _column(xmap, name: str, indexed: np.ndarray) -> np.ndarray:
    if name not in xmap.prop:
        return np.zeros(indexed.size)
    v = np.asarray(xmap.prop[name], dtype=np.float64).reshape(indexed.size, -1)[:, 0]
    return np.where(indexed & np.isfinite(v), v, 0.0)


def write_ctf(path: str | os.PathLike, xmap, *, project: str = "vaearr export") -> None:
    """Write a 2D :class:`orix.crystal_map.CrystalMap` (points in raster order, x fastest) to ``path``.

    The properties ``bands``, ``MAD``, ``BC`` and ``BS`` fill their columns (0 where absent or not
    indexed); the Euler angles are written to 10⁻⁶ degrees.
    """
    ny, nx = (1, int(xmap.shape[0])) if xmap.ndim == 1 else (int(xmap.shape[0]), int(xmap.shape[1]))
    phases = [(int(i), p) for i, p in xmap.phases if int(i) >= 0]
    number = {pid: k + 1 for k, (pid, _) in enumerate(phases)}
    pid = np.asarray(xmap.phase_id, dtype=np.int64)
    indexed = np.isin(pid, list(number))
    ctf_phase = np.zeros(pid.size, np.int64)
    for i, k in number.items():
        ctf_phase[pid == i] = k
    rot = xmap.rotations
    euler = np.degrees(np.asarray((rot[:, 0] if rot.ndim > 1 else rot).to_euler()).reshape(-1, 3))
    euler[~indexed] = 0.0
    head = ["Channel Text File", f"Prj\t{project}", f"Author\tvaearr {__version__}", "JobMode\tGrid",
            f"XCells\t{nx}", f"YCells\t{ny}", f"XStep\t{float(xmap.dx):.6f}", f"YStep\t{float(xmap.dy):.6f}",
            "AcqE1\t0", "AcqE2\t0", "AcqE3\t0",
            "Euler angles refer to Sample Coordinate system (CS0)!\tMag\t0\tCoverage\t100\tDevice\t0\tKV\t0"
            "\tTiltAngle\t70\tTiltAxis\t0", f"Phases\t{len(phases)}",
            *(_phase_line(p) for _, p in phases),
            "Phase\tX\tY\tBands\tError\tEuler1\tEuler2\tEuler3\tMAD\tBC\tBS"]
    cols = {name: _column(xmap, name, indexed) for name, _ in PROPERTY_COLUMNS}
    table = np.column_stack([ctf_phase, np.asarray(xmap.x, float), np.asarray(xmap.y, float), cols["bands"],
                             np.where(indexed, 0, NO_SOLUTION), euler, cols["MAD"],
                             np.rint(cols["BC"]), np.rint(cols["BS"])])
    fmt = ["%d", "%.5f", "%.5f", "%d", "%d", "%.6f", "%.6f", "%.6f", "%.4f", "%d", "%d"]
    np.savetxt(path, table, fmt=fmt, delimiter="\t", header="\n".join(head), comments="")
