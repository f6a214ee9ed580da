"""An element composite as a store variable: a weighted sum, or an RGB of three element maps.

The EBSD scripts ranked latent dims against a synthetic element map: each chosen element map
min–max normalised to [0, 1], then either a weighted sum (weights normalised to sum 1; equal
weights by default) or an RGB image of up to three elements, compared through its luminance
``0.2126 R + 0.7152 G + 0.0722 B``. :func:`composite_variables` makes the same maps as
``composite(y, x)`` (the scalar map, a reference for ``vaearr rank --against composite``) and,
for RGB, ``composite_rgb(y, x, channel)``; ``vaearr ingest tables --composite Ni=1,Fe=0.5``
(or ``--composite-rgb Ni,Fe,Cr``) writes them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from vaearr.errors import InputError, StoreError
from vaearr.io.tables import Derived
from vaearr.store.schema import CHANNEL, COMPOSITE, COMPOSITE_RGB, ELEMENT, ELEMENTS, no_variable

#: Rec. 709 luminance weights: how the scripts reduced an RGB composite to one map.
LUMINANCE = (0.2126, 0.7152, 0.0722)


def element_composite(
    elements: xr.DataArray,
    *,
    weights: Mapping[str, float] | Sequence[float] | None = None,
    mode: str = "sum",
    dim: str = "element",
    mask: xr.DataArray | None = None,
) -> xr.DataArray:
    """A synthetic element map: channels normalised to [0, 1] (inside ``mask``), then combined.

    Parameters
    ----------
    elements
        ``(element, y, x)`` element maps.
    weights
        Weight per element (name → weight, or one per channel); default equal weights.
    mode
        ``"sum"``: the weighted sum, a ``(y, x)`` map; ``"rgb"``: the first three channels
        (times their weights, clipped to [0, 1]) as a ``(y, x, channel)`` RGB composite.
    dim
        The channel dim.
    mask
        Pixels whose min/max set each channel's normalisation (default all finite ones).

    Examples
    --------
    >>> el = xr.DataArray(np.arange(12.0).reshape(3, 2, 2), dims=("element", "y", "x"),
    ...                   coords={"element": ["Ni", "Cr", "Fe"]})
    >>> element_composite(el, weights={"Ni": 1, "Cr": 0, "Fe": 0}).values.tolist()
    [[0.0, 0.3333333333333333], [0.6666666666666666, 1.0]]
    """
    if dim not in elements.dims:
        raise InputError(None, f"element maps have no '{dim}' dim (dims {elements.dims})")
    names = [str(v) for v in elements[dim].values] if dim in elements.coords else list(map(str, range(elements.sizes[dim])))
    inside = elements.where(mask) if mask is not None else elements
    other = [d for d in elements.dims if d != dim]
    lo, hi = inside.min(other), inside.max(other)
    norm = ((elements - lo) / (hi - lo).where(hi > lo, 1.0)).astype(np.float64)
    if weights is None:
        w = np.ones(len(names))
    elif isinstance(weights, Mapping):
        unknown = set(weights) - set(names)
        if unknown:
            raise InputError(None, f"weights for unknown elements {sorted(unknown)}; the maps have {names}")
        w = np.array([float(weights.get(n, 0.0)) for n in names])
    else:
        w = np.asarray(weights, dtype=float)
        if w.size != len(names):
            raise InputError(None, f"{w.size} weights for {len(names)} elements {names}")
    wda = xr.DataArray(w, dims=dim, coords={dim: elements[dim]} if dim in elements.coords else None)
    if mode == "sum":
        total = w.sum() if w.sum() != 0 else 1.0
        return ((norm * wda).sum(dim, skipna=False) / total).rename("element_composite")
    if mode == "rgb":
        rgb = (norm * wda).isel({dim: slice(0, 3)}).clip(0, 1).rename({dim: "channel"})
        return rgb.transpose(*other, "channel").rename("element_rgb")
    raise InputError(None, f"mode must be 'sum' or 'rgb', got {mode!r}")


def parse_weights(text: str) -> dict[str, float]:
    """``"Ni=1,Fe=0.5"`` → ``{"Ni": 1.0, "Fe": 0.5}``; a name without ``=w`` weighs 1; ``all``: every element.

    Examples
    --------
    >>> parse_weights("Ni=2, Fe"), parse_weights("all")
    ({'Ni': 2.0, 'Fe': 1.0}, {})
    """
    if text.strip().lower() == "all":
        return {}
    out: dict[str, float] = {}
    for item in (t.strip() for t in text.replace(";", ",").split(",")):
        if not item:
            continue
        name, sep, value = (p.strip() for p in item.partition("="))
        try:
            w = float(value) if sep else 1.0
        except ValueError:
            raise InputError(None, f"`composite`: weight of '{name}' is '{value}', not a number "
                                   "(expected e.g. Ni=1,Fe=0.5)") from None
        if not name or not np.isfinite(w):
            raise InputError(None, f"`composite`: '{item}' is not element=weight (e.g. Ni=1,Fe=0.5)")
        if name in out:
            raise InputError(None, f"`composite`: '{name}' is given twice")
        out[name] = w
    if not out:
        raise InputError(None, f"`composite` '{text}' names no element (e.g. Ni=1,Fe=0.5, or all)")
    return out


def _names(da: xr.DataArray) -> list[str]:
    return [str(v) for v in da[ELEMENT].values] if ELEMENT in da.coords else [str(i) for i in range(da.sizes[ELEMENT])]


def composite_variables(
    variables: Mapping[str, xr.DataArray],
    *,
    weights: Mapping[str, float] | None = None,
    rgb: Sequence[str] | None = None,
    mask: str | None = None,
    store: object = "the store",
) -> Derived:
    """The element composite of ``variables["elements"]`` as store variables.

    Parameters
    ----------
    variables
        The store's variables (``elements(element, y, x)``, and ``mask`` if named).
    weights
        Element → weight for the weighted sum; ``{}`` or None: every element, equal weights.
    rgb
        One to three element names as red, green, blue (one: grey; two: blue = their mean, as
        the scripts did); then ``composite`` is the RGB's luminance.
    mask
        Mask variable whose pixels set each element's min–max normalisation; None: all
        finite pixels. The composite covers every pixel.

    Returns
    -------
    Derived
        ``composite(y, x)`` float32 (and ``composite_rgb(y, x, channel)``), with attrs saying
        the mode, elements, normalised weights and normalisation.

    Examples
    --------
    >>> el = xr.DataArray(np.arange(12.0).reshape(3, 2, 2), dims=("element", "y", "x"),
    ...                   coords={"element": ["Ni", "Cr", "Fe"], "y": [0.0, 1.0], "x": [0.0, 1.0]})
    >>> composite_variables({"elements": el}, weights={"Ni": 1, "Cr": 1}).variables["composite"].values.astype(float).round(3).tolist()
    [[0.0, 0.333], [0.667, 1.0]]
    """
    if rgb is not None and weights:
        raise InputError(None, "give `composite` (a weighted sum) or `composite_rgb`, not both")
    if ELEMENTS not in variables:
        raise StoreError(store, "no 'elements' variable in the store to make a composite from; give "
                                "`elements='FILE.csv'`")
    el = variables[ELEMENTS]
    if ELEMENT not in el.dims:
        raise StoreError(store, f"'elements' has dims {el.dims}; expected ({ELEMENT}, y, x)")
    names = _names(el)
    chosen = list(rgb) if rgb is not None else (list(weights) if weights else names)
    unknown = [n for n in chosen if n not in names]
    if unknown:
        raise InputError(None, f"element(s) {unknown} are not in the element maps ({', '.join(names)})")
    if rgb is not None and not (1 <= len(chosen) <= 3 and len(set(chosen)) == len(chosen)):
        raise InputError(None, f"`composite_rgb` takes one to three different elements (R,G,B), got {list(rgb)}")
    m = None
    if mask is not None:
        if mask not in variables:
            raise StoreError(store, f"{no_variable(mask, variables, kind='mask variable')} (to normalise the composite "
                                    "in)")
        m = variables[mask].astype(bool)
    sel = el.isel({ELEMENT: [names.index(n) for n in chosen]})
    attrs: dict = {"elements": chosen, "normalisation": "each element min–max to [0, 1] over "
                   + (f"the mask '{mask}'" if mask else "all finite pixels")}
    out: dict[str, xr.DataArray] = {}
    if rgb is None:
        w = np.array([float((weights or {}).get(n, 1.0)) for n in chosen])
        if w.sum() == 0:
            raise InputError(None, f"`composite` weights sum to 0 ({dict(zip(chosen, w.tolist()))}); they are "
                                   "normalised to sum 1")
        comp = element_composite(sel, weights=w, mask=m, dim=ELEMENT)
        attrs.update(mode="sum", weights=json.dumps(dict(zip(chosen, (w / w.sum()).round(12).tolist()))))
    else:
        chans = element_composite(sel, mode="rgb", mask=m, dim=ELEMENT)  # (y, x, channel), first 3 elements
        chans = chans.drop_vars(CHANNEL, errors="ignore")
        r = chans.isel({CHANNEL: 0})
        g = chans.isel({CHANNEL: 1}) if len(chosen) > 1 else r
        b = chans.isel({CHANNEL: 2}) if len(chosen) > 2 else (0.5 * (r + g) if len(chosen) == 2 else r)
        stack = xr.concat([r, g, b], dim=CHANNEL).assign_coords({CHANNEL: ["R", "G", "B"]})
        image = stack.transpose(*[d for d in stack.dims if d != CHANNEL], CHANNEL).astype(np.float32)
        out[COMPOSITE_RGB] = image.rename(COMPOSITE_RGB).drop_attrs(deep=False).assign_attrs(
            mode="rgb", channels=json.dumps(dict(zip("RGB", chosen + [None] * (3 - len(chosen))))), **attrs)
        comp = sum(c * stack.isel({CHANNEL: i}) for i, c in enumerate(LUMINANCE))
        attrs.update(mode="rgb luminance", luminance="0.2126 R + 0.7152 G + 0.0722 B")
    out[COMPOSITE] = (comp.astype(np.float32).rename(COMPOSITE).drop_vars(ELEMENT, errors="ignore")
                      .drop_attrs(deep=False).assign_attrs(**attrs))
    config = {"composite": {"mode": "rgb" if rgb is not None else "sum", "elements": chosen,
                            **({"weights": dict(weights)} if weights else {}), "mask": mask}}
    return Derived(variables=out, source=[ELEMENTS] + ([mask] if mask else []), config=config)
