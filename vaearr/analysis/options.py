"""The options of the latent analyses, declared once (:mod:`vaearr.options`): the CLI and the flows derive theirs from these.

Only the standard library and :mod:`vaearr.options` are imported here, so the ``vaearr`` command
builds its parameters without loading scikit-learn or matplotlib.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from vaearr.errors import InputError
from vaearr.options import opt, parse_floats, parse_k_range, parse_names, parse_none, parse_range
from vaearr.store.names import check_name

#: The criteria a Gaussian mixture's k is chosen by.
CRITERIA = ("bic", "aic")


def _lower(text: str) -> str:
    return text.lower()


def check_clip(clip: Sequence[float]) -> tuple[float, float]:
    """``(low, high)`` percentiles with 0 ≤ low < high ≤ 100, or an :class:`InputError`."""
    try:
        lo, hi = (float(v) for v in clip)
    except (TypeError, ValueError):
        raise InputError(None, f"--shade-clip takes two percentiles like 2:98, got {clip!r}") from None
    if not 0.0 <= lo < hi <= 100.0:
        raise InputError(None, f"--shade-clip {lo:g}:{hi:g}: need 0 ≤ low < high ≤ 100 (percentiles)")
    return lo, hi


@dataclass(frozen=True, kw_only=True)
class ClusterSettings:
    """The knobs of the clustering methods (each method reads the ones it has; see
    :func:`~vaearr.analysis.clusterers.cluster_points`)."""

    k: int | None = opt(None, "Clusters (gmm, kmeans); without it gmm picks k by --criterion, kmeans by silhouette, "
                              "over --k-range.")
    k_range: tuple[int, int] = opt((2, 8), "k range for the automatic choice of k.", cli_type=str,
                                   parse=parse_k_range, cli_default="2:8")
    criterion: str = opt("bic", "gmm's choice of k: bic or aic.", parse=_lower)
    eps: float | None = opt(None, "DBSCAN radius (standardised units); default: the elbow of the sorted k-distances "
                                  "(printed).")
    min_samples: int | None = opt(None, "DBSCAN/HDBSCAN core size (default: 10 for DBSCAN, --min-cluster-size for "
                                        "HDBSCAN). HDBSCAN's memory grows as pixels × this: a 1M-pixel map took "
                                        "14.8 GB at 2000, 0.7 GB at 20.")
    min_cluster_size: int = opt(20, "HDBSCAN smallest cluster.")
    cluster_selection_epsilon: float = opt(0.0, "HDBSCAN: merge clusters closer than this (standardised units).")
    seed: int = opt(0, "Seed (gmm, kmeans).")
    #: Which HDBSCAN implementation runs (:func:`~vaearr.analysis.clusterers.hdbscan_labels`); the library's choice.
    hdbscan_backend: str = "auto"


def _window(text: str | None) -> Any:
    return parse_range(text) if text else None


def _clip(text: str | Sequence[float]) -> tuple[float, float]:
    """``"2:98"`` (or two numbers) → ``(2.0, 98.0)``."""
    if not isinstance(text, str):
        return tuple(text)  # type: ignore[return-value]
    clip = parse_floats(text.replace(":", ","), "--shade-clip")
    if len(clip) != 2:
        raise InputError(None, f"--shade-clip takes two percentiles like 2:98, got '{text}'")
    return clip[0], clip[1]


@dataclass(frozen=True, kw_only=True)
class ClusterOptions(ClusterSettings):
    """Everything ``vaearr cluster`` and the ``cluster-latents`` flow take, declared once (see :mod:`vaearr.options`).

    The clustering knobs (``k``, ``k_range``, ``criterion``, ``eps``, ``min_samples``,
    ``min_cluster_size``, ``cluster_selection_epsilon``, ``seed``) are those of
    :class:`ClusterSettings`; :func:`~vaearr.analysis.clustering.joint_cluster` documents the rest.
    """

    store: str = opt(help="Store with the latent and band contrast.", flags=())
    latent: str = opt("latent", "Latent variable.")
    dim: int = opt(0, "Latent dim (its latent_dim coordinate) to cluster.")
    with_var: str | None = opt("bandcontrast", "Second feature; 'none' for the latent alone.", flags=("--with",),
                               parse=parse_none)
    method: str = opt("gmm", "Clustering method: gmm, kmeans, dbscan, hdbscan or another in vaearr.analysis.clusterers.")
    mask: str | None = opt("roi", "Mask variable ('none': every pixel).", cli_type=str, parse=parse_none)
    x_range: tuple[float | None, float | None] | None = opt(None, "x window A:B in µm (instead of a mask).",
                                                            flags=("--x",), cli_type=Optional[str], parse=_window)
    y_range: tuple[float | None, float | None] | None = opt(None, "y window C:D in µm.", flags=("--y",),
                                                            cli_type=Optional[str], parse=_window)
    latent_vector: Path | None = opt(None, "NPY/CSV of latent values on the mask's pixels.")
    bc_vector: Path | None = opt(None, "NPY/CSV of band contrast on the mask's pixels.")
    colors: list[str] | None = opt(None, "Cluster colours, largest cluster first: names or hex codes, e.g. "
                                         "red,#00ff00,blue.", cli_type=Optional[str], parse=parse_names)
    shade_clip: tuple[float, float] = opt((2.0, 98.0), "Percentiles of each cluster's latent values spanning its "
                                                       "dark → light shading.", cli_type=str, parse=_clip,
                                          cli_default="2:98")
    out: Path = opt(Path("out/cluster"), "Folder for the figure, CSV and JSON.")
    tag: str | None = opt(None, "Tag in the output file names (default METHOD_dimDIM, e.g. kmeans_dim3).")
    name: str | None = opt(None, "Store variable for the labels (default cluster_TAG).")
    overwrite: bool = opt(False, "Replace the store variable.", flags=("--overwrite",))
    #: Write the labels into the store (the library's choice, not an option).
    write: bool = True
    latent_dim: str = "latent_dim"

    def check(self) -> None:
        """One :class:`InputError` line for the first option out of range (the method's name and the colours are
        checked against the registry and matplotlib by :func:`~vaearr.analysis.clustering.joint_cluster`)."""
        if self.criterion not in CRITERIA:
            raise InputError(None, f"--criterion must be bic or aic, got {self.criterion!r}")
        check_clip(self.shade_clip)
        for what, v in (("--min-samples", self.min_samples), ("--min-cluster-size", self.min_cluster_size)):
            if v is not None and int(v) < 1:
                raise InputError(None, f"{what} must be at least 1, got {v}")
        if (self.eps is not None and not self.eps > 0) or self.cluster_selection_epsilon < 0:
            raise InputError(None, f"--eps must be > 0 and --cluster-selection-epsilon ≥ 0, got {self.eps}, "
                                   f"{self.cluster_selection_epsilon}")

    def tag_and_name(self) -> tuple[str, str]:
        """The output files' tag and the labels' variable, checked (default ``{method}_dim{dim}``, ``cluster_{tag}``)."""
        tag = self.tag
        if tag is None:
            tag = (f"{self.method}_{re.sub(r'[^A-Za-z0-9_.-]', '_', Path(self.latent_vector).stem)}"
                   if self.latent_vector is not None else f"{self.method}_dim{self.dim}")
        check_name(tag, "--tag")  # it goes into file names in out
        name = self.name or f"cluster_{tag}"
        if self.write:
            check_name(name, "variable name (--name)")
        return tag, name


