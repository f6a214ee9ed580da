"""Any map variable of a store drawn as the report draws it, and one pixel's values: what ``ds.vaearr`` hands off to.

:func:`variable_map` takes a ``(y, x)`` map, an ``(y, x, rgb)`` IPF map, or a map with one more dim (a latent's
``latent_dim``, ``element``…) and draws it with :func:`~vaearr.viz.maps.image_map` (x to the right, y downward,
axes in µm with a scale bar, units on the colour bar), one entry of the extra dim or all of them as a grid; a
latent on the one colour range symmetric about 0 that the report and ``encode --out`` use.
:func:`at_point` is the pixel nearest a point given in the scan's units (a pattern, a latent vector).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from vaearr.errors import InputError
from vaearr.store.schema import LATENT_DIM, RGB, X, Y
from vaearr.viz.maps import LATENT_CMAP, image_map, latent_range, map_grid
from vaearr.viz.orientations import ipf_element, ipf_keys


def _extra_dims(da: xr.DataArray) -> list[str]:
    return [str(d) for d in da.dims if d not in (Y, X)]


def selected(da: xr.DataArray, dim: Any = None) -> xr.DataArray:
    """``da`` at ``dim`` along its one dim beside ``y`` and ``x``: by that dim's coordinate label (``"Ni"`` of
    ``element``, ``3`` of ``latent_dim``), or by position where it has no coordinate; ``da`` itself for None.

    Examples
    --------
    >>> el = xr.DataArray(np.zeros((2, 3, 4)), dims=("element", "y", "x"), coords={"element": ["Ni", "Cr"]}, name="el")
    >>> selected(el, "Cr").dims, selected(el, "Cr").name
    (('y', 'x'), 'el')
    """
    if dim is None:
        return da
    extra = _extra_dims(da)
    if len(extra) != 1:
        raise InputError(None, f"'{da.name}' has dims {tuple(da.dims)}: dim= picks along one dim beside y and x")
    (d,) = extra
    if d not in da.coords:
        if not isinstance(dim, int | np.integer) or not 0 <= dim < da.sizes[d]:
            raise InputError(None, f"'{da.name}' has {da.sizes[d]} entries along '{d}': dim= takes 0 to {da.sizes[d] - 1}")
        return da.isel({d: int(dim)})
    labels = da[d].values.tolist()
    if dim not in labels:
        shown = ", ".join(map(str, labels[:12])) + (", …" if len(labels) > 12 else "")
        raise InputError(None, f"'{da.name}' has no {d} {dim!r}; it has {shown}")
    return da.sel({d: dim})


def variable_map(da: xr.DataArray, dim: Any = None, **options: Any):
    """A HoloViews figure of a store variable, drawn as every map of vaearr is (:func:`~vaearr.viz.maps.image_map`).

    Parameters
    ----------
    da
        A map: ``(y, x)``; ``(y, x, rgb)`` colours (an IPF map); or ``(y, x)`` and one more dim (``latent_dim``,
        ``element``, ``component``…), drawn at ``dim`` or, with ``dim`` None, as a grid of every entry.
    dim
        The entry of the extra dim to draw (:func:`selected`).
    **options
        :func:`~vaearr.viz.maps.image_map`'s (``title``, ``cmap``, ``clim``, ``nan_color``…); for a grid
        :func:`~vaearr.viz.maps.map_grid`'s (``cols``…) too. A latent (``latent_dim``) defaults to the report's
        colour map and its one range symmetric about 0 over every dim (:func:`~vaearr.viz.maps.latent_range`).

    Examples
    --------
    >>> lat = xr.DataArray(np.random.rand(3, 4, 2) - 0.5, dims=("y", "x", "latent_dim"), name="latent")
    >>> type(variable_map(lat, 1)).__name__, type(variable_map(lat)).__name__
    ('Image', 'Layout')
    """
    if Y not in da.dims or X not in da.dims:
        raise InputError(None, f"'{da.name}' is not a map: its dims are {tuple(da.dims)}, not (y, x, …)")
    if set(da.dims) == {Y, X, RGB}:
        return ipf_element(da.load(), title=str(options.get("title") or da.name), insets=ipf_insets(da))
    if LATENT_DIM in da.dims:
        options.setdefault("cmap", LATENT_CMAP)
        options.setdefault("clim", latent_range(da))
    one = selected(da, dim)
    if dim is not None:
        options.setdefault("title", f"{da.name} {_extra_dims(da)[0]}={dim}")
    extra = _extra_dims(one)
    if not extra:
        return image_map(one.transpose(Y, X).load(), **options)
    if len(extra) > 1:
        raise InputError(None, f"'{da.name}' has dims {tuple(da.dims)}: more than one beside y and x (a pattern "
                               "stack? draw one pixel's with ds.vaearr.pattern(x=, y=))")
    return map_grid(one.transpose(extra[0], Y, X).load(), extra[0], **options)


def ipf_insets(ipf: xr.DataArray) -> list[tuple[str, np.ndarray]]:
    """The colour keys of an IPF map as insets (:func:`~vaearr.viz.orientations.ipf_keys`), from the Laue groups and
    the sample direction its attrs hold (``vaearr orientation-maps``, ``index``); none for other colour maps."""
    groups = ipf.attrs.get("laue_groups")
    if not isinstance(groups, dict) or not groups:
        return []
    phases = [{"id": int(pid), "name": f"phase {pid}", "point_group": laue} for pid, laue in groups.items()]
    return [(title, image) for _, title, _, image in ipf_keys(phases, str(ipf.attrs.get("sample_direction", "z")))]


def at_point(da: xr.DataArray, x: float, y: float) -> xr.DataArray:
    """``da`` at the pixel nearest ``(x, y)``, given in the scan's units (µm): a pattern ``(py, px)``, a latent
    vector, a value. A point beyond the scan by more than half a pixel is one :class:`~vaearr.errors.InputError`.

    Examples
    --------
    >>> da = xr.DataArray(np.arange(6.0).reshape(2, 3), dims=("y", "x"), coords={"y": [0, 1.5], "x": [0, 1.5, 3]})
    >>> float(at_point(da, x=1.4, y=1.6))
    4.0
    """
    where = {}
    for dim, value in ((X, x), (Y, y)):
        if dim not in da.dims:
            raise InputError(None, f"'{da.name}' has no '{dim}' dim: its dims are {tuple(da.dims)}")
        c = np.asarray(da[dim].values, float) if dim in da.coords else np.arange(da.sizes[dim], dtype=float)
        half = abs(float(c[1] - c[0])) / 2 if c.size > 1 else 0.5
        if not np.isfinite(value) or value < c.min() - half or value > c.max() + half:
            raise InputError(None, f"{dim}={value:g} is outside the scan ({dim} from {c.min():g} to {c.max():g})")
        where[dim] = int(np.abs(c - value).argmin())
    return da.isel(where).load()
