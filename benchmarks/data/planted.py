"""A map of planted grains for the training window: square grains of a few kinds, one kind rare and in one corner."""

from __future__ import annotations

import os

import numpy as np
import xarray as xr

from vaearr.data.simulated import (
    Scene,
    noisy_patterns,
    random_quaternions,
    simulate_kikuchi,
    spawn_rngs,
    static_background,
)
from benchmarks.data.subgrains import write_simulated


def planted_kinds(grains: tuple[int, int], rare: int) -> np.ndarray:
    """(grain rows, grain columns) kind of each grain: kinds 0–2 laid so that no two grains side by side share
    one, and kind 3 on the ``rare`` × ``rare`` grains of the last corner (one block of its own)."""
    i, j = np.indices(grains)
    kinds = (i + 2 * j) % 3
    kinds[grains[0] - rare:, grains[1] - rare:] = 3
    return kinds


def planted_map(path: str | os.PathLike, *, grain: int = 20, grains: tuple[int, int] = (8, 8), rare: int = 2,
                pattern_shape: tuple[int, int] = (30, 30), noise: float = 1.0, seed: int = 0) -> xr.Dataset:
    """Write an ``ebsd-map`` store of square grains ``grain`` pixels a side, ``grains`` of them, each one of
    four kinds (an orientation each, :func:`planted_kinds`): its own truth is ``kind_true`` and ``grain_id``.

    The mean linear intercept of its grain boundaries is ``grain`` pixels inside the common kinds (the rare
    block, ``rare`` × ``rare`` grains of one kind, has none inside), so a window of two grain sizes a side
    holds every common kind wherever it lies, and the rare kind only near its corner.
    """
    kinds = planted_kinds(grains, rare)
    ny, nx = grains[0] * grain, grains[1] * grain
    kind = np.kron(kinds, np.ones((grain, grain), int)).astype(np.int32)
    grain_id = np.kron(np.arange(grains[0] * grains[1]).reshape(grains), np.ones((grain, grain), int)).astype(np.int32)
    r_rot, r_noise = spawn_rngs(seed, 2)
    quats = random_quaternions(4, r_rot)
    sc = Scene(grain=kind, neighbour=kind, dist=np.full((ny, nx), 1e3), badness=np.zeros((ny, nx)),
               bad=np.zeros((ny, nx), bool), drift=np.ones((ny, nx)), quats=quats,
               kikuchi=simulate_kikuchi(quats, pattern_shape, False), background=static_background(pattern_shape))
    patterns = noisy_patterns(sc, np.arange(ny * nx), noise, r_noise).reshape(ny, nx, *pattern_shape)
    coords = {"y": np.arange(ny, dtype=float), "x": np.arange(nx, dtype=float)}
    ds = xr.Dataset({"patterns": (("y", "x", "py", "px"), patterns), "kind_true": (("y", "x"), kind),
                     "grain_id": (("y", "x"), grain_id)}, coords=coords,
                    attrs={"step": 1.0, "grain": grain, "grains": list(grains), "rare": rare})
    return write_simulated(path, ds, ["patterns", "kind_true", "grain_id"], roi=True, source="planted_map",
                           config={"grain": grain, "grains": list(grains), "rare": rare, "seed": seed},
                           patterns_source=f"benchmarks.data.planted.planted_map(grain={grain}, seed={seed})")
