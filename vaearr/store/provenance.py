"""Which trained run made a variable: :class:`RunReference`, written by ``vaearr encode`` and read back by one function.

An encoded variable (``latent``, ``latent_logvar``, ``latent_recon_error``) keeps in its ``run_reference`` attr the
run folder, the checkpoint and its sha256, the hash of the run's config, the variable and mask the run trained on,
its preprocessing (neighbour averaging among it) and its training window. Every reader — ``spread`` (how each pixel's
input was averaged), the report (the run to show) — asks :func:`run_reference`, which also reads a store written
before the attr existed, from the ``config`` JSON and the ``run``/``checkpoint`` attrs encode wrote then.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import xarray as xr

#: The attr that holds a :class:`RunReference` (JSON).
RUN_REFERENCE_ATTR = "run_reference"
#: The options of a run's ``train`` config that say how its input was preprocessed (the fields of
#: ``vaearr.preprocess.PreprocessOptions`` a run records, and ``preprocess``, the choice that made them).
PREPROCESSING = ("preprocess", "scale", "standardize", "crop", "resize", "subtract_background", "background",
                 "background_operation", "dynamic_background", "dynamic_operation", "average_neighbours",
                 "neighbour_weights", "detector_mask")


def config_json(config: Any) -> str:
    """The text a variable's ``config`` attr keeps of ``config``: JSON, keys sorted (a string as it is; None: ``{}``).

    Examples
    --------
    >>> config_json({"b": 1, "a": (2, 3)})
    '{"a": [2, 3], "b": 1}'
    """
    if config is None:
        return "{}"
    if isinstance(config, str):
        return config
    return json.dumps(config, default=str, sort_keys=True)


@dataclass(frozen=True)
class RunReference:
    """The trained run a variable was encoded with, as ``vaearr encode`` records it.

    ``run``: the run folder; ``checkpoint``, ``checkpoint_sha256``: the checkpoint folder and its weights' sha256;
    ``config_sha256``: the sha256 of the run's config (data, train and model options) as the ``config`` attr keeps
    it; ``var``, ``mask``: what the run trained on (``mask`` None: every sample); ``average_neighbours``: the side of
    the neighbour average of its input (0: none); ``window``: the training window it recorded (None: the whole map);
    ``preprocessing``: the run's preprocessing options (:data:`PREPROCESSING`).

    Examples
    --------
    >>> ref = RunReference.from_config({"data": {"var": "patterns", "mask": "roi"},
    ...                                 "train": {"average_neighbours": 3, "window": "0:8,0:8"}}, run="runs/a")
    >>> ref.average_neighbours, ref.mask, ref.window
    (3, 'roi', '0:8,0:8')
    >>> run_reference(ref.to_attrs()) == ref
    True
    """

    run: str | None = None
    checkpoint: str | None = None
    checkpoint_sha256: str | None = None
    config_sha256: str | None = None
    var: str | None = None
    mask: str | None = None
    average_neighbours: int = 0
    window: str | None = None
    preprocessing: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, run: str | None = None, checkpoint: str | None = None,
                    checkpoint_sha256: str | None = None) -> RunReference:
        """The reference of a run whose config (``{"data": …, "train": …, "model": …}``, as encode writes it in the
        ``config`` attr) is ``config``."""
        data = config.get("data") or {}
        train = config.get("train") or {}
        return cls(run=run or None, checkpoint=checkpoint or None, checkpoint_sha256=checkpoint_sha256 or None,
                   config_sha256=hashlib.sha256(config_json(dict(config)).encode()).hexdigest(),
                   var=data.get("var"), mask=data.get("mask"),
                   average_neighbours=int(train.get("average_neighbours") or 0), window=train.get("window"),
                   preprocessing={k: train[k] for k in PREPROCESSING if k in train})

    def to_attrs(self) -> dict[str, str]:
        """The attrs that keep it: ``{"run_reference": JSON}``."""
        return {RUN_REFERENCE_ATTR: json.dumps(dataclasses.asdict(self), default=str, sort_keys=True)}


def run_reference(source: xr.Dataset | xr.DataArray | Mapping[str, Any], var: str | None = None
                  ) -> RunReference | None:
    """The run that made ``var`` of a dataset (or a data array, or a variable's attrs): None where its attrs
    record no run (the variable was not encoded, or its record is unreadable).

    Reads the ``run_reference`` attr; a variable written before it existed is read from the ``config`` JSON
    (a run's ``data`` and ``train`` options) and the ``run``, ``checkpoint`` and ``checkpoint_sha256`` attrs.
    """
    if isinstance(source, xr.Dataset):
        if var is None or var not in source.variables:
            return None
        attrs: Mapping[str, Any] = source[var].attrs
    elif isinstance(source, xr.DataArray):
        attrs = source.attrs
    else:
        attrs = source
    if RUN_REFERENCE_ATTR in attrs:
        try:
            d = json.loads(attrs[RUN_REFERENCE_ATTR])
        except (TypeError, ValueError):
            return None
        known = {f.name for f in dataclasses.fields(RunReference)}
        return RunReference(**{k: v for k, v in d.items() if k in known}) if isinstance(d, dict) else None
    return _from_config_attr(attrs)


def _from_config_attr(attrs: Mapping[str, Any]) -> RunReference | None:
    """A store written before ``run_reference``: the run's options in the ``config`` JSON encode wrote."""
    text = attrs.get("config")
    try:
        config = json.loads(text) if isinstance(text, str) and text else {}
    except ValueError:
        config = {}
    config = config if isinstance(config, dict) else {}
    if "checkpoint" not in attrs and "train" not in config:
        return None
    if not isinstance(config.get("train") or {}, dict) or not isinstance(config.get("data") or {}, dict):
        config = {}
    ref = RunReference.from_config(config, run=attrs.get("run"), checkpoint=attrs.get("checkpoint"),
                                   checkpoint_sha256=attrs.get("checkpoint_sha256"))
    # the hash of the config as the attr keeps it (encode wrote it with config_json: the same text)
    return dataclasses.replace(ref, config_sha256=hashlib.sha256(text.encode()).hexdigest() if text else None)
