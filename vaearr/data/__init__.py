"""Data for the demo and the reader tests: kikuchipy's shipped Ni scans (:mod:`~vaearr.data.shipped`) and a
simulated Ni map with ground truth, the demo's (:mod:`~vaearr.data.simulated`). Everything needs the ``ebsd`` extra
(kikuchipy, orix). The study maps the benchmarks and tests simulate (sub-grains, patchwork, deformation, phases, big
files) are ``benchmarks.data``, outside the wheel.
"""

from vaearr.data.shipped import kikuchipy_files, make_vendor_files
from vaearr.data.simulated import (
    DEMO_PC,
    DEMO_SAMPLE_TILT,
    DemoPaths,
    band_contrast,
    build_demo_map,
    demo_paths,
)

__all__ = [
    "DEMO_PC",
    "DEMO_SAMPLE_TILT",
    "DemoPaths",
    "band_contrast",
    "build_demo_map",
    "demo_paths",
    "kikuchipy_files",
    "make_vendor_files",
]
