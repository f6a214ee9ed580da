"""Write the study's three maps as .npy files (maps/NAME_{patterns,grains,subgrains,gb,lagb,misori_deg}.npy).

The study first simulated them with its own copy of the demo map builder; that code became
:func:`vaearr.data.science_map`, which gives the same arrays bit for bit for the default seed,
so this script now only saves its output in the layout the study scripts read.
Run:  .venv/bin/python benchmarks/science_study/simulate.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from vaearr.data import science_map  # noqa: E402

FILES = {"patterns": "patterns", "grains": "grain_id", "subgrains": "subgrain_id", "gb": "grain_boundaries_true",
         "lagb": "low_angle_boundaries_true", "misori_deg": "misorientation_true"}

if __name__ == "__main__":
    out = HERE / "maps"
    out.mkdir(exist_ok=True)
    for kind in ("clean", "noisy", "subgrains"):
        ds = science_map(kind)
        for name, var in FILES.items():
            np.save(out / f"{kind}_{name}.npy", ds[var].transpose("y", "x", ...).values)
        print(f"wrote {kind}")
