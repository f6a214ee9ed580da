"""Data for the demo, tests and benchmarks: kikuchipy's shipped Ni scans (:mod:`~vaearr.data.shipped`),
a simulated Ni map with ground truth (:mod:`~vaearr.data.simulate`), three small study maps
with grains, sub-grains and boundaries as truth (:mod:`~vaearr.data.subgrains`; a second family built differently,
:mod:`~vaearr.data.patchwork`; bent and recrystallised grains, :mod:`~vaearr.data.deformation`), small maps of one
or two phases from kinematical master patterns (:mod:`~vaearr.data.multiphase`), and big benchmark files
(:mod:`~vaearr.data.bench`). Everything needs the ``ebsd`` extra (kikuchipy, orix).
"""

from vaearr.data.bench import BigFile, big_scan_shape, make_big_hdf5
from vaearr.data.multiphase import FAMILIES, phase_map, write_phase_map
from vaearr.data.shipped import kikuchipy_files, make_vendor_files
from vaearr.data.simulate import (
    DEMO_PC,
    DEMO_SAMPLE_TILT,
    DemoPaths,
    band_contrast,
    build_demo_map,
    demo_paths,
)
from vaearr.data.patchwork import PATCHWORK_KINDS, patchwork_map, write_patchwork_map
from vaearr.data.subgrains import SCIENCE_KINDS, science_map, write_science_map

__all__ = [
    "DEMO_PC",
    "DEMO_SAMPLE_TILT",
    "SCIENCE_KINDS",
    "BigFile",
    "DemoPaths",
    "FAMILIES",
    "PATCHWORK_KINDS",
    "band_contrast",
    "big_scan_shape",
    "build_demo_map",
    "demo_paths",
    "kikuchipy_files",
    "make_big_hdf5",
    "make_vendor_files",
    "patchwork_map",
    "phase_map",
    "science_map",
    "write_patchwork_map",
    "write_phase_map",
    "write_science_map",
]
