"""Prefect flows: ingest, train-vae, encode (with the report at the end), report. Each task is one library call; no logic lives here."""

from __future__ import annotations

from typing import Any

from prefect import flow, task

from flows.params import keyword, options_flow, pinned, with_figures
from vaearr.encoding import encode as encode_store
from vaearr.files import beside_store
from vaearr.io.ebsd import ingest_ebsd
from vaearr.maps.roi import create_roi
from vaearr.options import DEFAULT_FIGURES, FigureOptions, writable_folders
from vaearr.train import TrainConfig, fit
from vaearr.viz.maps import encoded_maps
from vaearr.viz.report import build_report


@task(name="ingest-ebsd")
def ingest_ebsd_task(src: str, store: str, **kwargs: Any) -> str:
    ingest_ebsd(src, store, **kwargs)
    return store


@task(name="roi")
def roi_task(store: str, **kwargs: Any) -> dict:
    return create_roi(store, **kwargs).info


@task(name="fit")
def fit_task(config: dict, resume: bool) -> dict:
    result = fit(TrainConfig.from_dict(config), resume=resume, progress=False, report=print)
    return {"run": str(result.run), "epochs": len(result.history), "best_epoch": result.best_epoch,
            "best_val_loss": result.best_val_loss, "last": result.history[-1] if result.history else {},
            "notes": result.notes}


@task(name="encode")
def encode_task(store: str, run: str, out: str | None = None, figures: FigureOptions = DEFAULT_FIGURES,
                **kwargs: Any) -> dict:
    result = encode_store(store, run, progress=False, **kwargs)
    result.figures = encoded_maps(store, kwargs.get("name", "latent"), out, figures=figures)
    return {"variables": result.variables, "n_encoded": result.n_encoded, "checkpoint_sha256": result.checkpoint_sha256}


@task(name="report")
def report_task(store: str, out: str, run: str | None = None, analyses: list[str] | None = None) -> dict:
    result = build_report(store, out, run=run, analyses=analyses or [])
    return {"report": str(result.path), "sections": result.sections, "size_mb": round(result.size_mb, 2)}


@flow(name="ingest", log_prints=True)
@pinned
def ingest(
    src: str,
    store: str,
    dataset: str | None = None,
    bandcontrast: str | None = None,
    elements: str | None = None,
    phase: str | None = None,
    roi_otsu: bool = False,
    overwrite: bool = False,
) -> dict:
    """Ingest an EBSD map (patterns + CSV tables) and, optionally, make the Otsu ROI."""
    ingest_ebsd_task(src, store, dataset=dataset, bandcontrast=bandcontrast, elements=elements, phase=phase,
                     overwrite=overwrite)
    info = roi_task(store, otsu=True, overwrite=overwrite) if roi_otsu else {}
    print(f"ingested {src} into {store}")
    return {"store": store, "roi": info}


def _train_vae(**params: Any) -> dict:
    """Train a VAE on a store variable (``vaearr train``); returns the run summary.

    Its parameters are the fields of :class:`vaearr.train.TrainConfig` (``store``, ``run``,
    ``epochs``, ``model``, ``latent_dim``, ``model_options``...) and ``resume``.
    """
    resume = params.pop("resume", False)
    summary = fit_task(params, resume)
    print(f"trained {params.get('model', 'conv-vae')} for {summary['epochs']} epochs; best epoch {summary['best_epoch']}")
    return summary


train_vae = options_flow("train-vae", TrainConfig, _train_vae, extra=[keyword("resume", bool, False)])


@flow(name="encode", log_prints=True)
@pinned
@with_figures
def encode(store: str, run: str, name: str = "latent", out: str | None = None, export: str | None = None,
           overwrite: bool = False, report: str | None = None, dask: str | None = None,
           figure_options: FigureOptions = DEFAULT_FIGURES) -> dict:
    """Write a run's latents into the store (``vaearr encode``; ``out``: the folder of the latent maps); with
    ``report`` (a folder), end with ``vaearr report`` of the store and run there. ``dask``: a dask.distributed
    scheduler's address (``tcp://host:8786``) to encode on that cluster (``vaearr encode --dask``)."""
    writable_folders(out=out, export=export, report=report)  # before the latents are committed
    summary = encode_task(store, run, name=name, out=out, export=export, overwrite=overwrite, dask=dask,
                          figures=figure_options)
    print(f"encoded {summary['n_encoded']} samples into {store}:{name}")
    if report is not None:
        summary["report"] = report_task(store, report, run=run)["report"]
        print(f"report: {summary['report']}")
    return summary


@flow(name="report", log_prints=True)
@pinned
def report(store: str, out: str | None = None, run: str | None = None, analyses: list[str] | None = None) -> dict:
    """One self-contained HTML page of a store and its run (``vaearr report``), at the end of a pipeline; ``out``
    default ``STORE_report`` beside the store."""
    out = str(beside_store(store, "report")) if out is None else out
    writable_folders(out=out)
    summary = report_task(store, out, run=run, analyses=analyses)
    print(f"report: {summary['report']} ({summary['size_mb']} MB)")
    return summary


FLOWS = (ingest, train_vae, encode, report)
