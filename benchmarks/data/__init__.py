"""The benchmarks' and tests' simulated maps with truth, and what scores against it (outside the wheel).

Three small study maps with grains, sub-grains and boundaries as truth (:mod:`~benchmarks.data.subgrains`; a second
family built differently, :mod:`~benchmarks.data.patchwork`; bent and recrystallised grains,
:mod:`~benchmarks.data.deformation`), small maps of one or two phases from kinematical master patterns
(:mod:`~benchmarks.data.multiphase`), a map with a planted feature (:mod:`~benchmarks.data.planted`), big benchmark
files (:mod:`~benchmarks.data.bench`) and boundary scores against the truth (:mod:`~benchmarks.data.scoring`). They
were ``vaearr.data.*`` until issue 40: nothing a user runs needs them, so they do not ship; they build on the demo's
simulator, :mod:`vaearr.data.simulated`. Everything needs the ``ebsd`` extra (kikuchipy, orix).
"""

from benchmarks.data.bench import BigFile, big_scan_shape, make_big_hdf5
from benchmarks.data.bimodal import BIMODAL_KINDS, bimodal_map, write_bimodal_map
from benchmarks.data.multiphase import FAMILIES, phase_map, write_phase_map
from benchmarks.data.patchwork import PATCHWORK_KINDS, patchwork_map, write_patchwork_map
from benchmarks.data.subgrains import SCIENCE_KINDS, science_map, write_science_map

__all__ = [
    "BIMODAL_KINDS",
    "FAMILIES",
    "PATCHWORK_KINDS",
    "SCIENCE_KINDS",
    "BigFile",
    "big_scan_shape",
    "bimodal_map",
    "make_big_hdf5",
    "patchwork_map",
    "phase_map",
    "science_map",
    "write_bimodal_map",
    "write_patchwork_map",
    "write_phase_map",
    "write_science_map",
]
