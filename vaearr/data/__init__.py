"""Data for the demo, tests and benchmarks: kikuchipy's shipped Ni scans (:mod:`~vaearr.data.shipped`),
a simulated Ni map with ground truth (:mod:`~vaearr.data.simulate`), and big benchmark files
(:mod:`~vaearr.data.bench`). Everything needs the ``ebsd`` extra (kikuchipy, orix).
"""

from vaearr.data.bench import BigFile, big_scan_shape, make_big_hdf5
from vaearr.data.shipped import kikuchipy_files, make_vendor_files
from vaearr.data.simulate import (
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
    "BigFile",
    "DemoPaths",
    "band_contrast",
    "big_scan_shape",
    "build_demo_map",
    "demo_paths",
    "kikuchipy_files",
    "make_big_hdf5",
    "make_vendor_files",
]
