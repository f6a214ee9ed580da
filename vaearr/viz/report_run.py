"""The first sections of ``vaearr report``: the store (its variables and how each was made) and the run (its curves and
window); :mod:`vaearr.viz.report_sections` gives them with the others."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from vaearr.models import config_from_dict
from vaearr.run import Run
from vaearr.train.callbacks import curve_units
from vaearr.train.window import load_window
from vaearr.store import PROVENANCE_KEYS, masks
from vaearr.store.provenance import run_reference
from vaearr.viz.core import both, holoviews
from vaearr.viz.report_media import Section, definitions, esc, img, table


# --------------------------------------------------------------------------------------------
# store


def _json(v: Any) -> Any:
    if isinstance(v, str) and v[:1] in "[{":
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            return v
    return v


def made_by(name: str, attrs: dict) -> str:
    """Which vaearr command wrote a variable: the command line kept in its ``command`` attr (written by the
    ``vaearr`` command), with the step read from the name and attrs when that line is a bigger one (``vaearr
    demo``); the step alone for what the library or a flow wrote."""
    step = _step(name, attrs)
    command = str(attrs.get("command", ""))
    if not command:
        return step
    if step == "—" or command.split()[1:2] == step.split()[1:2]:
        return command
    return f"{step} (in {command})"


def _step(name: str, attrs: dict) -> str:
    config = _json(attrs.get("config", "")) or {}
    config = config if isinstance(config, dict) else {}
    sources = _json(attrs.get("source", "[]")) or []
    ref = run_reference(attrs)
    if ref is not None and ref.checkpoint:
        return "vaearr encode"
    if "level" in attrs and "recrystallised_rule" in attrs:
        return "vaearr spread"
    if "n_regions" in attrs or "flag_meanings" in attrs or "regions" in attrs:
        return "vaearr segment"
    if "criteria" in attrs or "thresholds" in attrs:
        return "vaearr roi"
    if "strength" in attrs or name.endswith(("boundaries", "boundary_strength")):
        return "vaearr boundaries"
    if name.startswith("orientation") or name.startswith("phase_id"):
        return "vaearr index / orientation-maps"
    if "tag" in attrs and "noise" in attrs:
        return "vaearr cluster"
    if "against" in config:
        return "vaearr rank"
    if "methods" in config:
        return "vaearr rank (references)"
    if "method" in attrs and name.endswith(("_weights", "_components")):
        return "vaearr decompose"
    if any(isinstance(s, str) and ("/" in s or "\\" in s or s.startswith("http")) for s in sources):
        return "vaearr ingest"
    return "—"


def _chain(name: str, prov: dict[str, list[str]], seen: frozenset = frozenset()) -> str:
    """``name ← source ← ...`` through the variables' ``source`` attrs (files end the chain)."""
    srcs = [s for s in prov.get(name, []) if s != name and s not in seen]
    if not srcs:
        return esc(name)
    inner = ", ".join(_chain(s, prov, seen | {name}) if s in prov else esc(Path(s).name) for s in srcs)
    return f"{esc(name)} ← ({inner})" if len(srcs) > 1 else f"{esc(name)} ← {inner}"


