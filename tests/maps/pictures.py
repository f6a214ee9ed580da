"""Maps of stand-in patterns for the tests of what reads neighbouring patterns (grain cuts, set-aside pixels): smooth
random pictures, one per orientation, laid out by column, each pixel with its own noise."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

SHAPE = (24, 32)


def picture(rng: np.random.Generator, side: int = 20) -> np.ndarray:
    """A smooth random picture standing for one orientation's pattern (unrelated to another drawn alike)."""
    return ndi.gaussian_filter(rng.normal(size=(side, side)), 1.5)


def prepare(block: np.ndarray) -> np.ndarray:
    """Each pattern of a (rows, columns, py, px) block as a unit vector of zero mean."""
    v = block.reshape(*block.shape[:2], -1).astype(np.float64)
    v = v - v.mean(-1, keepdims=True)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def column_map(columns: np.ndarray, noise: float = 0.6, seed: int = 1) -> np.ndarray:
    """Patterns (ny, nx, py, px) of :data:`SHAPE`: column x holds ``columns[x]`` (a picture), each pixel with its own
    noise (``noise`` × the pictures' mean standard deviation)."""
    rng = np.random.default_rng(seed)
    pats = np.broadcast_to(columns[None], (SHAPE[0], *columns.shape)).copy()
    scale = columns.reshape(len(columns), -1).std(-1).mean()
    return pats + noise * scale * rng.normal(size=pats.shape)
