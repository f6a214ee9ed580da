"""The options of ``vaearr master-pattern``, declared once (:mod:`vaearr.options`): the command line and the Python
step (:func:`vaearr.master_pattern`) derive theirs from these."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vaearr.options import opt


@dataclass(frozen=True, kw_only=True)
class MasterPatternOptions:
    """Everything ``vaearr master-pattern`` and :func:`vaearr.master_pattern` take
    (:func:`~vaearr.crystals.master_patterns.master_pattern_of`)."""

    phase: str = opt(help="A phase as 'vaearr index --phase' takes it: fcc, bcc, hcp, ni, a .cif file, an EMsoft file "
                          "or NAME:SPACEGROUP:a[,b,c,α,β,γ]:ATOMS.", flags=())
    energy: float = opt(20.0, "Beam energy (kV) of a kinematical master pattern.", above=0, max=1000)
    out: Path | None = opt(None, "Folder for NAME_master_pattern.png (both hemispheres, square Lambert) and .npz (the "
                                 "arrays and the phase).")
