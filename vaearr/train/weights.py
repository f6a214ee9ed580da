"""``vaearr import-weights``: a run folder around a script's checkpoint, so encode, explore and layers use it.

The run is made as ``vaearr train`` makes one — the store's variable, its mask, the input
pipeline fitted on it (the script's input range unless ``scale`` says otherwise) — but its
model is the script's network rebuilt as conv-vae (:mod:`vaearr.models.imports`) with the
checkpoint's weights, written to ``best/``. ``imported.json`` records the file, its SHA-256 and
the script.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vaearr.errors import InputError
from vaearr.models.imports import SCRIPTS, load_script_weights
from vaearr.preprocess import PreprocessOptions
from vaearr.batches import DataSpec
from vaearr.run import Run, fit_preprocess
from vaearr.train.config import TrainConfig
from vaearr.train.options import ImportWeightsOptions

IMPORTED_FILE = "imported.json"


def sha256(path: str | os.PathLike) -> str:
    """The file's SHA-256, hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def import_weights(weights: str | os.PathLike, script: str, store: str | os.PathLike, run: str | os.PathLike, *,
                   var: str = "patterns", mask: str | None = "auto", scale: str | None = None,
                   resize: int | None = None, crop: int | None = None,
                   options: Mapping[str, Any] | None = None) -> Run:
    """Make run folder ``run`` from the checkpoint ``weights`` of ``script`` (see :data:`SCRIPTS`).

    Everything is checked (the file, its keys, the input size the store gives) before the run
    folder is written; an existing run folder is an error.

    Raises
    ------
    InputError
        An unknown script, an unreadable or refused checkpoint, keys or shapes that do not fit, a
        run folder that exists.
    """
    if script not in SCRIPTS:
        raise InputError(weights, f"unknown `script` {script!r}; known: {', '.join(SCRIPTS)}")
    run = Path(run)
    if run.exists() and any(run.iterdir()):
        raise InputError(run, "exists and is not empty; import into a new run folder")
    spec = SCRIPTS[script]
    cfg = TrainConfig(store=os.fspath(store), run=os.fspath(run), var=var, mask=mask, model="conv-vae", epochs=0,
                      scale=scale or spec.scale, resize=resize, crop=crop, preprocess="none",
                      model_options=dict(options or {}))
    data = DataSpec.resolve(cfg.store, cfg.var, mask=cfg.mask)
    preprocess = fit_preprocess(data, PreprocessOptions.of(cfg))
    model = load_script_weights(weights, script, preprocess.input_shape, options=options)
    model.config.data_range = "[-1,1]" if cfg.scale == "[-1,1]" else "[0,1]"
    try:
        model.config.validate()
    except InputError as exc:
        raise InputError(weights, f"`scale` {cfg.scale}: {exc.problem}") from None
    cfg = dataclasses.replace(cfg, model_options={k: v for k, v in model.config.to_dict().items()
                                                  if k not in ("name", "input_shape", "latent_dim")},
                              latent_dim=model.config.latent_dim)
    result = Run(run, data=data, train=dataclasses.asdict(cfg), model=model.config.to_dict(), preprocess=preprocess)
    try:
        result.save()
        result.save_best(model)
        record = {"file": os.path.abspath(weights), "sha256": sha256(weights), "from": script, "source": spec.source,
                  "scale": cfg.scale}
        (run / IMPORTED_FILE).write_text(json.dumps(record, indent=2) + "\n")
    except BaseException:
        shutil.rmtree(run, ignore_errors=True)
        raise
    return result


def imported(run: str | os.PathLike) -> dict[str, Any] | None:
    """What :func:`import_weights` recorded in a run folder, or None for a trained run."""
    path = Path(run) / IMPORTED_FILE
    return json.loads(path.read_text()) if path.exists() else None


def import_run(options: ImportWeightsOptions) -> Run:
    """``vaearr import-weights`` and :func:`vaearr.import_weights`: :func:`import_weights` of ``options``."""
    o = options
    return import_weights(o.weights, o.script, o.store, o.run, var=o.var, mask=o.mask, scale=o.scale,
                          resize=o.resize, crop=o.crop, options=o.model_options)


def imported_summary(options: ImportWeightsOptions, run: Run) -> str:
    """The lines ``vaearr import-weights`` prints of the run it made (``script`` as a keyword: the command line says
    ``--from``)."""
    c = run.model_config
    return (f"imported {options.weights} (`script={options.script!r}`) → {options.run}\n"
            f"  conv-vae {'×'.join(map(str, c['input_shape']))} → {c['latent_dim']} latent dims, "
            f"output {c['output']}, inputs scaled to {run.train['scale']}")
