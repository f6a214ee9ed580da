"""Joint clustering of one latent dim with band contrast inside a mask: labels, a figure, CSV/JSON, a store variable.

:func:`~vaearr.analysis.cluster_methods.cluster_points` clusters rows of features with a method of
:data:`~vaearr.analysis.cluster_methods.CLUSTERERS`: a Gaussian mixture (k given, or chosen by BIC/AIC
over a range), k-means (k given, or chosen by silhouette over a range), DBSCAN (``eps`` given, or
taken at the elbow of the sorted k-distances) or HDBSCAN (features standardised first, so ``eps``
is in standard deviations). :func:`joint_cluster` takes (latent dim, band contrast) of
every pixel in a mask (or an x/y window), or two vectors from NPY/CSV files whose lengths must
equal the mask's, and writes (``tag`` defaults to ``{method}_dim{dim}``):

* ``{out}/cluster_map__{tag}.html`` / ``.png``: the map (one fixed hue per cluster, or the
  colours given, brightness the latent value within the cluster between its 2nd and 98th
  percentiles, dark → light; noise grey) beside the (latent, band contrast) scatter in the same colours;
* ``{out}/cluster_assignments__{tag}.csv``: ``x, y, latent, bandcontrast, cluster``;
* ``{out}/cluster_report__{tag}.json``: method, parameters (automatic choices with their scores), counts, output paths;
* a ``cluster_{tag}(y, x)`` variable (−1 noise, −2 outside the mask) in the store.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import xarray as xr
from matplotlib.colors import to_rgb

from vaearr.analysis.cluster_methods import check_settings, cluster_points
from vaearr.analysis.options import ClusterOptions, ClusterSettings, check_clip
from vaearr.errors import InputError, StoreError
from vaearr.maps.roi.roi import make_roi
from vaearr.progress import bar
from vaearr.options import renamed_keywords, take_renamed
from vaearr.store import open_store, refuse_inputs, write_variables
from vaearr.store.schema import AUTO_MASK, auto_mask, no_variable

#: Colour of noise points (label −1).
NOISE_RGB = (0.62, 0.62, 0.62)
#: Scatter points drawn at most (a seeded sample beyond; the CSV keeps every pixel).
MAX_SCATTER = 20000


def palette(k: int, colors: Sequence[str] | None = None) -> np.ndarray:
    """``(k, 3)`` RGB: the ``colors`` given (cluster 0 the first), else tab10/tab20."""
    if colors:
        return np.array([to_rgb(c) for c in colors[:max(k, 1)]] + [NOISE_RGB] * max(0, k - len(colors)))
    base = matplotlib.colormaps["tab10" if k <= 10 else "tab20"]
    return np.array([base(i % base.N)[:3] for i in range(max(k, 1))])


def check_colors(colors: Sequence[str] | None) -> list[str] | None:
    """The colour names/hex codes as given, or an :class:`InputError` naming the first that is no colour.

    Examples
    --------
    >>> check_colors(["red", "#00ff00"])
    ['red', '#00ff00']
    """
    if colors is None:
        return None
    colors = [str(c).strip() for c in colors if str(c).strip()]
    if not colors:
        raise InputError(None, "`colors` is empty; give names or hex codes like red,#00ff00")
    for c in colors:
        try:
            to_rgb(c)
        except ValueError:
            raise InputError(None, f"`colors`: '{c}' is not a colour (a name like red or a hex code like #00ff00)") from None
    return colors


def cluster_colors(labels: np.ndarray, magnitude: np.ndarray, *, colors: Sequence[str] | None = None,
                   clip: tuple[float, float] = (2.0, 98.0)) -> np.ndarray:
    """RGB per point: the cluster's hue, darker → lighter with ``magnitude`` within the cluster.

    ``colors``: one colour per cluster (cluster 0, the largest, first); default tab10/tab20.
    ``clip``: the percentiles of each cluster's values that span dark → light (values beyond
    are clipped), so a few outliers do not wash the rest out.

    Examples
    --------
    >>> rgb = cluster_colors(np.array([0, 0, -1]), np.array([0.0, 1.0, 5.0]))
    >>> bool(rgb[1].sum() > rgb[0].sum()), rgb[2].tolist() == list(NOISE_RGB)
    (True, True)
    """
    labels = np.asarray(labels)
    mag = np.asarray(magnitude, dtype=np.float64)
    k = int(labels.max()) + 1 if labels.size and labels.max() >= 0 else 0
    pal = palette(k, colors)
    rgb = np.tile(np.asarray(NOISE_RGB), (labels.size, 1))
    for c in range(k):
        sel = labels == c
        v = mag[sel]
        lo, hi = np.nanpercentile(v, clip) if v.size else (0.0, 1.0)
        if not hi > lo and v.size:
            lo, hi = np.nanmin(v), np.nanmax(v)
        t = np.clip((v - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.full(v.size, 0.5)
        dark, light = 0.3 * pal[c], pal[c] + 0.55 * (1.0 - pal[c])
        rgb[sel] = dark + t[:, None] * (light - dark)
    return np.clip(rgb, 0.0, 1.0)


# --------------------------------------------------------------------------------------------
# inputs


def read_vector(path: str | os.PathLike, *, column: str | None = None) -> np.ndarray:
    """One column of numbers from an NPY (1-D, or (n, 1)) or CSV file (header optional).

    A CSV with several columns needs ``column`` (its header name); with one column it is that.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "no such file")
    if p.suffix.lower() == ".npy":
        try:
            v = np.load(p, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise InputError(p, f"not a readable NPY file ({exc})") from None
        v = np.asarray(v)
        if v.ndim == 2 and v.shape[1] == 1:
            v = v[:, 0]
        if v.ndim != 1 or v.dtype.kind not in "fiub":
            raise InputError(p, f"expected a 1-D numeric array, got shape {v.shape} dtype {v.dtype}")
        return v.astype(np.float64)
    with open(p, newline="") as f:
        rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    if not rows:
        raise InputError(p, "empty CSV")

    def numeric(r):
        try:
            [float(c) for c in r]
            return True
        except ValueError:
            return False

    header = None if numeric(rows[0]) else [c.strip() for c in rows[0]]
    body = rows[1:] if header else rows
    ncol = len(body[0]) if body else 0
    if column is not None and header is not None:
        if column not in header:
            raise InputError(p, f"no column '{column}' (columns {header})")
        idx = header.index(column)
    elif ncol == 1:
        idx = 0
    else:
        raise InputError(p, f"{ncol} columns: name the one to use (a header with '{column or 'latent'}')")
    try:
        return np.array([float(r[idx]) for r in body], dtype=np.float64)
    except (ValueError, IndexError):
        raise InputError(p, f"column {idx + 1} has a non-number or a row is short") from None


# --------------------------------------------------------------------------------------------
# the job


@dataclass
class ClusterResult:
    """What :func:`joint_cluster` wrote."""

    labels: np.ndarray
    params: dict
    counts: dict[str, int]
    files: dict[str, Path] = field(default_factory=dict)
    variable: str | None = None
    #: What a figure draws: the map in cluster colours (y, x, rgb; white outside), the scan
    #: coordinates, the clustered points' features ((n, 1) latent, or (n, 2) latent and the
    #: second variable) and their labels; where the report goes.
    map_rgb: np.ndarray | None = None
    xs: np.ndarray | None = None
    ys: np.ndarray | None = None
    points: np.ndarray | None = None
    point_labels: np.ndarray | None = None
    tag: str = ""
    out: Path | None = None
    store_variable: str | None = None
    seed: int = 0
    #: The colours given (``--colors``), cluster 0 first; None: tab10/tab20.
    colors: list[str] | None = None

    def write_report(self) -> Path:
        """``cluster_report__{tag}.json``: method, parameters, counts and every output (rewritten as outputs are added)."""
        self.files["report_json"] = self.out / f"cluster_report__{self.tag}.json"
        report = {"method": self.params["method"], "parameters": self.params, "counts": self.counts,
                  "outputs": {k: str(v) for k, v in self.files.items()}
                  | ({"store_variable": self.store_variable} if self.store_variable else {})}
        self.files["report_json"].write_text(json.dumps(report, indent=2, default=str))
        return self.files["report_json"]

    def summary(self) -> str:
        """A few lines for a terminal."""
        lines = [f"{self.params['method']}: " + ", ".join(f"{k}: {v}" for k, v in self.counts.items())]
        for key, rule in self.params.get("auto", {}).items():
            value = self.params.get(key)
            lines.append(f"  chose {key} = {value:.4g} ({rule})" if isinstance(value, float) else f"  chose {key} = {value} ({rule})")
        lines += [f"  wrote {p}" for p in self.files.values()]
        if self.variable:
            lines.append(f"  store variable: {self.variable}")
        return "\n".join(lines)


def _select_mask(ds: xr.Dataset, mask: str | None, x_range: Any, y_range: Any, store: Any) -> tuple[np.ndarray, str]:
    if (x_range is not None or y_range is not None) and mask not in (None, "roi", AUTO_MASK):
        raise InputError(None, "give a mask or an x/y window, not both")
    mask = auto_mask(ds.data_vars, mask)
    if x_range is not None or y_range is not None:

        m, _ = make_roi(ds, x=x_range, y=y_range, store=store)
        return np.asarray(m.values, bool), f"x={x_range} y={y_range}"
    if mask is None:
        return np.ones((ds.sizes["y"], ds.sizes["x"]), bool), "none"
    if mask not in ds:
        raise StoreError(store, no_variable(mask, ds.data_vars, kind="mask variable"))
    return np.asarray(ds[mask].transpose("y", "x").values, bool), mask


@dataclass
class _Points:
    """The pixels to cluster: the mask, the latent and second values on it, the finite ones' features."""

    m: np.ndarray
    mask_label: str
    lv: np.ndarray
    bv: np.ndarray | None
    keep: np.ndarray
    feats: np.ndarray


def _vectors(o: ClusterOptions, n_mask: int, mask_label: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The latent and second values given as files, checked against the mask's pixel count."""
    if o.latent_vector is None and o.bc_vector is None:
        return None, None
    lv = read_vector(o.latent_vector, column="latent") if o.latent_vector is not None else None
    bv = read_vector(o.bc_vector, column=o.with_var or "bandcontrast") if o.bc_vector is not None else None
    lens = {"latent": None if lv is None else lv.size, "bandcontrast": None if bv is None else bv.size}
    if any(v is not None and v != n_mask for v in lens.values()):
        where = o.latent_vector if (lv is not None and lv.size != n_mask) else o.bc_vector
        raise InputError(where, f"lengths differ: latent vector {lens['latent'] if lens['latent'] is not None else '-'}, "
                                f"band contrast vector {lens['bandcontrast'] if lens['bandcontrast'] is not None else '-'}, "
                                f"mask '{mask_label}' {n_mask} pixels; they must all be equal")
    return lv, bv


def _points(ds: xr.Dataset, o: ClusterOptions) -> _Points:
    """The mask's pixels with finite latent (and second) values, from the store or the vectors given."""
    store, latent, latent_dim = o.store, o.var, o.latent_dim
    m, mask_label = _select_mask(ds, o.mask, o.x_range, o.y_range, store)
    lv, bv = _vectors(o, int(m.sum()), mask_label)
    if lv is None:
        if latent not in ds:
            raise StoreError(store, no_variable(latent, ds.data_vars, kind="latent variable"))
        lat = ds[latent]
        if latent_dim not in lat.dims:
            raise StoreError(store, f"'{latent}' has no '{latent_dim}' dim (dims {lat.dims})")
        coord = lat[latent_dim].values if latent_dim in lat.coords else np.arange(lat.sizes[latent_dim])
        if o.dim not in coord:
            raise InputError(None, f"`dim` {o.dim} is not a {latent_dim} of '{latent}' ({coord.min()}..{coord.max()})")
        lv = np.asarray(lat.sel({latent_dim: o.dim}).transpose("y", "x").values, np.float64)[m]
    if o.with_var is not None and bv is None:
        if o.with_var not in ds:
            raise StoreError(store, f"{no_variable(o.with_var, ds.data_vars)}; `with_var=None` clusters the "
                                    f"latent alone, `with_var='NAME'` with another (y, x) map")
        bv = np.asarray(ds[o.with_var].transpose("y", "x").values, np.float64)[m]
    keep = np.isfinite(lv) & (np.isfinite(bv) if bv is not None else True)
    if keep.sum() < 2:
        raise InputError(None, f"the mask '{mask_label}' has {int(keep.sum())} pixels with finite values; need ≥ 2")
    feats = np.stack([lv[keep], bv[keep]], 1) if bv is not None else lv[keep][:, None]
    return _Points(m, mask_label, lv, bv, keep, feats)


def _write_assignments(path: Path, p: _Points, labels: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> None:
    """``x, y, latent, bandcontrast, cluster`` of every mask pixel (−2: not clustered)."""
    iy, ix = np.nonzero(p.m)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["x", "y", "latent", "bandcontrast", "cluster"])
        bcol = p.bv if p.bv is not None else np.full(len(iy), np.nan)
        for r in range(len(iy)):
            w.writerow([f"{xs[ix[r]]:.6g}", f"{ys[iy[r]]:.6g}", f"{p.lv[r]:.8g}", f"{bcol[r]:.8g}", int(labels[r])])


def _counts(p: _Points, labels_kept: np.ndarray) -> dict[str, int]:
    counts = {"pixels": int(p.m.sum()), "clustered": int(p.keep.sum()), "noise": int((labels_kept == -1).sum()),
              "clusters": int(labels_kept.max() + 1) if (labels_kept >= 0).any() else 0}
    counts.update({f"cluster_{c}": int((labels_kept == c).sum()) for c in range(counts["clusters"])})
    return counts


def joint_cluster(store: str | os.PathLike, options: ClusterOptions | None = None, /, **fields: Any) -> ClusterResult:
    """Cluster (latent dim ``dim``, band contrast) over the mask; figure, CSV, JSON, store variable.

    Parameters
    ----------
    store
        The store.
    options, **fields
        A :class:`ClusterOptions`, or its fields (``store`` aside):

        ``latent``, ``dim``, ``latent_dim``
            Latent variable, the value of its ``latent_dim`` coordinate to use, and that dim's name.
        ``with_var``
            Second feature (``bandcontrast``); None clusters the latent alone.
        ``method``, ``k``, ``k_range``, ``criterion``, ``eps``, ``min_samples``, ``min_cluster_size``, ``cluster_selection_epsilon``, ``seed``
            See :func:`~vaearr.analysis.cluster_methods.cluster_points` (k-means without ``k``
            chooses it by silhouette, DBSCAN without ``eps`` at the k-distance elbow; the choice
            is printed by ``summary()`` and kept in the report and the variable's attrs).
        ``mask``, ``x_range``, ``y_range``
            The pixels: a mask variable, or an x/y window (``"A:B"`` or ``(A, B)``, µm). Pixels
            where the store's latent or band contrast is NaN are left out.
        ``latent_vector``, ``bc_vector``
            NPY/CSV files with the values on the mask's pixels (row-major order) instead of the
            store's; their lengths must equal the number of mask pixels.
        ``out``, ``tag``
            Output folder and the tag in the file names (default ``{method}_dim{dim}``, e.g.
            ``kmeans_dim3``; ``{method}_{file stem}`` with a latent vector).
        ``name``
            Store variable for the labels (−1 noise, −2 outside; default ``cluster_{tag}``);
            ``write=False`` skips it.
        ``colors``, ``shade_clip``
            Cluster colours (cluster 0, the largest, first; at least as many as clusters) and the
            percentiles of each cluster's latent values that span its dark → light shading.

    Raises
    ------
    InputError
        Vectors whose lengths differ from the mask's (the message gives all three), an unknown
        method, a window with no pixels, k above the number of pixels, a bad colour or too few.
    StoreError
        Missing variables, or ``name`` exists without ``overwrite``.
    """
    if options is not None and fields:
        raise TypeError("give a ClusterOptions or its fields, not both")
    o = options if options is not None else ClusterOptions(store=store, **take_renamed(fields, renamed_keywords(ClusterOptions), "joint_cluster"))
    check_settings(o.method, o)  # the name against the registry
    colors = check_colors(o.colors)  # against matplotlib's colours
    o.check()
    shade_clip = check_clip(o.shade_clip)
    tag, name = o.tag_and_name()
    ds = open_store(store)
    if o.write:
        refuse_inputs(ds, [name], store)
    if o.write and name in ds and not o.overwrite:
        raise StoreError(store, f"variable '{name}' exists; pass `overwrite=True` to replace it")
    with bar(total=3, desc="cluster: read, fit, write", unit="step") as steps:
        return _cluster_steps(store, o, ds, name, tag, colors, shade_clip, steps)


def _cluster_steps(store: Any, o: ClusterOptions, ds: xr.Dataset, name: str, tag: str, colors: list[str] | None,
                   shade_clip: tuple[float, float], steps: Any) -> ClusterResult:
    # joint_cluster's work, one progress step each: the points, the fit, the outputs
    p = _points(ds, o)
    steps.update(1)
    n_mask = int(p.m.sum())
    if o.k is not None and not 1 <= o.k <= len(p.feats):
        raise InputError(None, f"`k` {o.k}: the mask '{p.mask_label}' has {len(p.feats)} pixels to cluster; "
                               f"give 1 to {len(p.feats)}")
    settings = {f.name: getattr(o, f.name) for f in dataclasses.fields(ClusterSettings)}
    labels_kept, params = cluster_points(p.feats, o.method, **settings)
    steps.update(1)
    n_clusters = int(labels_kept.max()) + 1 if (labels_kept >= 0).any() else 0
    if colors is not None and len(colors) < n_clusters:
        raise InputError(None, f"`colors` gives {len(colors)} colours for {n_clusters} clusters; give at least {n_clusters}")
    labels = np.full(n_mask, -2, np.int64)  # masked pixels with NaN values: outside, like the rest
    labels[p.keep] = labels_kept
    params.update(latent=o.var, dim=int(o.dim) if np.isscalar(o.dim) else o.dim, with_var=o.with_var,
                  mask=p.mask_label, latent_vector=None if o.latent_vector is None else str(o.latent_vector),
                  bc_vector=None if o.bc_vector is None else str(o.bc_vector), tag=tag, colors=colors,
                  shade_clip=list(shade_clip))

    out = Path(o.out)
    out.mkdir(parents=True, exist_ok=True)
    xs, ys = np.asarray(ds["x"].values, float), np.asarray(ds["y"].values, float)
    files: dict[str, Path] = {"assignments_csv": out / f"cluster_assignments__{tag}.csv"}
    _write_assignments(files["assignments_csv"], p, labels, xs, ys)
    iy, ix = np.nonzero(p.m)
    grid = np.full((*p.m.shape, 3), 1.0)  # outside: white
    grid[iy[p.keep], ix[p.keep]] = cluster_colors(labels_kept, p.lv[p.keep], colors=colors, clip=shade_clip)
    if o.write:
        full = np.full(p.m.shape, -2, np.int64)
        full[p.m] = labels
        da = xr.DataArray(full, dims=("y", "x"), coords={"y": ds["y"].values, "x": ds["x"].values})
        write_variables(store, {name: da}, source=[o.var] + ([o.with_var] if o.with_var else []), config=params,
                        overwrite=o.overwrite,
                        attrs={"noise": -1, "fill_outside_mask": -2, "tag": tag, "method": o.method,
                               **{f"auto_{key}": f"{params[key]} ({rule})" for key, rule in params["auto"].items()},
                               **{key: params[key] for key in ("k", "eps") if key in params}})
    result = ClusterResult(labels=labels, params=params, counts=_counts(p, labels_kept), files=files,
                           variable=name if o.write else None, map_rgb=grid, xs=xs, ys=ys, points=p.feats,
                           point_labels=labels_kept, tag=tag, out=out,
                           store_variable=f"{store}:{name}" if o.write else None, seed=o.seed, colors=colors)
    result.write_report()
    steps.update(1)
    return result
