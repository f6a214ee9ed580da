"""The analysis and exploration sections of ``vaearr report``, and finding the folders rank, cluster and explore wrote."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from vaearr.analysis.quality import ortho_slices
from vaearr.analysis.ranking import aggregated_rank
from vaearr.run import Run
from vaearr.store.schema import ELEMENT, ELEMENTS, LATENT_DIM, X, Y
from vaearr.viz.core import holoviews
from vaearr.viz.report_media import (
    Section,
    esc,
    image_rows,
    img,
    maps_png,
    small,
    stride_of,
    table,
)

#: Fixed samples reconstructed through the run (evenly spaced over the run's mask).
N_FIXED = 8
#: References shown beside their top latent maps.
TOP_REFERENCES = 6
#: Figures of an explore folder shown (PNG), in this order when present.
EXPLORE_FIGURES = ("reconstruction_grid", "latent_kl_per_dim", "prototypes_heatmap", "prototypes_decoded", "traversal",
                   "pca", "tsne", "umap", "prior_samples", "interpolation")


@dataclass
class Analyses:
    """Output folders of ``vaearr rank``, ``vaearr cluster`` and ``vaearr explore`` that belong to a store."""

    rank: list[Path] = field(default_factory=list)
    cluster: list[Path] = field(default_factory=list)
    explore: list[Path] = field(default_factory=list)

    def all(self) -> list[Path]:
        return [*self.rank, *self.cluster, *self.explore]


def kind_of(folder: Path) -> str | None:
    """``rank``, ``cluster`` or ``explore`` by the files in ``folder``, else None."""
    if not folder.is_dir():
        return None
    if (folder / "association.json").is_file() or (folder / "association.csv").is_file():
        return "rank"
    if any(folder.glob("cluster_report__*.json")):
        return "cluster"
    summary = folder / "summary.json"
    if summary.is_file():
        try:
            s = json.loads(summary.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        if isinstance(s, dict) and "figures" in s and "n_samples" in s:
            return "explore"
    return None


def find_analyses(given: list[Path], near: list[Path], store: Path) -> Analyses:
    """The folders ``given`` (any kind) plus those right inside the folders ``near`` (the store's and
    the run's parents) that hold rank, cluster or explore outputs of this store."""
    found = Analyses()
    seen: set[Path] = set()
    candidates = list(given)
    for parent in near:
        if parent.is_dir():
            candidates += sorted(p for p in parent.iterdir() if p.is_dir() and not p.name.endswith(".zarr"))
    for folder in candidates:
        key = folder.resolve()
        kind = kind_of(folder)
        if kind is None or key in seen:
            continue
        if kind == "explore" and folder not in given:
            s = json.loads((folder / "summary.json").read_text())
            if s.get("store") and Path(s["store"]).resolve() != store.resolve():
                continue  # another store's exploration
        seen.add(key)
        getattr(found, kind).append(folder)
    return found


# --------------------------------------------------------------------------------------------
# analyses


def _reference_map(ds: xr.Dataset, ref: str) -> xr.DataArray | None:
    if ref in ds and ds[ref].dims == (Y, X) or (ref in ds and set(ds[ref].dims) == {Y, X}):
        return ds[ref]
    if ELEMENTS in ds and ELEMENT in ds[ELEMENTS].dims and ref in ds[ELEMENT].values:
        return ds[ELEMENTS].sel({ELEMENT: ref})
    base, _, idx = ref.rpartition("_")
    for name in (base, f"{base}_weights"):
        if idx.isdigit() and name in ds and ds[name].ndim == 3 and {Y, X} <= set(ds[name].dims):
            dim = next(d for d in ds[name].dims if d not in (Y, X))
            if int(idx) < ds.sizes[dim]:
                return ds[name].isel({dim: int(idx)})
    return None


def _top_maps(ds: xr.Dataset, assoc: xr.DataArray, agg: xr.DataArray, latent: str, s: int) -> Any:
    refs = [str(r) for r in assoc["reference"].values]
    plain = [r for r in refs if not r.rpartition("_")[2].isdigit()]
    shown = (plain + [r for r in refs if r not in plain])[:TOP_REFERENCES]
    lat = small(ds[latent], s)
    rows = []
    for ref in shown:
        rmap = _reference_map(ds, ref)
        if rmap is None:
            continue
        rows.append((f"reference: {ref}", small(rmap, s).transpose(Y, X), "viridis"))
        order = np.argsort(agg.sel(reference=ref).values, kind="stable")[:3]
        for rank, i in enumerate(order, 1):
            d = assoc[LATENT_DIM].values[i]
            rows.append((f"#{rank}: dim {d} (mean rank {float(agg.sel(reference=ref).values[i]):.1f})",
                         lat.sel({LATENT_DIM: d}).transpose(Y, X), "cividis"))
    return maps_png(rows, cols=4) if rows else None


def analyses_section(ds: xr.Dataset, found: Analyses) -> Section | None:
    hv = holoviews()
    sec = Section("analyses", "Analyses")
    s = stride_of(ds)
    if "association" in ds and {LATENT_DIM, "reference", "metric"} <= set(ds["association"].dims):
        assoc = ds["association"].load()
        agg = aggregated_rank(assoc)
        metrics = [str(m) for m in assoc["metric"].values]
        rows = []
        for ref in assoc["reference"].values:
            for i, d in enumerate(assoc[LATENT_DIM].values):
                rows.append((str(ref), int(d), float(agg.sel(reference=ref).values[i]),
                             *[float(assoc.sel(reference=ref, metric=m).values[i]) for m in metrics]))
        rows.sort(key=lambda r: (r[0], r[2]))
        latent = json.loads(assoc.attrs.get("config", "{}")).get("latent", "latent") if assoc.attrs.get("config") else "latent"
        sec.html(f"<h3>association ranking</h3><p>{len(rows)} (reference, latent dim) pairs over "
                 f"{assoc.attrs.get('n_pixels', '?')} pixels; mean rank over the {len(metrics)} metrics (lower is "
                 "better). Click a header to sort.</p>")
        sec.html(table(["reference", "latent_dim", "mean_rank", *metrics], rows, sortable=True, id="ranking",
                       scroll=True))
        if latent in ds and {Y, X} <= set(ds[latent].dims):
            tops = _top_maps(ds, assoc, agg, latent, s)
            if tops is not None:
                sec.html("<h3>top latent maps per reference</h3>" + img(tops, "each reference (row) beside its three "
                         "best latent dims by mean rank", width=1100))
    if "partition_agreement" in ds and ds["partition_agreement"].ndim == 3:
        pa = ds["partition_agreement"].load()
        dset, dpart, dscore = pa.dims
        for score in pa[dscore].values:
            sub = pa.sel({dscore: score})
            rows = [(str(ls), *[float(v) for v in sub.sel({dset: ls}).values]) for ls in pa[dset].values]
            sec.html(table([str(dset), *map(str, pa[dpart].values)], rows, sortable=True,
                           caption=f"partition agreement ({score}) of the latent-set clusterings with each partition"))
        heat = hv.HeatMap([(str(p), str(ls), float(pa.sel({dscore: pa[dscore].values[0], dpart: p, dset: ls})))
                           for p in pa[dpart].values for ls in pa[dset].values], [str(dpart), str(dset)], ["agreement"])
        sec.fig(heat.opts(title=f"partition agreement ({pa[dscore].values[0]})", cmap="viridis", colorbar=True,
                          frame_width=300, frame_height=360, tools=["hover"], backend="bokeh"))
    for folder in found.cluster:
        for rep in sorted(folder.glob("cluster_report__*.json")):
            tag = rep.stem.split("__", 1)[1]
            r = json.loads(rep.read_text())
            counts = r.get("counts", {})
            p = r.get("parameters", {})
            sec.html(f"<h3>cluster {esc(tag)}</h3><p>{esc(r.get('method', p.get('method', '')))} on "
                     f"{esc(p.get('latent', ''))}[{esc(p.get('dim', ''))}]"
                     + (f" with {esc(p['with_var'])}" if p.get("with_var") else "")
                     + f", k = {esc(p.get('k', '?'))} ({esc(p.get('criterion', ''))}); <code>{esc(rep)}</code></p>")
            sec.html(table(["cluster", "pixels"], [(k, int(v)) for k, v in counts.items() if k.startswith("cluster_")]
                           + [("noise", int(counts.get("noise", 0)))], sortable=True))
            png = folder / f"cluster_map__{tag}.png"
            if png.is_file():
                sec.html(img(png, f"cluster_map__{tag}: the map beside the clustered features", width=900))
    for var in [n for n, v in ds.data_vars.items() if "tag" in v.attrs and "noise" in v.attrs]:
        if any((f / f"cluster_report__{ds[var].attrs['tag']}.json").is_file() for f in found.cluster):
            continue
        v = np.asarray(ds[var].values)
        labels, counts = np.unique(v[v >= -1], return_counts=True)
        sec.html(f"<h3>cluster counts: {esc(var)}</h3>" + table(["cluster", "pixels"],
                 [("noise" if lab == -1 else int(lab), int(c)) for lab, c in zip(labels, counts, strict=True)], sortable=True))
    return sec if sec.blocks else None


# --------------------------------------------------------------------------------------------
# exploration


def fixed_reconstructions(run: Run, ds: xr.Dataset) -> tuple[str, Any] | None:
    """Inputs and reconstructions of :data:`N_FIXED` samples evenly spread over the run's mask, through the run."""
    d = run.data
    if d.var not in ds or not set(d.sample_dims) <= set(ds[d.var].dims):
        return None
    shape = tuple(ds.sizes[s] for s in d.sample_dims)
    if d.mask and d.mask in ds:
        inside = np.flatnonzero(np.asarray(ds[d.mask].transpose(*d.sample_dims).values, bool).ravel())
    else:
        inside = np.arange(int(np.prod(shape)))
    if not inside.size:
        return None
    pick = inside[np.unique(np.linspace(0, inside.size - 1, min(N_FIXED, inside.size)).round().astype(int))]
    chosen = np.zeros(int(np.prod(shape)), bool)
    chosen[pick] = True
    sel = xr.DataArray(chosen.reshape(shape), dims=d.sample_dims, name="report_samples")
    xs, recs = [], []
    for batch in run.encode(ds, mask=sel, batch_size=N_FIXED):
        xs.append(batch.x.float().cpu().numpy())
        recs.append(batch.recon.float().cpu().numpy())
    x, rec = np.concatenate(xs), np.concatenate(recs)
    at = [", ".join(f"{s}={ds[s].values[i]}" if s in ds.coords else f"{s}={i}"
                    for s, i in zip(d.sample_dims, np.unravel_index(p, shape), strict=True)) for p in pick]
    clim = run.data_range
    if x.ndim == 5:  # volumes: three orthogonal slices of the first two samples
        rows = []
        for j in range(min(2, len(x))):
            rows.append((f"input {j}", ortho_slices(x[j, 0])))
            rows.append((f"recon {j}", ortho_slices(rec[j, 0])))
        fig = image_rows(rows, title="orthogonal slices (axial, coronal, sagittal) of the middle of fixed samples", clim=clim)
        return "orthogonal slices", fig
    fig = image_rows([("input", x[:, 0]), ("reconstruction", rec[:, 0])],
                     title="fixed samples: " + "; ".join(at[:4]) + ("; ..." if len(at) > 4 else ""), clim=clim)
    return "inputs and reconstructions", fig


def exploration_section(ds: xr.Dataset | None, run: Run | None, found: Analyses) -> Section | None:
    sec = Section("exploration", "Exploration")
    if run is not None and ds is not None:
        made = fixed_reconstructions(run, ds)
        if made is not None:
            what, fig = made
            sec.html(f"<h3>{esc(what)} through the run</h3>" + img(fig, f"{what} of {N_FIXED} fixed samples "
                     f"(evenly spread over the mask), encoded and decoded by {run.path.name}", width=1000))
    for folder in found.explore:
        s = json.loads((folder / "summary.json").read_text())
        sec.html(f"<h3>vaearr explore: <code>{esc(folder)}</code></h3><p>{esc(s.get('n_samples'))} samples</p>")
        q = s.get("quality")
        if isinstance(q, dict):
            flat = {k: v for k, v in q.items() if isinstance(v, int | float)}
            for k, v in q.items():
                if isinstance(v, dict):
                    flat.update({f"{k}.{kk}": vv for kk, vv in v.items() if isinstance(vv, int | float)})
            if flat:
                sec.html(table(["metric", "value"], list(flat.items()), caption="reconstruction quality"))
        names = {Path(f).stem for f in s.get("figures", [])}
        for stem in [*EXPLORE_FIGURES, *sorted(names - set(EXPLORE_FIGURES))]:
            png = folder / f"{stem}.png"
            if stem in names and png.is_file():
                sec.html(img(png, stem, width=900))
    return sec if sec.blocks else None


__all__ = ["Analyses", "N_FIXED", "analyses_section", "exploration_section", "find_analyses", "fixed_reconstructions",
           "kind_of"]
