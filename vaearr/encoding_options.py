"""The options of ``vaearr encode``, declared once (:mod:`vaearr.options`): the command line, the ``encode`` flow and
:func:`vaearr.encode` derive theirs from :class:`EncodeOptions`.

Only :mod:`vaearr.options` is imported here (no torch), so the ``vaearr`` command builds its parameters in a moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vaearr.options import check_declared, opt


@dataclass(frozen=True, kw_only=True)
class EncodeOptions:
    """Everything ``vaearr encode``, the ``encode`` flow and :func:`vaearr.encode` take: the keywords of
    :func:`vaearr.encoding.encode` (:meth:`keywords`), and ``out``, the folder the interfaces draw the latent maps in
    (:func:`vaearr.viz.maps.encoded_maps`)."""

    store: str = opt(help="Store to encode (the run's variable and mask).", flags=())
    run: Path = opt(help="Training run folder.", flags=("--run", "-r"))
    name: str = opt("latent", "Name of the latent variable.")
    checkpoint: str = opt("best", "best, latest, an epoch number, or a checkpoint folder.")
    logvar: bool = opt(False, "Also write {name}_logvar.", flags=("--logvar",))
    recon_error: bool = opt(True, "Also write {name}_recon_error (decodes the samples: about 2.7× the CPU time of the "
                                  "latents alone for the EBSD conv-vae when it decodes every one).",
                            flags=("--recon-error/--no-recon-error",))
    recon_stride: int | None = opt(None, "Decode the reconstruction error on every Nth sample along each dim, NaN "
                                         "between (default: every sample up to 512², beyond that the smallest N that "
                                         "keeps at most 512²; 1: every one).", min=1)
    batch_size: int | None = opt(None, "Samples per batch (default 128 on a CPU, 1024 on CUDA).", min=1)
    device: str = opt("cpu", "cpu, cuda or cuda:N.")
    num_workers: int = opt(0, "Worker processes decoding the store's chunks (0: in this process).", min=0)
    export: Path | None = opt(None, "Also write latents_full.npy, latents_roi.npy, coords.csv here (data files for "
                                    "other programs).")
    out: Path | None = opt(None, "Folder for the latent maps (HTML + PNG); none drawn without it.",
                           deprecated=("--figures",))
    per_subject: Path | None = opt(None, "One <subject>.npy per sample here (and <subject>.nii.gz for 3D latents of "
                                         "a volume store).")
    overwrite: bool = opt(False, "Replace variables that exist.", flags=("--overwrite",))

    def check(self) -> None:
        """The ranges declared on the fields, before any work."""
        check_declared(self)

    def keywords(self) -> dict[str, Any]:
        """The keywords :func:`vaearr.encoding.encode` takes of them (all but ``store``, ``run`` and ``out``)."""
        return {k: getattr(self, k) for k in ("name", "checkpoint", "logvar", "recon_error", "recon_stride",
                                              "batch_size", "device", "num_workers", "export", "per_subject", "overwrite")}
