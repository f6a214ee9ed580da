"""Prefect flows: ingest, roi, train-vae, encode (with the report at the end), report, export. Each task is one library call; no logic lives here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task

from flows.params import keyword, options_flow
from vaearr.analysis.options import ReportOptions
from vaearr.encoding import encode as encode_store
from vaearr.encoding_options import EncodeOptions
from vaearr.io.ebsd import ingest_ebsd
from vaearr.io.export import export_store
from vaearr.io.options import ExportOptions, IngestEbsdOptions
from vaearr.maps.options import RoiOptions
from vaearr.maps.roi.roi import RoiResult
from vaearr.options import DEFAULT_FIGURES, FigureOptions, build, check_declared, writable_folders
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
def encode_task(options: EncodeOptions, dask: str | None = None, figures: FigureOptions = DEFAULT_FIGURES) -> dict:
    result = encode_store(options.store, options.run, **options.keywords(), progress=False, dask=dask)
    result.figures = encoded_maps(options.store, options.name, options.out, figures=figures)
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


def _encode(**params: Any) -> dict:
    """Write a run's latents into the store (``vaearr encode``; ``out``: the folder of the latent maps); with
    ``report`` (a folder), end with ``vaearr report`` of the store and run there. ``dask``: a dask.distributed
    scheduler's address (``tcp://host:8786``) to encode on that cluster (``vaearr encode --dask``). Its other
    parameters are the fields of :class:`vaearr.encoding_options.EncodeOptions`."""
    report, dask, figures = params.pop("report"), params.pop("dask"), params.pop("figure_options")
    options = build(EncodeOptions, params)
    options.check()
    writable_folders(out=options.out, export=options.export, per_subject=options.per_subject,
                     report=report)  # before the latents are committed
    summary = encode_task(options, dask, figures)
    print(f"encoded {summary['n_encoded']} samples into {options.store}:{options.name}")
    if report is not None:
        summary["report"] = report_task(ReportOptions(store=options.store, out=Path(report),
                                                      run=Path(options.run)))["report"]
        print(f"report: {summary['report']}")
    return summary


encode = options_flow("encode", EncodeOptions, _encode, figures=True,
                      extra=[keyword("report", str | None, None), keyword("dask", str | None, None)])


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


def _export(**params: Any) -> dict:
    """Results out (``vaearr export``): orientations to ``.ang``/``.ctf``/orix HDF5, or maps to a CSV table; its
    parameters are the fields of :class:`vaearr.io.options.ExportOptions`."""
    options = build(ExportOptions, params)
    check_declared(options)
    result = export_store(options)
    print(result.summary())
    return {"file": str(options.out)}


export = options_flow("export", ExportOptions, _export)


FLOWS = (ingest, roi, train_vae, encode, report, export)
