"""A run's training window: chosen from the map (:mod:`vaearr.maps.roi.window`), its patterns written beside the run,
and checked once trained (the reconstruction error outside the window against inside).

A run trained on a window keeps the window's patterns (neighbour-averaged when the run averages) in
``window.zarr`` inside the run folder and reads its batches there: the map's store is not written by
training at all. What was chosen, and why, is ``window.json``; the box is also the run's ``window``
option, so every checkpoint folder knows it. ``vaearr encode`` then averages the map's patterns as it
reads them (:meth:`NeighbourAverage.stream <vaearr.maps.roi.neighbours.NeighbourAverage.stream>`), the
same values the window was trained on, and writes the latents of the whole map.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from vaearr.batches import ZarrBatches
from vaearr.batches.spec import channel_axis, to_channels_first
from vaearr.errors import InputError
from vaearr.files import write_bytes_whole
from vaearr.maps.roi.neighbours import NeighbourAverage, fit_store
from vaearr.maps.roi.window import MIN_SIDE, Window, check_request, choose_window, from_boxes, read_bands
from vaearr.options import WindowRequest, parse_window
from vaearr.batches import DataSpec
from vaearr.run import Run
from vaearr.store import open_store, write_variables
from vaearr.store.schema import MAP_DIMS, PX, PY
from vaearr.train.config import TrainConfig

#: Files of a windowed run.
WINDOW_FILE = "window.json"
WINDOW_STORE = "window.zarr"
#: The check: the mean reconstruction error of patterns outside the window at most this many times that of
#: patterns inside, measured on at most CHECK_SAMPLES of each.
CHECK_FACTOR = 1.5
CHECK_SAMPLES = 2048
#: Rows a block of the window's average holds at most (its patterns in memory at once).
BLOCK_PATTERNS = 8192
#: Without ``--window``, a (y, x) pattern map with more patterns than this inside the mask trains on ``auto``'s
#: window: the whole of such a map costs more than the window's 4,096 patterns four times over an epoch (a
#: million-pixel map, hours on two cores); a smaller one trains whole, as the science benchmark's maps do.
WINDOW_ABOVE = 16384


def resolve_window(request: WindowRequest | None, cfg: TrainConfig, data: DataSpec,
                   neighbours: NeighbourAverage | None, *, average_neighbours: int = 0) -> Window | None:
    """The window ``request`` (``cfg.window`` parsed, :func:`~vaearr.options.parse_window`) asks for on ``data``
    (None: the whole map, as without the option), for a run that averages its patterns in windows of
    ``average_neighbours`` (0: none; a box at least that size).

    One clear line, before anything is written, for a window on data that is no (y, x) map, a box
    outside the map, a box or size smaller than a pattern neighbourhood, or a box with no pattern inside
    the mask.
    """
    default = request is None and cfg.subset is None and default_window(data)
    if default:
        request = WindowRequest("auto")
    if request is None or request.how == "all":
        return None
    if tuple(data.sample_dims) != MAP_DIMS:
        raise InputError(data.store, f"`window` needs a (y, x) map; '{data.var}' has samples over "
                                     f"{tuple(data.sample_dims)}")
    ds = open_store(data.store)
    shape = (int(ds.sizes[MAP_DIMS[0]]), int(ds.sizes[MAP_DIMS[1]]))
    check_request(request, shape, min_side=max(MIN_SIDE, average_neighbours), where=data.store)
    t0 = time.perf_counter()
    if request.how in ("box", "boxes"):
        v = request.value
        window = from_boxes([v[i:i + 4] for i in range(0, len(v), 4)], shape, request.how)
    else:
        if neighbours is None or neighbours.weighting != "similarity":
            neighbours = fit_store(data.store, data.var, data.mask, size=3, feature_dims=data.feature_dims)
        window = choose_window(data.store, data.var, data.mask, neighbours.features, feature_dims=data.feature_dims,
                               size=tuple(request.value) if request.how == "size" else None, seed=cfg.seed)
        window.info["choose_seconds"] = round(time.perf_counter() - t0, 2)
    if default:
        window.info["default"] = (f"no `window`: the map holds more than {WINDOW_ABOVE} patterns in the mask, so "
                                  f"auto (`window='all'` trains on every one)")
    if data.mask is not None and not (ds[data.mask].transpose(*MAP_DIMS).values.astype(bool) & window.region()).any():
        raise InputError(data.store, f"`window` {request.text()}: no pattern inside the mask '{data.mask}' there")
    return window


def default_window(data: DataSpec) -> bool:
    """Whether ``data`` without ``--window`` trains on ``auto``'s window: a (y, x) map of patterns (py, px) with more
    than :data:`WINDOW_ABOVE` of them inside the mask."""
    if tuple(data.sample_dims) != MAP_DIMS or tuple(data.feature_dims) != (PY, PX):
        return False
    ds = open_store(data.store)
    if data.mask is None:
        n = int(ds.sizes[MAP_DIMS[0]]) * int(ds.sizes[MAP_DIMS[1]])
    else:
        n = int(ds[data.mask].sum().values)
    return n > WINDOW_ABOVE


def window_file(run: str | os.PathLike) -> Path:
    return Path(run) / WINDOW_FILE


def save_window(run: str | os.PathLike, window: Window) -> None:
    path = window_file(run)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_whole(path, json.dumps(window.to_dict(), indent=2) + "\n")  # whole or not at all, a full disk in one line


def load_window(run: str | os.PathLike) -> Window | None:
    """The window a run recorded (None: trained on the whole map, or a run from before windows)."""
    path = window_file(run)
    if not path.exists():
        return None
    try:
        return Window.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(path, f"not a readable window file ({exc})") from None


def window_data(run: str | os.PathLike, data: DataSpec, window: Window, neighbours: NeighbourAverage | None, *,
                write: bool) -> DataSpec:
    """The window's patterns as a store of their own in the run folder (``write``: made now), read by the
    training loaders: ``data.var`` averaged by ``neighbours`` (named as the map's averaged variable would be)
    or as it is, and the mask, over the window's box."""
    path = Path(run) / WINDOW_STORE
    name = neighbours.variable(data.var) if neighbours is not None else data.var
    spec = dataclasses.replace(data, store=str(path))
    if not write:
        return spec
    ds = open_store(data.store)
    da_ = ds[data.var].transpose(*MAP_DIMS, *data.feature_dims)
    ny, nx = da_.shape[:2]
    m = np.asarray(ds[data.mask].transpose(*MAP_DIMS).values, bool) if data.mask else np.ones((ny, nx), bool)
    if window.tiles:
        return _write_tiles(path, spec, data, ds, da_, m, window, neighbours, name)
    ys, xs = window.slices
    box = da_[{MAP_DIMS[0]: ys, MAP_DIMS[1]: xs}]
    rows = max(1, BLOCK_PATTERNS // max(xs.stop - xs.start, 1))
    chunks = (rows, xs.stop - xs.start, *da_.shape[2:])
    if neighbours is not None:
        raw = open_store(data.store, chunks=None)[data.var].transpose(*MAP_DIMS, *data.feature_dims)
        values = neighbours.average_read(lambda a, b: raw[{MAP_DIMS[0]: a, MAP_DIMS[1]: b}].values, box.shape,
                                         [_cuts(box.shape[0], rows), (box.shape[1],), *[(s,) for s in box.shape[2:]]],
                                         da_.dtype, m, origin=(ys.start, xs.start))
        box = box.copy(data=values)
    variables = {name: box.drop_encoding() if hasattr(box, "drop_encoding") else box}
    if data.mask:
        variables[data.mask] = xr.DataArray(m[ys, xs], dims=MAP_DIMS, coords={d: box[d] for d in MAP_DIMS if d in box.coords})
    write_variables(path, variables, source=[f"{data.store}:{data.var}"], config={"window": window.text},
                    group_attrs={k: v for k, v in ds.attrs.items() if isinstance(v, str | int | float | list)},
                    chunks={name: chunks}, overwrite=True, inputs=[name])  # a copy of the map's input
    return spec


def _write_tiles(path: Path, spec: DataSpec, data: DataSpec, ds: xr.Dataset, da_: xr.DataArray, m: np.ndarray,
                 window: Window, neighbours: NeighbourAverage | None, name: str) -> DataSpec:
    """A window of tiles (all of one size) as one (y, x) mosaic: the tiles' patterns, averaged with their neighbours
    on the map as encode will average them, side by side in one row, and the mask over them."""
    tiles = window.tiles
    th, tw = tiles[0][1] - tiles[0][0], tiles[0][3] - tiles[0][2]
    features = tuple(da_.shape[2:])
    mosaic = np.zeros((th, len(tiles) * tw, *features), da_.dtype)
    mask = np.zeros((th, len(tiles) * tw), bool)
    raw = open_store(data.store, chunks=None)[data.var].transpose(*MAP_DIMS, *data.feature_dims)
    for k, (y0, y1, x0, x1) in enumerate(tiles):
        shape = (th, tw, *features)
        if neighbours is not None:
            values = neighbours.average_read(lambda a, b: raw[{MAP_DIMS[0]: a, MAP_DIMS[1]: b}].values, shape,
                                             [(th,), (tw,), *[(n,) for n in features]], da_.dtype, m, origin=(y0, x0))
        else:
            values = np.asarray(raw[{MAP_DIMS[0]: slice(y0, y1), MAP_DIMS[1]: slice(x0, x1)}].values)
        mosaic[:, k * tw:(k + 1) * tw] = values
        mask[:, k * tw:(k + 1) * tw] = m[y0:y1, x0:x1]
    coords = {MAP_DIMS[0]: np.arange(th), MAP_DIMS[1]: np.arange(len(tiles) * tw)}
    variables = {name: xr.DataArray(mosaic, dims=(*MAP_DIMS, *data.feature_dims), coords=coords)}
    if data.mask:
        variables[data.mask] = xr.DataArray(mask, dims=MAP_DIMS, coords=coords)
    write_variables(path, variables, source=[f"{data.store}:{data.var}"], config={"window": window.text},
                    group_attrs={k: v for k, v in ds.attrs.items() if isinstance(v, str | int | float | list)},
                    chunks={name: (th, max(tw, BLOCK_PATTERNS // th // tw * tw), *features)}, overwrite=True,
                    inputs=[name])  # a copy of the map's input: a window made again replaces it
    return spec


def _cuts(n: int, step: int) -> tuple[int, ...]:
    return tuple(min(step, n - i) for i in range(0, n, step))


def training_data(run: Run) -> DataSpec:
    """What the run's loaders read: the window's store for a windowed run, else the run's data."""
    box = parse_window(run.train.get("window"))
    if box is not None and box.how in ("box", "boxes") and (run.path / WINDOW_STORE).exists():
        return dataclasses.replace(run.data, store=str(run.path / WINDOW_STORE))
    return run.data


# --------------------------------------------------------------------------------------------
# the check: reconstruction error outside the window against inside


def _recon_errors(run: Run, model: Any, patterns: np.ndarray, axis: int | None, device: Any) -> np.ndarray:
    """Mean squared reconstruction error of each of ``patterns (n, *features)`` in model-input units."""
    out = []
    for start in range(0, len(patterns), 256):
        x = torch.from_numpy(np.ascontiguousarray(to_channels_first(patterns[start:start + 256], axis))).to(device)
        x = run.preprocess(x)
        with torch.inference_mode():
            mu, _ = model.encode(x)
            out.append(((model.decode(mu).float() - x.float()) ** 2).flatten(1).mean(1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def outside_patterns(run: Run, window: Window, *, n: int = CHECK_SAMPLES, seed: int = 0) -> np.ndarray:
    """Up to ``n`` patterns of the map inside its mask and outside the window, as the run reads them (averaged
    when it averages), from bands of rows spread over the map."""
    return map_patterns(run, n=n, seed=seed, outside=window.region())


def map_patterns(run: Run, *, n: int, seed: int = 0, outside: np.ndarray | None = None) -> np.ndarray:
    """Up to ``n`` patterns of the run's map inside its mask (and not in ``outside``, a bool ``(y, x)``
    region), as the run reads them (averaged when it averages), from bands of rows spread over the map:
    a seeded choice of ``n`` when the bands hold more."""
    d = run.data
    ds = open_store(d.store)
    raw = open_store(d.store, chunks=None)[d.var].transpose(*MAP_DIMS, *d.feature_dims)
    ny, nx = (int(s) for s in raw.shape[:2])
    m = np.asarray(ds[d.mask].transpose(*MAP_DIMS).values, bool) if d.mask else np.ones((ny, nx), bool)
    keep = m if outside is None else m & ~outside
    avg = run.preprocess.neighbours
    found = []
    for a, b in read_bands(ny, nx, budget=max(4 * n, 8 * nx), rows=1):
        if not keep[a:b].any():
            continue
        if avg is None:
            block = np.asarray(raw[{MAP_DIMS[0]: slice(a, b)}].values)
        else:
            block = next(iter(avg.stream(lambda ys: raw[{MAP_DIMS[0]: ys}].values, (ny, nx), m, rows=b - a,
                                          start=a, stop=b)))[1]
        found.append(block[keep[a:b]])
    patterns = np.concatenate(found, 0) if found else np.zeros((0, *raw.shape[2:]), raw.dtype)
    if len(patterns) > n:
        patterns = patterns[np.sort(np.random.default_rng(seed).choice(len(patterns), n, replace=False))]
    return patterns


def check_window(run: Run, model: Any, window: Window, *, device: Any = "cpu", seed: int = 0) -> dict[str, Any]:
    """The reconstruction error of up to :data:`CHECK_SAMPLES` patterns inside the window (those it trained
    on) and outside (spread over the map), their ratio, and whether it is within :data:`CHECK_FACTOR`."""
    t0 = time.perf_counter()
    d = training_data(run)
    var = run.preprocess.source_variable(d.var)
    loader = ZarrBatches(d.store, var=var, sample_dims=d.sample_dims, feature_dims=d.feature_dims, mask=d.mask,
                         batch_size=CHECK_SAMPLES, shuffle=False, split="all", dtype=None, channels_first=False,
                         subset=min(CHECK_SAMPLES, _inside(d)), seed=seed)
    with loader:
        inside = np.concatenate([x.numpy() for x in loader], 0)
    axis = channel_axis(open_store(d.store)[var].coords, d.feature_dims)
    model = model.to(device).eval()
    e_in = _recon_errors(run, model, inside, axis, device)
    e_out = _recon_errors(run, model, outside_patterns(run, window, seed=seed), axis, device)
    result: dict[str, Any] = {"inside": round(float(e_in.mean()), 6), "n_inside": int(len(e_in)),
                              "factor": CHECK_FACTOR, "seconds": 0.0}
    if len(e_out):
        ratio = float(e_out.mean() / max(e_in.mean(), 1e-12))
        result.update(outside=round(float(e_out.mean()), 6), n_outside=int(len(e_out)), ratio=round(ratio, 4),
                      holds=bool(ratio <= CHECK_FACTOR))
    result["seconds"] = round(time.perf_counter() - t0, 2)
    return result


def _inside(d: DataSpec) -> int:
    ds = open_store(d.store)
    return int(ds[d.mask].sum()) if d.mask else int(np.prod([ds.sizes[s] for s in d.sample_dims]))


def describe_check(check: dict[str, Any]) -> str:
    """One line on the window's check, e.g. ``window check: reconstruction error outside 1.08 × inside (…)``."""
    if "ratio" not in check:
        return "window check: no pattern outside the window to compare"
    verdict = "within" if check["holds"] else "MORE than"
    return (f"window check: reconstruction error outside the window {check['ratio']:.2f} × inside "
            f"({check['n_outside']} and {check['n_inside']} patterns; {verdict} the {check['factor']:g}× allowed)")
