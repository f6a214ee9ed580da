"""One crystal map as the readers hand it over: per-point orientations, phases and quality columns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Phase id of a point that is not indexed (orix's convention).
NOT_INDEXED = -1


@dataclass
class CrystalMapData:
    """What :func:`vaearr.io.orientations.read_crystal_map` keeps of a crystal map, one entry per scan point.

    Attributes
    ----------
    x, y
        Point coordinates (µm).
    quaternions
        ``(n, 4)`` float64 unit quaternions (a, b, c, d), NaN where not indexed.
    phase_id
        ``(n,)`` int, −1 where not indexed.
    phases
        One dict per phase: ``id``, ``name``, ``point_group``, ``lattice`` ([a, b, c, α, β, γ]).
    quality
        Store variable name → ``(n,)`` values of the file's quality columns.
    """

    x: np.ndarray
    y: np.ndarray
    quaternions: np.ndarray
    phase_id: np.ndarray
    phases: list[dict]
    quality: dict[str, np.ndarray] = field(default_factory=dict)
