"""Rank latent dims against references: association tables, partition agreement, exports and figures.

:func:`rank_latents` is the whole job behind ``vaearr rank``: it makes the PCA/NMF references
if asked and missing, scores every latent dim (and the whole latent) as a mixture partition
against the reference partitions (ARI, NMI), computes ``association(latent_dim, reference,
metric)``, writes both into the store, exports CSV + JSON (top-N per metric, an aggregated
rank) and, for the dims chosen (``dims``, or the top-N over the references), each dim's map as a
``(y, x)`` NPY and a CSV of ``x, y, value`` on the mask (:mod:`vaearr.viz.ranking` draws the
figures: top-N maps beside each reference, a scatter per dim against each reference, and the
chosen dims' maps in pages).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from scipy.stats import rankdata

from vaearr.analysis.association import SIGNED, AssociationOptions, association
from vaearr.analysis.options import RankOptions
from vaearr.errors import InputError, StoreError
from vaearr.maps.decomposition.references import (
    reference_maps,
    write_references,
)
from vaearr.maps.decomposition.masked import mask_array
from vaearr.options import renamed_keywords, take_renamed
from vaearr.store import open_store, require_whole, write_variables
from vaearr.store.schema import PATTERNS, auto_mask, no_variable
# moved to vaearr.analysis.agreement; importable from here too
from vaearr.analysis.agreement import (  # noqa: F401
    partition_agreement,
)


def rank_table(assoc: xr.DataArray, *, latent_dim: str = "latent_dim") -> xr.DataArray:
    """Rank (1 = strongest) of each latent dim per (reference, metric); signed metrics by |value|.

    Examples
    --------
    >>> a = xr.DataArray(np.array([[[0.1]], [[-0.9]], [[0.5]]]), dims=("latent_dim", "reference", "metric"),
    ...                  coords={"latent_dim": [0, 1, 2], "reference": ["Ni"], "metric": ["pearson"]})
    >>> rank_table(a).sel(reference="Ni", metric="pearson").values.tolist()
    [3, 1, 2]
    """

    strength = xr.concat(
        [np.abs(assoc.sel(metric=m)) if str(m) in SIGNED else assoc.sel(metric=m) for m in assoc["metric"].values],
        dim="metric",
    ).transpose(*assoc.dims)
    axis = assoc.dims.index(latent_dim)
    vals = np.nan_to_num(np.asarray(strength.values, dtype=float), nan=-np.inf)
    ranks = rankdata(-vals, axis=axis, method="min").astype(np.int64)
    return xr.DataArray(ranks, dims=assoc.dims, coords=assoc.coords, name="rank")


def aggregated_rank(assoc: xr.DataArray, *, latent_dim: str = "latent_dim") -> xr.DataArray:
    """Mean rank over the metrics, per (latent_dim, reference): the aggregated rank (lower is better)."""
    return rank_table(assoc, latent_dim=latent_dim).mean("metric").rename("mean_rank")


def top_n(assoc: xr.DataArray, n: int = 5, *, latent_dim: str = "latent_dim") -> dict:
    """``{"per_metric": {reference: {metric: [dims]}}, "aggregated": {reference: [{dim, mean_rank}]}}``."""
    ranks = rank_table(assoc, latent_dim=latent_dim)
    agg = aggregated_rank(assoc, latent_dim=latent_dim)
    dims = assoc[latent_dim].values
    per_metric: dict = {}
    aggregated: dict = {}
    for ref in assoc["reference"].values:
        ref = str(ref)
        per_metric[ref] = {}
        for met in assoc["metric"].values:
            r = ranks.sel(reference=ref, metric=met).values
            order = np.argsort(r, kind="stable")[:n]
            per_metric[ref][str(met)] = [{"latent_dim": _py(dims[i]), "value": _py(assoc.sel(reference=ref, metric=met).values[i])}
                                         for i in order]
        mr = agg.sel(reference=ref).values
        order = np.argsort(mr, kind="stable")[:n]
        aggregated[ref] = [{"latent_dim": _py(dims[i]), "mean_rank": float(mr[i])} for i in order]
    return {"per_metric": per_metric, "aggregated": aggregated}


def _py(v):
    v = v.item() if hasattr(v, "item") else v
    return None if isinstance(v, float) and not np.isfinite(v) else v


def export_association(assoc: xr.DataArray, out: str | os.PathLike, *, top: int = 5, stem: str = "association",
                       latent_dim: str = "latent_dim", extra: dict | None = None) -> tuple[Path, Path]:
    """``{stem}.csv`` (``latent_dim, reference, metric, value, rank``) and ``{stem}.json``.

    The JSON holds ``metrics``, ``references``, ``latent_dims``, ``n_pixels``, ``values``
    (reference → metric → list over latent dims), ``top`` (see :func:`top_n`), ``top_n`` and
    whatever ``extra`` adds.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ranks = rank_table(assoc, latent_dim=latent_dim)
    csv_path, json_path = out / f"{stem}.csv", out / f"{stem}.json"
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["latent_dim", "reference", "metric", "value", "rank"])
        for d in assoc[latent_dim].values:
            for ref in assoc["reference"].values:
                for met in assoc["metric"].values:
                    v = float(assoc.sel({latent_dim: d, "reference": ref, "metric": met}).values)
                    rk = int(ranks.sel({latent_dim: d, "reference": ref, "metric": met}).values)
                    w.writerow([_py(d), str(ref), str(met), f"{v:.10g}", rk])
    doc = {
        "metrics": [str(m) for m in assoc["metric"].values],
        "references": [str(r) for r in assoc["reference"].values],
        "latent_dims": [_py(d) for d in assoc[latent_dim].values],
        "n_pixels": assoc.attrs.get("n_pixels"),
        "signed_metrics_ranked_by_absolute_value": sorted(SIGNED & {str(m) for m in assoc["metric"].values}),
        "values": {str(r): {str(m): [_py(v) for v in assoc.sel(reference=r, metric=m).values]
                            for m in assoc["metric"].values} for r in assoc["reference"].values},
        "top_n": top,
        "top": top_n(assoc, top, latent_dim=latent_dim),
        **(extra or {}),
    }
    json_path.write_text(json.dumps(doc, indent=2))
    return csv_path, json_path