def store_section(ds: xr.Dataset, store: Path) -> Section:
    sec = Section("store", "Store")
    sec.html(f"<p><code>{esc(store)}</code></p>")
    if ds.attrs:
        sec.html(definitions({k: v for k, v in ds.attrs.items()}))
    sec.html(table(["dim", "size"], [(str(d), int(n)) for d, n in ds.sizes.items()], caption="dims"))
    mask_names = set(masks(ds))
    rows = []
    for name, v in ds.data_vars.items():
        mb = v.size * v.dtype.itemsize / 1e6
        kind = "mask" if name in mask_names else ""
        rows.append((str(name), ", ".join(map(str, v.dims)), " × ".join(map(str, v.shape)), str(v.dtype),
                     round(mb, 3), made_by(str(name), v.attrs), kind))
    sec.html(table(["variable", "dims", "shape", "dtype", "MB", "made by", ""], rows, sortable=True, id="variables",
                   caption="variables (click a header to sort)"))
    prov = {str(n): [str(s) for s in (_json(v.attrs.get("source", "[]")) or [])] for n, v in ds.data_vars.items()
            if "vaearr_version" in v.attrs}
    items = []
    for name, v in ds.data_vars.items():
        if "vaearr_version" not in v.attrs:
            continue
        a = v.attrs
        when = str(a.get("created", ""))
        run = f", run <code>{esc(a['run'])}</code>" if a.get("run") else ""
        mask = f", inside mask <code>{esc(a['mask'])}</code>" if a.get("mask") not in (None, "", "none") else ""
        items.append(f"<li><b>{esc(name)}</b>: {esc(made_by(str(name), a))}, {esc(when)}{run}{mask}"
                     f"<br><span class='chain'>{_chain(str(name), prov)}</span></li>")
    if items:
        sec.html("<h3>provenance</h3><p>Each result, the command that made it, when, and what it was made from "
                 f"(attrs {', '.join(PROVENANCE_KEYS)}).</p><ul class='prov'>" + "".join(items) + "</ul>")
    return sec


# --------------------------------------------------------------------------------------------
# run


