"""Prefect flows: ingest, roi, train-vae, encode (with the report at the end), report. Each task is one library call; no logic lives here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task

from flows.params import keyword, options_flow, pinned, with_figures
from vaearr.analysis.options import ReportOptions
from vaearr.encoding import encode as encode_store
from vaearr.io.ebsd import ingest_ebsd
from vaearr.io.options import IngestEbsdOptions
from vaearr.maps.options import RoiOptions
from vaearr.maps.roi import RoiResult
from vaearr.options import DEFAULT_FIGURES, FigureOptions, build, writable_folders
from vaearr.train import TrainConfig, fit
from vaearr.viz.maps import encoded_maps
from vaearr.viz.report import build_report
from vaearr.viz.roi import roi_store


@task(name="ingest-ebsd")
def ingest_ebsd_task(options: IngestEbsdOptions) -> str:
    ingest_ebsd(options.src, options.store, options)
    return options.store


@task(name="roi")
def roi_task(options: RoiOptions, figures: FigureOptions = DEFAULT_FIGURES) -> dict:
    result = roi_store(options, figures)
    print(result.summary())
    return {"variable": result.name if isinstance(result, RoiResult) else None,
            "info": result.info if isinstance(result, RoiResult) else {},
            "files": {k: str(v) for k, v in result.files.items()}}


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
def report_task(options: ReportOptions) -> dict:
    result = build_report(options.store, options=options)
    return {"report": str(result.path), "sections": result.sections, "size_mb": round(result.size_mb, 2)}


def _ingest(**params: Any) -> dict:
    """Ingest an EBSD map (patterns + CSV tables, ``vaearr ingest ebsd``) and, with ``roi_otsu``, make the Otsu ROI
    (``vaearr roi --otsu``); its parameters are the fields of :class:`vaearr.io.options.IngestEbsdOptions` and
    ``roi_otsu``."""
    roi_otsu = params.pop("roi_otsu")
    options = build(IngestEbsdOptions, params)
    options.check()
    store = ingest_ebsd_task(options)
    info = roi_task(RoiOptions(store=store, otsu=True, overwrite=options.overwrite))["info"] if roi_otsu else {}
    print(f"ingested {options.src} into {store}")
    return {"store": store, "roi": info}


ingest = options_flow("ingest", IngestEbsdOptions, _ingest, extra=[keyword("roi_otsu", bool, False)])


def _roi(**params: Any) -> dict:
    """A mask from thresholds on a map and x/y ranges (``vaearr roi``), with ``out`` its figures; its parameters are
    the fields of :class:`vaearr.maps.options.RoiOptions`."""
    figures = params.pop("figure_options")
    options = build(RoiOptions, params)
    options.check()
    writable_folders(export=options.export, out=options.out)  # before the store is written
    return roi_task(options, figures)


roi = options_flow("roi", RoiOptions, _roi, figures=True)


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
        summary["report"] = report_task(ReportOptions(store=store, out=Path(report), run=Path(run)))["report"]
        print(f"report: {summary['report']}")
    return summary


def _report(**params: Any) -> dict:
    """One self-contained HTML page of a store and its run (``vaearr report``), at the end of a pipeline; its
    parameters are the fields of :class:`vaearr.analysis.options.ReportOptions` (``out`` default ``STORE_report``
    beside the store)."""
    options = build(ReportOptions, params)
    writable_folders(out=options.out)
    summary = report_task(options)
    print(f"report: {summary['report']} ({summary['size_mb']} MB)")
    return summary


report = options_flow("report", ReportOptions, _report)


FLOWS = (ingest, roi, train_vae, encode, report)