def shown_dims(assoc: xr.DataArray, dims: Sequence | None = None, *, top: int = 5,
               latent_dim: str = "latent_dim") -> list:
    """The dims that get per-dim outputs: ``dims`` as given, else ``top`` dims taken in turn from each
    reference's aggregated ranking (every reference's best dim, then every second best...), each once.

    Examples
    --------
    >>> a = xr.DataArray(np.array([[[0.1], [0.9]], [[0.8], [0.0]], [[0.5], [0.2]]]),
    ...                  dims=("latent_dim", "reference", "metric"),
    ...                  coords={"latent_dim": [0, 1, 2], "reference": ["Ni", "bc"], "metric": ["mi"]})
    >>> shown_dims(a, top=2)
    [1, 0]
    >>> shown_dims(a, top=1)
    [1]
    """
    if dims is not None:
        return [_py(d) for d in dims]
    agg = aggregated_rank(assoc, latent_dim=latent_dim)
    order = np.argsort(agg.transpose(latent_dim, "reference").values, axis=0, kind="stable")[:top]
    picked: list = []
    for pos in order.ravel():  # rank 1 of every reference first, then rank 2...
        d = _py(assoc[latent_dim].values[pos])
        if d not in picked:
            picked.append(d)
    return picked[:top]


def check_dims(lat: xr.DataArray, dims: Sequence | str | None, *, latent_dim: str = "latent_dim") -> list | None:
    """``dims`` (``"all"``: every one) if each is a ``latent_dim`` coordinate value of ``lat``, else an :class:`InputError`."""
    if dims is None:
        return None
    coord = lat[latent_dim].values if latent_dim in lat.coords else np.arange(lat.sizes[latent_dim])
    if isinstance(dims, str):
        if dims != "all":
            raise InputError(None, f"`dims` takes whole numbers like 3,7,12 or 'all', got '{dims}'")
        return [_py(d) for d in coord]
    bad = [d for d in dims if d not in coord]
    if bad or not len(dims):
        raise InputError(None, f"`dims` {','.join(map(str, dims)) or '(none)'}: "
                               f"{bad or 'no dims'} not {latent_dim} values of '{lat.name}' ({coord.min()}..{coord.max()})")
    return list(dict.fromkeys(_py(d) for d in dims))


