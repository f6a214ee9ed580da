"""Write a crystal map as an Oxford Channel Text File (``.ctf``), the layout AZtec/Channel 5 write and
orix, MTEX and AZtecCrystal read.

orix (0.15) reads ``.ctf`` but has no writer, so this one follows the layout its reader
(:mod:`orix.io.plugins.ctf`) parses: a tab-separated header (``XCells``/``YCells``,
``XStep``/``YStep``, ``Phases`` then one line per phase: ``a;b;c  α;β;γ  name  Laue id  space group``),
then one row per point in raster order: ``Phase X Y Bands Error Euler1 Euler2 Euler3 MAD BC BS``
with Bunge Euler angles in degrees, MAD in degrees, BC and BS as bytes (0–255). Phase 0 is "not indexed" (error 3, "no solution"); the
crystal map's phases are numbered 1, 2, … in the order of their ids.
"""

from __future__ import annotations

import os
from types import MappingProxyType

import numpy as np

from vaearr.crystals import header_name
from vaearr.version import __version__

#: Laue group (orix's name) → the Laue id of a ``.ctf`` phase line (orix's reader: 1 … 11).
LAUE_IDS = MappingProxyType({"-1": 1, "2/m": 2, "mmm": 3, "4/m": 4, "4/mmm": 5, "-3": 6, "-3m": 7, "6/m": 8, "6/mmm": 9,
                             "m-3": 10, "m3": 10, "m-3m": 11})
#: Columns after Phase, X, Y: the crystal map properties each takes, the first present (none → 0).
#: MAD is a mean angular deviation in degrees: Oxford's, or PyEBSDIndex's pattern fit (``fit``), the same measure.
PROPERTY_COLUMNS = MappingProxyType({"bands": ("bands",), "MAD": ("MAD", "fit"), "BC": ("BC",), "BS": ("BS",)})
#: Columns the format holds as bytes (AZtec writes band contrast and band slope 0–255).
BYTE_COLUMNS = ("BC", "BS")
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
    return f"{abc}\t{angles}\t{header_name(phase.name)}\t{laue}\t{sg}"


def _column(xmap, names: tuple[str, ...], indexed: np.ndarray) -> tuple[np.ndarray, str | None]:
    """The first of the properties ``names`` the map has (0 where not indexed or not finite), and its name."""
    for name in names:
        if name in xmap.prop:
            v = np.asarray(xmap.prop[name], dtype=np.float64).reshape(indexed.size, -1)[:, 0]
            return np.where(indexed & np.isfinite(v), v, 0.0), name
    return np.zeros(indexed.size), None


def to_byte_range(v: np.ndarray, indexed: np.ndarray) -> tuple[np.ndarray, str | None]:
    """``v`` as whole numbers 0–255: as it is when its indexed values already are (AZtec's own band contrast),
    else rescaled linearly from their range; a note saying so, or None.

    >>> to_byte_range(np.array([0.2, 0.4, 1.0]), np.ones(3, bool))
    (array([  0.,  64., 255.]), 'rescaled from 0.2–1 to 0–255')
    """
    inside = v[indexed]
    if not inside.size or (inside.min() >= 0 and inside.max() <= 255 and np.allclose(inside, np.rint(inside))):
        return np.rint(v), None
    lo, hi = float(inside.min()), float(inside.max())
    scaled = np.rint((v - lo) / (hi - lo) * 255) if hi > lo else np.full(v.shape, 255.0)
    return np.where(indexed, np.clip(scaled, 0, 255), 0.0), f"rescaled from {lo:.4g}–{hi:.4g} to 0–255"


def write_ctf(path: str | os.PathLike, xmap, *, project: str = "vaearr export") -> list[str]:
    """Write a 2D :class:`orix.crystal_map.CrystalMap` (points in raster order, x fastest) to ``path``.

    The properties ``bands``, ``MAD`` (else ``fit``: PyEBSDIndex's pattern fit, a mean angular deviation in
    degrees too), ``BC`` and ``BS`` fill their columns (0 where absent or not indexed); band contrast and
    band slope are bytes in the format (0–255): kept as they are when they already are, else rescaled
    linearly from their range over the indexed points. The Euler angles are written to 10⁻⁶ degrees.
    The format holds no projection centre. Returns a line per column filled, saying from what.
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
    cols, lines = {}, []
    for column, names in PROPERTY_COLUMNS.items():
        cols[column], source = _column(xmap, names, indexed)
        note = None
        if column in BYTE_COLUMNS:
            cols[column], note = to_byte_range(cols[column], indexed)
        if source is not None:
            lines.append(f"{column}: {source}" + (" (degrees)" if column == "MAD" else "") + (f", {note}" if note else ""))
    table = np.column_stack([ctf_phase, np.asarray(xmap.x, float), np.asarray(xmap.y, float), np.rint(cols["bands"]),
                             np.where(indexed, 0, NO_SOLUTION), euler, cols["MAD"], cols["BC"], cols["BS"]])
    fmt = ["%d", "%.5f", "%.5f", "%d", "%d", "%.6f", "%.6f", "%.6f", "%.4f", "%d", "%d"]
    np.savetxt(path, table, fmt=fmt, delimiter="\t", header="\n".join(head), comments="")
    return lines
