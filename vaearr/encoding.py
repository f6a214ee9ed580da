"""Latents (and reconstruction error) of a trained run, written back into the store.

The notebook's step is :func:`vaearr.encode` (:func:`vaearr.api.encode`), which calls :func:`encode`.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Any

import dask
import dask.array as dsa
import numpy as np
import torch
import xarray as xr

from vaearr.encoder import encode_batch, in_place
from vaearr.errors import InputError, StoreError
from vaearr.options import check_values
from vaearr.models.latent_stats import ACTIVE_THRESHOLD, LatentStats
from vaearr.progress import bar
from vaearr.run import Run
from vaearr.store import check_name, open_store, refuse_inputs, require_whole, write_variables
from vaearr.store.dask_cluster import dask_client
from vaearr.store.provenance import RunReference
# moved to vaearr.latent_files; importable from here too
from vaearr.latent_files import (  # noqa: F401
    export_per_subject, export_latents,
)


@dataclass
class EncodeResult:
    """What :func:`encode` wrote."""

    store: Path | str
    variables: list[str]
    n_encoded: int
    checkpoint: Path
    checkpoint_sha256: str
    figures: list[Path] = field(default_factory=list)
    exports: list[Path] = field(default_factory=list)
    #: Active latent dims over the encoded samples, and the latent's size (vector latents).
    active_units: tuple[int, int] | None = None
    #: The reconstruction error's grid step (1: every sample) and the samples it was decoded on (None: not written).
    recon_stride: int = 1
    recon_samples: int | None = None

    def summary(self) -> str:
        lines = [f"encoded {self.n_encoded} samples with {self.checkpoint} (sha256 {self.checkpoint_sha256[:12]})",
                 f"wrote {', '.join(self.variables)} to {self.store}"]
        if self.active_units is not None:
            lines.append(f"  active units: {self.active_units[0]} of {self.active_units[1]} latent dims")
        if self.recon_samples is not None and self.recon_stride > 1:
            share = self.recon_samples / max(self.n_encoded, 1)
            lines.append(f"  reconstruction error on a grid, one sample in {self.recon_stride} along each dim: "
                         f"{self.recon_samples} of {self.n_encoded} ({share:.1%}), NaN between "
                         f"(`recon_stride=1`: every one)")
        lines += [f"  {p}" for p in self.figures + self.exports]
        return "\n".join(lines)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def encode(
    store: str | Path,
    run: str | Path,
    *,
    name: str = "latent",
    checkpoint: str = "best",
    logvar: bool = False,
    recon_error: bool = True,
    recon_stride: int | None = None,
    batch_size: int | None = None,
    device: str = "cpu",
    num_workers: int = 0,
    export: str | Path | None = None,
    per_subject: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    dask: str | None = None,  # named as the option (--dask): this function does not use the dask module
) -> EncodeResult:
    """Encode every sample inside the run's mask and write the latents into the store.

    Writes (one transaction):

    * ``{name}``: the posterior mean, ``(*sample_dims, latent_dim)`` for vector latents
      (``latent(y, x, latent_dim)`` on a map, ``latent(sample, latent_dim)`` for images) or
      ``(*sample_dims, latent_channel, l0, l1[, l2])`` for spatial latents (AutoencoderKL);
      NaN outside the mask;
    * ``{name}_logvar`` (with ``logvar=True``), same layout;
    * ``{name}_recon_error``: mean squared reconstruction error per sample, in the units of
      the network's input (after the run's scaling), NaN outside the mask. Exact on every sample up to
      :data:`RECON_SAMPLES` inside the mask; beyond that (or with ``recon_stride``) on the grid of every
      ``recon_stride``-th sample along each sample dim, NaN between (the decoder costs 2.2× the encoder): the
      attrs ``recon_error_stride`` and ``recon_error_samples`` say which, the summary its mean.

    Each carries ``run`` (the run folder), ``checkpoint``, ``checkpoint_sha256``, the run's
    config and its :class:`~vaearr.store.provenance.RunReference` (``run_reference``, read by
    :func:`~vaearr.store.provenance.run_reference`) in attrs (:func:`vaearr.viz.maps.latent_maps` draws the maps). ``export`` writes ``latents_full.npy`` (full grid, NaN
    outside), ``latents_roi.npy`` (rows in C order of the masked samples), ``coords.csv``
    (the sample coordinates of those rows) and ``recon_error_full.npy``. ``per_subject`` writes one
    file per sample named by its id (:func:`export_per_subject`).

    ``dask`` (a dask.distributed scheduler's address): the cluster's workers encode one band of whole
    chunks per task, keep the results and write them; only per-band statistics come back here.
    ``batch_size``: samples per batch (default :data:`~vaearr.encoder.ENCODE_BATCH` of the device: 128 on a CPU).
    """
    check_name(name, "latent name (`name`)")
    check_values(batch_size=(batch_size, {"min": 1}))
    batch_size = encode_batch("cpu" if dask else device, batch_size)
    r = Run.open(run)
    if per_subject is not None and len(r.data.sample_dims) != 1:
        raise InputError(per_subject, f"`per_subject` needs one sample dim (subject, sample); the run has "
                                      f"{', '.join(r.data.sample_dims)}")
    ds = open_store(store)
    r.check(ds, where=store)
    require_whole(ds, [r.data.var, r.data.mask], store)  # before any work
    sample_dims, mask = r.data.sample_dims, r.data.mask
    refuse_inputs(ds, [name, f"{name}_logvar", f"{name}_recon_error"], store)  # before any work
    for var in (name, f"{name}_logvar", f"{name}_recon_error"):
        if var in ds and not overwrite:
            raise StoreError(store, f"variable '{var}' exists; pass `overwrite=True` to replace it")

    ckpt = r.checkpoint_path(checkpoint)
    model = in_place(r.model(checkpoint, device=device))
    latent_shape = tuple(int(s) for s in model.latent_shape)
    inside = int(np.prod([ds.sizes[d] for d in sample_dims])) if mask is None else int(ds[mask].sum())
    layout = _Layout(ds, sample_dims, latent_shape)
    stride = decode_stride(inside, len(sample_dims), recon_stride) if recon_error else 1
    with dask_client(dask) as client:
        with bar(total=inside, desc="encoding", unit="sample") if progress else contextlib.nullcontext() as pbar:
            if client is None:
                parts, stats, n = _encode_here(r, store, model, layout, logvar=logvar, recon_error=recon_error,
                                               stride=stride, batch_size=batch_size, num_workers=num_workers,
                                               pbar=pbar)
            else:  # the workers encode bands of whole chunks and keep them; they write them too (below)
                parts, stats, n = _encode_on_cluster(client, store, run, checkpoint, r, ds, layout, logvar=logvar,
                                                     recon_error=recon_error, stride=stride, batch_size=batch_size,
                                                     pbar=pbar)
        variables = {f"{name}{suffix}": layout.dataarray(a) for suffix, a in parts.items()}
        decoded = _on_grid_count(ds, mask, sample_dims, stride) if recon_error else None
        if decoded is not None:
            variables[f"{name}_recon_error"].attrs.update(recon_error_stride=stride, recon_error_samples=decoded)
        sha = _sha256(ckpt / "model.safetensors")
        config = {"data": asdict(r.data), "train": r.train, "model": r.model_config}
        reference = RunReference.from_config(config, run=str(run), checkpoint=str(ckpt), checkpoint_sha256=sha)
        attrs = {"checkpoint": str(ckpt), "checkpoint_sha256": sha, "model": model.config.name,
                 **stats.result(), **({"active_threshold": ACTIVE_THRESHOLD} if stats.n else {}),
                 **reference.to_attrs()}
        mask_da = ds[mask].load() if mask is not None else None
        write_variables(store, variables, mask=mask_da, source=[r.data.var], run=str(run), config=config, attrs=attrs,
                        overwrite=overwrite)
    result = EncodeResult(store=store, variables=list(variables), n_encoded=n, checkpoint=ckpt,
                          checkpoint_sha256=sha, recon_stride=stride, recon_samples=decoded)
    if "active_units" in attrs:
        result.active_units = (attrs["active_units"], len(attrs["kl_per_dim"]))
    if export is not None:
        result.exports = export_latents(open_store(store), name, export, sample_dims=sample_dims, mask=mask)
    if per_subject is not None:
        result.exports += export_per_subject(open_store(store), name, per_subject, factor=_factor(r, latent_shape))
    return result


#: Samples whose reconstruction error ``encode`` decodes at most by default (``recon_stride=None``): every one up to
#: 512², beyond that a regular grid of them, every ``s``-th along each sample dim (every second row and column of a
#: 10⁶-pixel map). The decoder costs 2.2× the encoder (40.4 against 18.8 MFLOP a 60 × 60 pattern, ``BENCHMARKS.md``).
RECON_SAMPLES = 512 * 512


def decode_stride(inside: int, ndim: int, stride: int | None = None) -> int:
    """The step of the grid of samples whose reconstruction error is decoded: ``stride`` where given, else the
    smallest whose grid holds at most :data:`RECON_SAMPLES` of the ``inside`` samples (1: every one)."""
    if stride is not None:
        check_values(recon_stride=(stride, {"min": 1}))
        return int(stride)
    s = 1
    while inside / s ** ndim > RECON_SAMPLES:
        s += 1
    return s


def on_grid(grid_shape: tuple[int, ...], stride: int, row0: int = 0) -> Callable[[np.ndarray], np.ndarray] | None:
    """Which flat indices of a grid ``grid_shape`` (whose first dim starts at row ``row0`` of the whole grid) lie on
    every ``stride``-th sample of each dim; None for a stride of 1 (every sample)."""
    if stride == 1:
        return None

    def decode(index: np.ndarray) -> np.ndarray:
        pos = np.unravel_index(index, grid_shape)
        keep = (pos[0] + row0) % stride == 0
        for p in pos[1:]:
            keep &= p % stride == 0
        return keep

    return decode


def _on_grid_count(ds: xr.Dataset, mask: str | None, sample_dims: tuple[str, ...], stride: int) -> int:
    """Samples inside ``mask`` (all without one) on the grid of every ``stride``-th sample of each dim."""
    grid = {d: slice(None, None, stride) for d in sample_dims}
    if mask is None:
        return int(np.prod([len(range(0, ds.sizes[d], stride)) for d in sample_dims]))
    return int(ds[mask].isel(grid).sum())


class _Layout:
    """Where the latents of a grid of samples go: their array shapes, dims and coordinates."""

    def __init__(self, ds: xr.Dataset, sample_dims: tuple[str, ...], latent_shape: tuple[int, ...]):
        self.sample_dims, self.latent_shape = sample_dims, latent_shape
        self.grid_shape = tuple(int(ds.sizes[d]) for d in sample_dims)
        self.coords = {d: ds[d] for d in sample_dims if d in ds.coords}
        if len(latent_shape) == 1:
            self.ldims: tuple[str, ...] = ("latent_dim",)
            self.lcoords = {"latent_dim": np.arange(latent_shape[0])}
        else:
            self.ldims = ("latent_channel", *(f"l{a}" for a in "zyx"[3 - (len(latent_shape) - 1):]))
            self.lcoords = {"latent_channel": np.arange(latent_shape[0])}

    def empty(self, rows: int | None = None, *, per_sample: bool = False) -> np.ndarray:
        """NaN-filled flat array for the samples of ``rows`` rows of the first sample dim (default all):
        ``(n, *latent_shape)``, or ``(n,)`` with ``per_sample``."""
        grid = (self.grid_shape[0] if rows is None else rows, *self.grid_shape[1:])
        return np.full((int(np.prod(grid)), *(() if per_sample else self.latent_shape)), np.nan, np.float32)

    def unflatten(self, flat: np.ndarray) -> np.ndarray:
        """``(n, ...)`` in C order of the sample dims → ``(*grid, ...)``; the first sample dim may be a band."""
        return flat.reshape(-1, *self.grid_shape[1:], *flat.shape[1:])

    def dataarray(self, a: Any) -> xr.DataArray:
        """A ``(*grid, ...)`` array (numpy or dask) as the variable that is written."""
        extra = a.ndim - len(self.grid_shape)
        return xr.DataArray(a, dims=(*self.sample_dims, *self.ldims[:extra]),
                            coords={**self.coords, **(self.lcoords if extra else {})})


class _Collected:
    """Encoded batches gathered into NaN-filled arrays (``""``: mu, ``"_logvar"``, ``"_recon_error"``)."""

    def __init__(self, layout: _Layout, rows: int | None, *, logvar: bool, recon_error: bool):
        self.parts = {"": layout.empty(rows)}
        if logvar:
            self.parts["_logvar"] = layout.empty(rows)
        if recon_error:
            self.parts["_recon_error"] = layout.empty(rows, per_sample=True)
        self.layout, self.stats, self.n = layout, LatentStats(), 0

    def add(self, b: Any, index: np.ndarray) -> int:
        mu, lv = b.mu.float().cpu().numpy(), b.logvar.float().cpu().numpy()
        self.stats.add(torch.from_numpy(mu), torch.from_numpy(lv))
        self.parts[""][index] = mu
        if "_logvar" in self.parts:
            self.parts["_logvar"][index] = lv
        if "_recon_error" in self.parts:
            self.parts["_recon_error"][index if b.decoded is None else index[b.decoded]] = b.recon_error()
        self.n += len(index)
        return len(index)

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: self.layout.unflatten(v) for k, v in self.parts.items()}


def _encode_here(r: Run, store: Any, model: Any, layout: _Layout, *, logvar: bool, recon_error: bool, stride: int,
                 batch_size: int, num_workers: int, pbar: Any) -> tuple[dict[str, np.ndarray], LatentStats, int]:
    """Every sample inside the run's mask, encoded in this process (the error decoded on every ``stride``-th)."""
    out = _Collected(layout, None, logvar=logvar, recon_error=recon_error)
    for b in r.encode(store, model=model, batch_size=batch_size, num_workers=num_workers, reconstruct=recon_error,
                      decode=on_grid(layout.grid_shape, stride)):
        k = out.add(b, b.index)
        if pbar is not None:
            pbar.update(k)
    return out.arrays(), out.stats, out.n


#: samples one cluster task encodes at least (whole chunks of the first sample dim)
TASK_SAMPLES = 2048


def _bands(ds: xr.Dataset, var: str, sample_dims: tuple[str, ...]) -> list[slice]:
    """Bands of whole chunks along the first sample dim, each of at least :data:`TASK_SAMPLES` samples."""
    first = sample_dims[0]
    step = int(ds[var].chunksizes[first][0]) if ds[var].chunks else int(ds.sizes[first])
    per_row = int(np.prod([ds.sizes[d] for d in sample_dims[1:]])) if len(sample_dims) > 1 else 1
    rows = step * max(1, -(-TASK_SAMPLES // (step * per_row)))
    return [slice(i, min(i + rows, int(ds.sizes[first]))) for i in range(0, int(ds.sizes[first]), rows)]


#: the name of the worker plugin that keeps a worker's runs while an encode runs (:func:`_run_models`)
RUN_MODELS = "vaearr-encode-runs"


def _loaded(run: str, checkpoint: str) -> tuple[Run, Any]:
    r = Run.open(run)
    return r, in_place(r.model(checkpoint, device="cpu"))


def _run_models() -> Any:
    """A dask worker plugin that keeps each worker's runs and their models (two at most), loaded once per worker
    for the bands of an encode: owned by the encode that registers it (:func:`_encode_on_cluster`), which removes
    it when its bands are encoded, so nothing stays in the worker's process."""
    from distributed import WorkerPlugin

    class RunModels(WorkerPlugin):
        name = RUN_MODELS

        def __init__(self) -> None:
            self.loaded: dict[tuple[str, str], tuple[Run, Any]] = {}

        def get(self, run: str, checkpoint: str) -> tuple[Run, Any]:
            key = (run, checkpoint)
            if key not in self.loaded:
                while len(self.loaded) >= 2:
                    del self.loaded[next(iter(self.loaded))]
                self.loaded[key] = _loaded(run, checkpoint)
            return self.loaded[key]

    return RunModels()


def _worker_run(run: str, checkpoint: str) -> tuple[Run, Any]:
    """The run and its model, loaded once per worker while the encode's plugin is there (:func:`_run_models`)."""
    from distributed import get_worker

    models: Any
    try:
        models = get_worker().plugins.get(RUN_MODELS)
    except ValueError:  # not on a worker (a band encoded here)
        models = None
    return models.get(run, checkpoint) if models is not None else _loaded(run, checkpoint)


def encode_band(store: str, run: str, checkpoint: str, band: slice, *, logvar: bool, recon_error: bool,
                batch_size: int, stride: int = 1) -> dict[str, Any]:
    """Encode the samples of one band (rows ``band`` of the first sample dim) inside the run's mask.
    Runs on a cluster worker, which keeps what it returns until it writes it: ``"parts"`` (mu, and
    logvar / recon error when asked, shaped ``(band rows, *rest of the grid, ...)``, NaN outside the
    mask), ``"stats"`` (:class:`LatentStats` of the band) and ``"n"`` (samples encoded). ``store`` comes with
    the run's context where the command gave one (a :class:`~vaearr.context.StoreRef` pickles with it)."""
    # this worker reads its band itself: a dask compute inside a task would go to the cluster, and
    # while this task waited for it the worker would start its next band, and the next (1.2 GB a worker)
    with dask.config.set(scheduler="sync"):
        return _encode_band(store, run, checkpoint, band, logvar=logvar, recon_error=recon_error,
                            batch_size=batch_size, stride=stride)


def _encode_band(store: str, run: str, checkpoint: str, band: slice, *, logvar: bool, recon_error: bool,
                 batch_size: int, stride: int) -> dict[str, Any]:
    r, model = _worker_run(run, checkpoint)
    ds = open_store(store)
    sample_dims = r.data.sample_dims
    layout = _Layout(ds, sample_dims, tuple(int(s) for s in model.latent_shape))
    first = sample_dims[0]
    if not r.preprocess.average_neighbours:
        # the band in memory (whole chunks, read once); its flat indices are the band's own
        source: Any = ds[[v for v in (r.data.var, r.data.mask) if v]].isel({first: band}).load()
        keep: Any = "run"
        offset = 0
        decode = on_grid((band.stop - band.start, *layout.grid_shape[1:]), stride, band.start)
    else:  # neighbour averaging needs the pixels around the band: read through the whole grid
        region = xr.zeros_like(ds[r.data.var].isel({d: 0 for d in r.data.feature_dims}), dtype=bool)
        region[{first: band}] = True
        keep = (region & ds[r.data.mask].astype(bool) if r.data.mask else region).load()
        source, offset = store, band.start * int(np.prod(layout.grid_shape[1:]))
        decode = on_grid(layout.grid_shape, stride)
    out = _Collected(layout, band.stop - band.start, logvar=logvar, recon_error=recon_error)
    with torch.no_grad():
        for b in r.encode(source, mask=keep, model=model, batch_size=batch_size, reconstruct=recon_error,
                          decode=decode):
            out.add(b, b.index - offset)
    return {"parts": out.arrays(), "stats": out.stats, "n": out.n}


def band_summary(result: dict[str, Any]) -> tuple[LatentStats, int]:
    return result["stats"], result["n"]


def band_part(result: dict[str, Any], key: str) -> np.ndarray:
    return result["parts"][key]


def _encode_on_cluster(client: Any, store: Any, run: Any, checkpoint: str, r: Run, ds: xr.Dataset, layout: _Layout,
                       *, logvar: bool, recon_error: bool, stride: int, batch_size: int,
                       pbar: Any) -> tuple[dict[str, Any], LatentStats, int]:
    """Every sample inside the run's mask, encoded by the cluster's workers: one task per band of
    chunks. Only each band's statistics come back here; the latents stay on the workers, as dask
    arrays whose blocks are the bands, and the workers write them (:func:`write_variables`)."""
    bands = _bands(ds, r.data.var, r.data.sample_dims)
    where = store if isinstance(store, str) else str(store)  # a StoreRef as it is: its context goes with it
    client.register_plugin(_run_models())
    try:
        return _bands_on_cluster(client, where, run, checkpoint, bands, layout, logvar=logvar,
                                 recon_error=recon_error, stride=stride, batch_size=batch_size, pbar=pbar)
    finally:
        with contextlib.suppress(ValueError):  # another encode on the cluster removed it already
            client.unregister_worker_plugin(RUN_MODELS)


def _bands_on_cluster(client: Any, where: Any, run: Any, checkpoint: str, bands: list[slice], layout: _Layout, *,
                      logvar: bool, recon_error: bool, stride: int, batch_size: int,
                      pbar: Any) -> tuple[dict[str, Any], LatentStats, int]:
    from distributed import as_completed

    futures = [client.submit(encode_band, where, str(run), str(checkpoint), band, logvar=logvar,
                             recon_error=recon_error, batch_size=batch_size, stride=stride, pure=False)
               for band in bands]
    stats, n = LatentStats(), 0
    for f in as_completed([client.submit(band_summary, f, pure=False) for f in futures]):
        band_stats, k = f.result()
        stats.merge(band_stats)
        n += k
        if pbar is not None:
            pbar.update(k)
    keys = ["", *(["_logvar"] if logvar else []), *(["_recon_error"] if recon_error else [])]
    parts = {}
    for key in keys:
        tail = () if key == "_recon_error" else layout.latent_shape
        parts[key] = dsa.concatenate(
            [dsa.from_delayed(dask.delayed(band_part, pure=True)(f, key), dtype=np.float32,
                              shape=(band.stop - band.start, *layout.grid_shape[1:], *tail))
             for f, band in zip(futures, bands, strict=True)], axis=0)
    return parts, stats, n


def _factor(run: Run, latent_shape: tuple[int, ...]) -> int | None:
    """How many input voxels one latent voxel spans along each axis (spatial latents), else None."""
    spatial = run.preprocess.input_shape[1:]
    if len(latent_shape) < 2 or not latent_shape[1] or spatial[0] % latent_shape[1]:
        return None
    return spatial[0] // latent_shape[1]
