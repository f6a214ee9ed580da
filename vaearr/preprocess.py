"""The input pipeline of a run: the transforms ``vaearr train`` builds from its options."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from vaearr.batches import static_background
from vaearr.errors import InputError
from vaearr.transforms import (
    Resize,
    Scale,
    Standardize,
    SubtractBackground,
    Transform,
    center_crop,
    random_affine,
    random_flip,
    random_patch_3d,
)


def default_transforms(
    ds: Any,
    var: str,
    *,
    sample_dims: Sequence[str],
    mask: str | None = None,
    scale: str | None = "[0,1]",
    standardize: bool = False,
    crop: int | Sequence[int] | None = None,
    resize: int | Sequence[int] | None = None,
    subtract_background: bool = False,
    patch: Sequence[int] | None = None,
    augment: bool = False,
    seed: int = 0,
    store: str | os.PathLike | None = None,
) -> list[Transform]:
    """The transforms ``vaearr train`` builds from its options, in a sensible order.

    Background subtraction (on raw values, over the full sample; it also rescales), then crop,
    resize and 3D patch, then scaling (``"[0,1]"`` or ``"[-1,1]"``: from the dtype range, or
    each sample's min..max for float data) or standardisation, then augmentation (a random
    flip of the last dim and a small random affine).

    Parameters
    ----------
    ds
        The store, open (for the variable's dtype).
    store
        The store's path, needed for ``subtract_background`` (streams the mean pattern).
    """
    out: list[Transform] = []
    ranges = {"[0,1]": (0.0, 1.0), "[-1,1]": (-1.0, 1.0)}
    if scale is not None and scale not in ranges:
        raise InputError(store, f"scale must be one of {', '.join(ranges)}, got {scale!r}")
    out_range = ranges.get(scale or "[0,1]")
    if subtract_background:
        if store is None:
            raise InputError(None, "subtract_background needs the store's path")
        bg = static_background(store, var, sample_dims, mask)
        out.append(SubtractBackground(bg.astype(np.float32), out_range))
    if crop:
        out.append(center_crop(crop))
    if resize:
        out.append(Resize(resize if isinstance(resize, int) else tuple(resize)))
    if patch:
        out.append(random_patch_3d(patch, seed=seed))
    if standardize:
        out.append(Standardize())
    elif scale is not None and not subtract_background:
        kind = np.dtype(ds[var].dtype).kind
        out.append(Scale(out_range, None if kind in "biu" else "sample"))
    if augment:
        out.append(random_flip((-1,), 0.5, seed=seed))
        out.append(random_affine(5.0, 0.02, seed=seed))
    return out
