"""A store in words (``vaearr info``): its variables, masks and how each was made."""

from __future__ import annotations

import os
from typing import Any

import xarray as xr

from vaearr.store.damage import damaged, find_damage
from vaearr.store.store import PROVENANCE_KEYS, open_store
from vaearr.store.transaction import is_url, local_path


def masks(ds: xr.Dataset) -> list[str]:
    """Names of the boolean variables (masks) of a store."""
    return [str(n) for n, v in ds.data_vars.items() if v.dtype == bool]


def describe(store: str | os.PathLike, *, storage_options: dict | None = None) -> str:
    """A readable summary: dims, variables with dtype and chunks, masks, provenance."""
    ds = open_store(store, storage_options=storage_options)
    lines = [f"store: {os.fspath(store)}"]
    if ds.attrs:
        lines.append("attrs: " + ", ".join(f"{k}={_short(v)}" for k, v in sorted(ds.attrs.items())))
    lines.append("dims: " + ", ".join(f"{d}={n}" for d, n in ds.sizes.items()))
    lines.append("coords:")
    for name, c in ds.coords.items():
        vals = c.values
        rng = (f"{vals.min():g} .. {vals.max():g}" if vals.dtype.kind in "fiu" and vals.size
               else _short(", ".join(map(str, vals[:8])) + (", ..." if vals.size > 8 else "")))
        lines.append(f"  {name}({', '.join(map(str, c.dims))}) {c.dtype} {rng}")
    lines.append("variables:")
    mask_names = set(masks(ds))
    broken = {**damaged(ds), **({} if is_url(store) else find_damage(local_path(store), map(str, ds.data_vars)))}
    for name, v in ds.data_vars.items():
        chunks = v.encoding.get("chunks") or v.encoding.get("preferred_chunks")
        kind = " [mask]" if name in mask_names else ""
        lines.append(f"  {name}({', '.join(map(str, v.dims))}) {v.dtype} chunks={tuple(chunks) if chunks else '-'}{kind}")
        if name in broken:
            lines.append(f"      DAMAGED: {broken[name]}")
        elif name in mask_names:
            n = int(v.sum().compute())
            lines.append(f"      {n} of {v.size} True")
        if "pc" in v.attrs and "pc_source" in v.attrs:  # the detector kept with the patterns (vaearr.io.detector)
            pc = "/".join(f"{float(x):.4g}" for x in v.attrs["pc"])
            lines.append(f"      projection centre {pc} (Bruker), sample tilt {float(v.attrs.get('sample_tilt', 70)):g}°,"
                         f" from {v.attrs['pc_source']}")
        if "active_units" in v.attrs and "kl_per_dim" in v.attrs:
            kl = v.attrs["kl_per_dim"]
            lines.append(f"      active units: {v.attrs['active_units']} of {len(kl)} latent dims; "
                         f"KL {sum(kl):.4g} nats (per dim: {', '.join(f'{k:.2g}' for k in kl)})")
        prov = {k: v.attrs[k] for k in PROVENANCE_KEYS if k in v.attrs and v.attrs[k] not in ("", "{}")}
        if prov:
            lines.append("      " + "; ".join(f"{k}={_short(val)}" for k, val in prov.items()))
    return "\n".join(lines)


def _short(v: Any, n: int = 80) -> str:
    s = str(v)
    return s if len(s) <= n else s[: n - 3] + "..."