def _curve(hist: list[dict], keys: list[str], title: str, ylabel: str):
    hv = holoviews()
    from bokeh.models import BasicTicker  # the viz extra, as HoloViews

    curves = []
    for k, color in zip(keys, ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")):
        pts = [(r["epoch"], r[k]) for r in hist if isinstance(r.get(k), int | float) and np.isfinite(r[k])]
        if pts:  # points too: a run of one epoch is one point, which a line alone does not show
            curves.append(both(hv.Curve(pts, "epoch", ylabel, label=k), dict(color=color),
                               bokeh=dict(tools=["hover"], line_width=2)))
            curves.append(both(hv.Scatter(pts, "epoch", ylabel, label=k), dict(color=color), bokeh=dict(size=6)))
    if not curves:
        return None
    return both(hv.Overlay(curves), dict(title=title), bokeh=dict(frame_width=330, frame_height=220,
                                                                   legend_position="top_right",
                                                                   xticks=BasicTicker(min_interval=1, num_minor_ticks=0)))


def run_section(run: Run) -> Section:
    hv = holoviews()
    sec = Section("run", "Run")
    d = run.data
    sec.html(f"<p><code>{esc(run.path)}</code>: <b>{esc(run.model_config.get('name', '?'))}</b>, latent "
             f"{esc(run.model_config.get('latent_dim', '?'))}, trained on <code>{esc(d.var)}</code> "
             f"({esc(', '.join(d.sample_dims))} samples; mask {esc(d.mask or 'none')})</p>")
    t = run.train
    # "schedule": lr_schedule's name in a run written before the rename
    keys = ("model", "latent_dim", "epochs", "batch_size", "lr", "optimizer", "lr_schedule", "schedule",
            "kl_warmup_epochs", "beta", "seed", "val_fraction", "device", "amp", "resize", "crop", "scale", "standardize")
    sec.html("<h3>config</h3>" + definitions({k: t[k] for k in keys if k in t and t[k] is not None}))
    with_model = {k: v for k, v in run.model_config.items() if not isinstance(v, dict)}
    sec.html("<details><summary>model config</summary>" + definitions(with_model) + "</details>")
    sec.html("<h3>preprocessing</h3><pre>" + esc(run.preprocess.describe()) + "</pre>")
    window = load_window(run.path)
    if window is not None:
        sec.html("<h3>training window</h3>" + definitions(window_items(window)))
    hist = run.history
    if hist:
        secs = [r.get("seconds") for r in hist if isinstance(r.get("seconds"), int | float)]
        best = min((r for r in hist if isinstance(r.get("val_loss"), int | float)), key=lambda r: r["val_loss"],
                   default=None)
        sec.html("<h3>training</h3>" + definitions({
            "epochs": len(hist), "training time (s)": round(sum(secs), 1) if secs else "—",
            "seconds per epoch": round(sum(secs) / len(secs), 2) if secs else "—",
            "device": t.get("device", "—"), "amp": t.get("amp", "—"),
            "best epoch (val loss)": f"{best['epoch']} ({best['val_loss']:.4g})" if best else "—"}))
        units = curve_units(config_from_dict(run.model_config).recon_units())  # nats for a likelihood head
        panels = [p for p in (
            _curve(hist, ["train_loss", "val_loss"], "loss", units["loss"]),
            _curve(hist, ["train_recon_loss", "val_recon_loss"], "reconstruction", units["recon_loss"]),
            _curve(hist, ["train_kl", "val_kl"], "KL", units["kl"]),
            _curve(hist, ["train_active_units", "val_active_units"], "active units", "active units"),
        ) if p is not None]
        last = hist[-1]
        kl = last.get("val_kl_per_dim") or last.get("train_kl_per_dim")
        if isinstance(kl, str):
            kl = json.loads(kl)
        if isinstance(kl, list) and kl:
            bars = hv.Bars([(i, float(v)) for i, v in enumerate(kl)], "latent dim", units["kl"])
            panels.append(both(bars, dict(title=f"KL per dim (epoch {last['epoch']})"),
                               bokeh=dict(frame_width=330, frame_height=220, tools=["hover"])))
        if panels:
            sec.fig(hv.Layout(panels).cols(3))
    previews = sorted(run.previews_dir.glob("epoch_*.png")) if run.previews_dir.is_dir() else []
    if previews:
        sec.html("<h3>reconstructions of fixed samples</h3>" + img(previews[-1], f"previews/{previews[-1].name}: "
                 "the first training samples (top) and their reconstructions (bottom)", width=900))
    elif run.curves_path.exists() and not hist:
        sec.html(img(run.curves_path, "curves.png"))
    return sec


def window_items(window: Any) -> dict[str, Any]:
    """What the report says of a run's training window: the box, how it was chosen, and its check."""
    i, c = window.info, window.check
    y0, y1, x0, x1 = window.box
    where = f"rows {y0}:{y1}, columns {x0}:{x1} ({y1 - y0} × {x1 - x0} of {window.shape[0]} × {window.shape[1]} pixels)"
    if window.tiles:
        t = window.tiles[0]
        where = (f"{len(window.tiles)} tiles of {t[1] - t[0]} × {t[3] - t[2]} spread over the {window.shape[0]} × "
                 f"{window.shape[1]} map ({int(window.region().sum())} pixels): "
                 + "; ".join(f"{a}:{b},{c}:{d}" for a, b, c, d in window.tiles))
    items: dict[str, Any] = {"window": where + (" — the whole map" if window.whole else ""), "chosen": window.how}
    if "grain_size" in i:
        items["characteristic grain size (mean linear intercept)"] = "none measured" if i["grain_size"] is None \
            else f"{i['grain_size']:.1f} px (rows {i['intercept_rows'] or float('nan'):.1f}, columns {i['intercept_columns'] or float('nan'):.1f})"
        items["kinds of region"] = f"{i['kinds']}; the window holds each at ≥ {i['cover']:.2f} of its share of the map " \
                                   f"(KL {i['divergence_nats']:.3f} nats)"
    if "ratio" in c:
        items["check: reconstruction error outside / inside"] = (
            f"{c['ratio']:.2f} ({c['outside']:.4g} / {c['inside']:.4g}; {c['n_outside']} and {c['n_inside']} patterns; "
            f"{'within' if c['holds'] else 'more than'} the {c['factor']:g}× allowed)")
    return items