def export_dims(lat: xr.DataArray, mask: xr.DataArray, dims: Sequence, out: str | os.PathLike, *,
                latent_dim: str = "latent_dim") -> dict:
    """Each dim's map as ``{name}_d{dim}.npy`` (``(y, x)`` float32, NaN outside ``mask``) and
    ``{name}_d{dim}.csv`` (``x, y, value`` on the mask's pixels, row-major) in ``out``.

    Returns ``{dim: (npy_path, csv_path)}``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    m = np.asarray(mask.transpose("y", "x").values, bool)
    iy, ix = np.nonzero(m)
    xs, ys = np.asarray(lat["x"].values, float), np.asarray(lat["y"].values, float)
    files = {}
    for d in dims:
        v = np.asarray(lat.sel({latent_dim: d}).transpose("y", "x").values, np.float32)
        v = np.where(m, v, np.float32(np.nan))
        npy, csv_path = out / f"{lat.name}_d{d}.npy", out / f"{lat.name}_d{d}.csv"
        np.save(npy, v)
        with open(csv_path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["x", "y", "value"])
            w.writerows(zip((f"{a:.6g}" for a in xs[ix]), (f"{b:.6g}" for b in ys[iy]), (f"{c:.8g}" for c in v[iy, ix])))
        files[d] = (npy, csv_path)
    return files


# --------------------------------------------------------------------------------------------
# maps


def full_field(values: np.ndarray, mask: xr.DataArray, *, name: str = "value", extra_dim: str | None = None,
               extra_coords: Sequence | None = None) -> xr.DataArray:
    """Put values of the mask's pixels (row-major order) back on the full grid, NaN elsewhere.

    Examples
    --------
    >>> m = xr.DataArray([[True, False], [False, True]], dims=("y", "x"))
    >>> full_field(np.array([1.0, 2.0]), m).values.tolist()
    [[1.0, nan], [nan, 2.0]]
    """
    m = np.asarray(mask.values, bool)
    v = np.asarray(values, dtype=np.float64)
    if v.shape[0] != m.sum():
        raise InputError(None, f"{v.shape[0]} values for a mask of {int(m.sum())} pixels")
    full = np.full((*m.shape, *v.shape[1:]), np.nan)
    full[m] = v
    dims = (*mask.dims, *([extra_dim or "component"] if v.ndim > 1 else []))
    coords = {d: mask[d] for d in mask.dims if d in mask.coords}
    if v.ndim > 1 and extra_coords is not None:
        coords[dims[-1]] = list(extra_coords)
    return xr.DataArray(full, dims=dims, coords=coords, name=name)


# --------------------------------------------------------------------------------------------
# the job


def association_block(
    store: str | os.PathLike,
    *,
    latent: str = "latent",
    against: Sequence[str] = ("elements", "bandcontrast", "pca", "nmf"),
    mask: str = "roi",
    dims: Sequence[int] | None = None,
    metrics: Sequence[str] | None = None,
    trend_order: int = 2,
    latent_dim: str = "latent_dim",
    workers: int = 0,
) -> xr.DataArray:
    """``association(latent_dim, reference, metric)`` for some latent dims (by position), read from the store.

    The unit of work the ``analyze-latents`` flow hands to each dask worker: it opens the
    store itself and loads only the chunks of the dims it scores, so blocks of dims run on
    separate workers and their results concatenate along ``latent_dim``.

    Parameters
    ----------
    dims
        Positions along ``latent_dim`` (default all).
    workers
        Threads inside this block (0: every core; a dask worker with one thread should pass 1).
    """

    ds = open_store(store)
    if latent not in ds:
        raise StoreError(store, no_variable(latent, ds.data_vars, kind="latent variable"))
    m = mask_array(ds, auto_mask(ds.data_vars, mask), ("y", "x"), store)
    opts = AssociationOptions(metrics=tuple(metrics) if metrics else AssociationOptions().metrics,
                              trend_order=trend_order, workers=workers)
    lat = ds[latent] if dims is None else ds[latent].isel({latent_dim: list(dims)})
    refs = reference_maps(ds, against, mask=m, store=store)
    return association(lat, refs, m, latent_dim=latent_dim, options=opts)


@dataclass
class RankResult:
    """What :func:`rank_latents` wrote."""

    association: xr.DataArray
    agreement: xr.DataArray | None
    files: dict[str, Path] = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)
    #: The reference maps the latent was ranked against, ``(reference, y, x)``.
    references: xr.DataArray | None = None
    #: The dims with per-dim outputs (``--dims``, or the top-N over the references) and their
    #: ``(npy, csv)`` exports.
    dims: list = field(default_factory=list)
    dim_files: dict = field(default_factory=dict)

    def summary(self) -> str:
        """The top dim per reference by aggregated rank, and the files."""
        agg = aggregated_rank(self.association)
        lines = [f"association of {self.association.sizes['latent_dim']} latent dims with "
                 f"{self.association.sizes['reference']} references on {self.association.attrs.get('n_pixels')} pixels"]
        for ref in self.association["reference"].values:
            i = int(np.argmin(agg.sel(reference=ref).values))
            lines.append(f"  {ref}: best latent dim {self.association['latent_dim'].values[i]} "
                         f"(mean rank {float(agg.sel(reference=ref).values[i]):.1f})")
        lines += [f"  wrote {p}" for p in [*self.files.values(), *self.figures]]
        if self.dim_files:
            first = next(iter(self.dim_files.values()))[0]
            lines.append(f"  wrote the maps of dims {', '.join(map(str, self.dim_files))} as .npy (y × x) and .csv "
                         f"(x, y, value on the mask) in {first.parent}")
        return "\n".join(lines)


def missing_references(ds: xr.Dataset, against: Sequence[str], *, overwrite: bool = False) -> list[str]:
    """The decompositions among ``against`` that ranking computes first: ``pca`` and ``nmf`` when the store has
    neither the variable nor ``{name}_weights`` from ``vaearr decompose`` (all of them with ``overwrite``).

    Other decompositions (cnmf) need their choices made: :func:`reference_maps` says to run ``vaearr decompose``.

    Examples
    --------
    >>> ds = xr.Dataset({"pca_weights": ("y", [0.0])})
    >>> missing_references(ds, ["pca", "nmf", "bandcontrast"]), missing_references(ds, ["pca"], overwrite=True)
    (['nmf'], ['pca'])
    """
    return [m for m in ("pca", "nmf") if m in against and (m not in ds and f"{m}_weights" not in ds or overwrite)]


def rank_latents(store: str | os.PathLike, options: RankOptions | None = None, /, *,
                 association_result: xr.DataArray | Sequence[xr.DataArray] | None = None, **fields: Any) -> RankResult:
    """References (1), partition agreement (2), associations (3) and full-field maps (4) for ``latent``.

    Writes ``association(latent_dim, reference, metric)`` and ``partition_agreement(latent_set,
    partition, score)`` into the store (replacing earlier ones: they are results of this
    command), and ``association.csv``/``.json`` and ``partition_agreement.json`` into ``out``
    (:func:`vaearr.viz.ranking.rank_figures` draws the top maps).

    ``association_result``: the association already computed (one DataArray, or blocks of
    dims from :func:`association_block` to concatenate along ``latent_dim``), as the
    ``analyze-latents`` flow passes it after running the blocks on dask workers.

    ``options`` (a :class:`~vaearr.analysis.options.RankOptions`) or its fields (``store`` aside) say
    what to rank against. ``dims``: the latent dims (``latent_dim`` values, or ``"all"``) whose maps are
    exported (``export``) into ``out/dims`` and drawn by :func:`vaearr.viz.ranking.rank_figures`; default
    ``top`` dims, taken in turn from each reference's ranking (:func:`shown_dims`). The association
    always covers every dim.
    """
    if options is not None and fields:
        raise TypeError("give a RankOptions or its fields, not both")
    o = options if options is not None else RankOptions(store=os.fspath(store), **take_renamed(fields, renamed_keywords(RankOptions), "rank_latents"))
    o.check()
    latent, against, mask, top, seed, latent_dim = o.var, o.against, o.mask, o.top, o.seed, o.latent_dim
    k_range, criterion, trend_order, metrics, overwrite = o.k_range, o.criterion, o.trend_order, o.metrics, o.overwrite
    ds = open_store(store)
    if latent not in ds:
        raise StoreError(store, no_variable(latent, ds.data_vars, kind="latent variable"))
    mask = auto_mask(ds.data_vars, mask)
    if mask is not None and mask not in ds:
        raise StoreError(store, no_variable(mask, ds.data_vars, kind="mask variable"))
    if not against:
        raise InputError(None, "give at least one reference (`against`)")
    dims = check_dims(ds[latent], o.dims, latent_dim=latent_dim)
    opts = AssociationOptions(metrics=tuple(metrics) if metrics else AssociationOptions().metrics, trend_order=trend_order)
    decomp = missing_references(ds, against, overwrite=overwrite)
    require_whole(ds, [latent, mask, *against, *(f"{a}_weights" for a in against), *([PATTERNS] if decomp else [])],
                  store)  # before any work: nothing is computed from a damaged variable
    if decomp:
        write_references(store, mask=mask, n_components=o.n_components, methods=decomp, k_range=k_range,
                         criterion=criterion, seed=seed, overwrite=overwrite)
        ds = open_store(store)
    m = mask_array(ds, mask, ("y", "x"), store)
    refs = reference_maps(ds, against, mask=m, store=store)
    if association_result is None:
        assoc = association(ds[latent], refs, m, latent_dim=latent_dim, options=opts)
    else:
        blocks = [association_result] if isinstance(association_result, xr.DataArray) else list(association_result)
        assoc = xr.concat(blocks, dim=latent_dim) if len(blocks) > 1 else blocks[0]
        assoc.attrs = dict(blocks[0].attrs)
        if list(assoc["reference"].values) != list(refs["reference"].values) or \
                assoc.sizes[latent_dim] != ds[latent].sizes[latent_dim]:
            raise InputError(None, f"the association given covers {assoc.sizes[latent_dim]} dims × "
                                   f"{list(assoc['reference'].values)}, not the latent's {ds[latent].sizes[latent_dim]} "
                                   f"dims × {list(refs['reference'].values)}")
    variables = {"association": assoc}
    agreement = None
    out = Path(o.out)
    files: dict[str, Path] = {}
    if o.partitions:
        part_names = [f"{p}_gmm" for p in ("pca", "nmf") if f"{p}_gmm" in ds] + [p for p in ("phase",) if p in ds]
        if part_names:
            mm = np.asarray(m.values, bool)
            lv = np.asarray(ds[latent].transpose("y", "x", latent_dim).values, np.float64)[mm]
            ok = np.isfinite(lv).all(1)
            labels = {p: np.asarray(ds[p].transpose("y", "x").values)[mm][ok] for p in part_names}
            agreement, pinfo = partition_agreement(lv[ok], labels, dim_names=ds[latent][latent_dim].values,
                                                   k_range=k_range, criterion=criterion, seed=seed)
            variables["partition_agreement"] = agreement
            mean_ari = agreement.sel(score="ari").mean("partition").drop_sel(latent_set="all")
            order = np.argsort(-mean_ari.values, kind="stable")[:top]
            doc = {"k": pinfo["k"], "partitions": part_names,
                   "scores": {s: {p: {ls: float(agreement.sel(latent_set=ls, partition=p, score=s))
                                      for ls in agreement["latent_set"].values} for p in part_names} for s in ("ari", "nmi")},
                   "top_dims_by_mean_ari": [{"latent_dim": str(mean_ari["latent_set"].values[i]),
                                             "mean_ari": float(mean_ari.values[i])} for i in order]}
            out.mkdir(parents=True, exist_ok=True)
            files["partition_json"] = out / "partition_agreement.json"
            files["partition_json"].write_text(json.dumps(doc, indent=2))
    config = {"latent": latent, "against": list(against), "metrics": list(opts.metrics), "trend_order": trend_order,
              "k_range": list(k_range), "criterion": criterion, "seed": seed}
    write_variables(store, variables, source=[latent, *against], config=config, overwrite=True,
                    attrs={"n_pixels": assoc.attrs["n_pixels"]})
    picked = shown_dims(assoc, dims, top=top, latent_dim=latent_dim)
    dim_files = export_dims(ds[latent], m, picked, out / "dims", latent_dim=latent_dim) if o.export else {}
    files["association_csv"], files["association_json"] = export_association(
        assoc, out, top=top, latent_dim=latent_dim, extra={"store": os.fspath(store), "latent": latent, "mask": mask,
                                                           "dims_shown": picked,
                                                           "dim_exports": {str(d): [str(p) for p in f]
                                                                           for d, f in dim_files.items()}})
    return RankResult(association=assoc, agreement=agreement, files=files, references=refs, dims=picked,
                      dim_files=dim_files)
