"""The options of ``vaearr info`` and ``vaearr verify``, declared once (:mod:`vaearr.options`): the command line and
the Python steps (:func:`vaearr.info`, :func:`vaearr.verify`) derive theirs from these."""

from __future__ import annotations

from dataclasses import dataclass

from vaearr.options import opt


@dataclass(frozen=True, kw_only=True)
class InfoOptions:
    """Everything ``vaearr info`` and :func:`vaearr.info` take (:func:`~vaearr.store.describe`)."""

    store: str = opt(help="A vaearr store.", flags=())


@dataclass(frozen=True, kw_only=True)
class VerifyOptions:
    """Everything ``vaearr verify`` and :func:`vaearr.verify` take (:func:`~vaearr.store.verify.verify_store`)."""

    store: str = opt(help="A zarr store.", flags=())
