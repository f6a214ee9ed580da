"""A store in words (:mod:`vaearr.store.summary`): dims, coordinates, variables with dtype and chunks, masks with
their counts, the detector and a latent's active units, provenance, and damage said where it is."""

from __future__ import annotations

import numpy as np
import xarray as xr

from vaearr.store import write_variables
from vaearr.store.summary import describe, masks


def test_masks_are_the_boolean_variables() -> None:
    ds = xr.Dataset({"roi": ("x", [True, False]), "v": ("x", [1.0, 2.0]), "n": ("x", [1, 2])})
    assert masks(ds) == ["roi"]


def test_a_store_described(store_path) -> None:
    coords = {"y": [0.0, 0.5], "x": [0.0, 0.5, 1.0]}
    write_variables(store_path, {
        "roi": xr.DataArray(np.array([[True, True, False], [False, True, False]]), dims=("y", "x"), coords=coords),
        "patterns": xr.DataArray(np.zeros((2, 3, 4, 4), np.uint8), dims=("y", "x", "py", "px"), coords=coords,
                                 attrs={"pc": [0.4, 0.2, 0.5], "pc_source": "given", "sample_tilt": 68}),
        "z": xr.DataArray(np.zeros((2, 3, 2), np.float32), dims=("y", "x", "latent"), coords=coords,
                          attrs={"active_units": 1, "kl_per_dim": [1.5, 0.01]}),
    }, source=["scan.h5"], group_attrs={"step": [0.5, 0.5], "note": "n" * 200})
    text = describe(store_path)
    lines = text.splitlines()
    assert lines[0] == f"store: {store_path}"
    assert "note=" + "n" * 77 + "..." in text and "step=[0.5, 0.5]" in text  # long attrs cut to 80 characters
    assert "dims: " in text and "y=2" in text and "px=4" in text
    assert "  x(x) float64 0 .. 1" in lines
    i = lines.index(next(ln for ln in lines if ln.startswith("  roi(y, x) bool")))
    assert lines[i].endswith("[mask]") and lines[i + 1] == "      3 of 6 True"
    assert "      projection centre 0.4/0.2/0.5 (Bruker), sample tilt 68°, from given" in lines
    assert "      active units: 1 of 2 latent dims; KL 1.51 nats (per dim: 1.5, 0.01)" in lines
    assert any(ln.startswith("      source=") and "scan.h5" in ln for ln in lines)


def test_damage_is_said_under_its_variable(store_path) -> None:
    write_variables(store_path, {"a": xr.DataArray(np.zeros((2, 2)), dims=("y", "x"))})
    for f in (store_path / "a" / "c").rglob("*"):
        if f.is_file():
            f.unlink()
    lines = describe(store_path).splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.startswith("  a(y, x)"))
    assert lines[i + 1].startswith("      DAMAGED: ")
