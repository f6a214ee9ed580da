"""Crystals: phases from names, CIF files and structure text (:mod:`~vaearr.crystals.structures`), their records in
a store, and their master patterns, kinematical ones simulated and cached (:mod:`~vaearr.crystals.master_patterns`).

Everything needs the ``ebsd`` extra (orix, diffsims, kikuchipy)."""

from vaearr.crystals.master_patterns import (
    PhaseSource,
    cache_dir,
    kinematical_master_pattern,
    resolve_phase,
    resolve_phases,
)
from vaearr.crystals.structures import (
    BUILTIN,
    Crystal,
    band_families,
    check_phase_name,
    crystal_phase,
    header_name,
    parse_structure,
    phase_list,
    phase_record,
    read_cif,
    record_phase,
    structure_factors,
)

__all__ = [
    "BUILTIN",
    "Crystal",
    "PhaseSource",
    "band_families",
    "cache_dir",
    "check_phase_name",
    "crystal_phase",
    "header_name",
    "kinematical_master_pattern",
    "parse_structure",
    "phase_list",
    "phase_record",
    "read_cif",
    "record_phase",
    "resolve_phase",
    "resolve_phases",
    "structure_factors",
]
