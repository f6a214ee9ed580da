"""The options of the latent analyses, declared once (:mod:`vaearr.options`): the CLI and the flows derive theirs from these.

Only the standard library and :mod:`vaearr.options` are imported here, so the ``vaearr`` command
builds its parameters without loading scikit-learn or matplotlib.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from vaearr.errors import InputError, OptionError
from vaearr.files import beside_store
from vaearr.options import SEED_MAX, check_declared, opt, parse_floats, parse_ints, parse_k_range, parse_names, parse_none, parse_range
from vaearr.store.names import check_name

#: The criteria a Gaussian mixture's k is chosen by.
CRITERIA = ("bic", "aic")
#: What PSNR/SSIM are computed on: the network's floats, 8-bit images, or both (:mod:`vaearr.analysis.quality`).
METRIC_RANGES = ("float", "uint8", "both")


def _lower(text: str) -> str:
    return text.lower()


def check_clip(clip: Sequence[float]) -> tuple[float, float]:
    """``(low, high)`` percentiles with 0 ≤ low < high ≤ 100, or an :class:`~vaearr.errors.OptionError` naming
    ``shade_clip``."""
    try:
        lo, hi = (float(v) for v in clip)
    except (TypeError, ValueError):
        raise OptionError(None, [("shade_clip", f"takes two percentiles like 2:98, got {clip!r}")]) from None
    if not 0.0 <= lo < hi <= 100.0:
        raise OptionError(None, [("shade_clip", f"{lo:g}:{hi:g}: need 0 ≤ low < high ≤ 100 (percentiles)")])
    return lo, hi


@dataclass(frozen=True, kw_only=True)
class ClusterSettings:
    """The knobs of the clustering methods (each method reads the ones it has; see
    :func:`~vaearr.analysis.cluster_methods.cluster_points`)."""

    k: int | None = opt(None, "Clusters (gmm, kmeans); without it gmm picks k by `criterion`, kmeans by silhouette, "
                              "over `k_range`.", min=1)
    k_range: tuple[int, int] = opt((2, 8), "k range for the automatic choice of k.", cli_type=str,
                                   parse=parse_k_range, cli_default="2:8")
    criterion: str = opt("bic", "gmm's choice of k: bic or aic.", parse=_lower, choices=CRITERIA)
    eps: float | None = opt(None, "DBSCAN radius (standardised units); default: the elbow of the sorted k-distances "
                                  "(printed).", above=0)
    min_samples: int | None = opt(None, "DBSCAN/HDBSCAN core size (default: 10 for DBSCAN, `min_cluster_size` for "
                                        "HDBSCAN). HDBSCAN's memory grows as pixels × this: a 1M-pixel map took "
                                        "14.8 GB at 2000, 0.7 GB at 20.", min=1)
    min_cluster_size: int = opt(20, "HDBSCAN smallest cluster.", min=2)
    cluster_selection_epsilon: float = opt(0.0, "HDBSCAN: merge clusters closer than this (standardised units).", min=0)
    seed: int = opt(0, "Seed (gmm, kmeans).", min=0, max=SEED_MAX)


def _window(text: str | None) -> Any:
    return parse_range(text) if text else None


def _clip(text: str | Sequence[float]) -> tuple[float, float]:
    """``"2:98"`` (or two numbers) → ``(2.0, 98.0)``."""
    if not isinstance(text, str):
        return tuple(text)  # type: ignore[return-value]
    clip = parse_floats(text.replace(":", ","), "`shade_clip`")
    if len(clip) != 2:
        raise InputError(None, f"`shade_clip` takes two percentiles like 2:98, got '{text}'")
    return clip[0], clip[1]


@dataclass(frozen=True, kw_only=True)
class ClusterOptions(ClusterSettings):
    """Everything ``vaearr cluster`` and the ``cluster-latents`` flow take, declared once (see :mod:`vaearr.options`).

    The clustering knobs (``k``, ``k_range``, ``criterion``, ``eps``, ``min_samples``,
    ``min_cluster_size``, ``cluster_selection_epsilon``, ``seed``) are those of
    :class:`ClusterSettings`; :func:`~vaearr.analysis.clustering.joint_cluster` documents the rest.
    """

    store: str = opt(help="Store with the latent and band contrast.", flags=())
    var: str = opt("latent", "Latent variable.", deprecated=("--latent",))
    dim: int = opt(0, "Latent dim (its latent_dim coordinate) to cluster.", min=0)
    with_var: str | None = opt("bandcontrast", "Second feature; 'none' for the latent alone.", flags=("--with",),
                               parse=parse_none)
    method: str = opt("gmm", "Clustering method: gmm, kmeans, dbscan, hdbscan or another in vaearr.analysis.cluster_methods.")
    mask: str | None = opt("auto", "Mask variable ('auto': roi when the store has one, else every pixel; 'none': "
                                   "every pixel).", cli_type=str, parse=parse_none)
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
    out: Path = opt(None, "Folder for the figure, CSV and JSON (default: STORE_cluster beside the store).",
                    cli_type=Optional[Path])
    tag: str | None = opt(None, "Tag in the output file names (default METHOD_dimDIM, e.g. kmeans_dim3).")
    name: str | None = opt(None, "Store variable for the labels (default cluster_TAG).")
    overwrite: bool = opt(False, "Replace the store variable.", flags=("--overwrite",))
    #: Write the labels into the store (the library's choice, not an option).
    write: bool = True
    latent_dim: str = "latent_dim"

    def __post_init__(self) -> None:
        if self.out is None:  # the one rule of every command's output folder (vaearr.files.beside_store)
            object.__setattr__(self, "out", beside_store(self.store, "cluster"))

    def check(self) -> None:
        """One :class:`~vaearr.errors.OptionError` line for the options out of the ranges their fields declare
        (:func:`~vaearr.options.check_declared`, the one check of them) and the shading percentiles (the method's
        name and the colours are checked against the registry and matplotlib by
        :func:`~vaearr.analysis.clustering.joint_cluster`)."""
        check_declared(self)
        check_clip(self.shade_clip)

    def tag_and_name(self) -> tuple[str, str]:
        """The output files' tag and the labels' variable, checked (default ``{method}_dim{dim}``, ``cluster_{tag}``)."""
        tag = self.tag
        if tag is None:
            tag = (f"{self.method}_{re.sub(r'[^A-Za-z0-9_.-]', '_', Path(self.latent_vector).stem)}"
                   if self.latent_vector is not None else f"{self.method}_dim{self.dim}")
        check_name(tag, "`tag`")  # it goes into file names in out
        name = self.name or f"cluster_{tag}"
        if self.write:
            check_name(name, "variable name (`name`)")
        return tag, name




# --------------------------------------------------------------------------------------------
# explore


#: Parts ``vaearr explore`` can write, in the order it writes them (:func:`vaearr.viz.explore.explore`).
PARTS = ("quality", "prior", "interpolation", "stats", "activations", "prototypes", "traversal", "manifold",
         "pairwise", "embeddings", "projector")


def parse_span(text: str | None, what: str) -> tuple[float, float] | None:
    """``"-3:3"`` → ``(-3.0, 3.0)``; one line when it is not two numbers low:high with low < high."""
    if text is None:
        return None
    try:
        lo, hi = (float(v) for v in text.split(":"))
    except ValueError:
        raise InputError(None, f"{what} must look like -3:3 (low:high), got '{text}'") from None
    if not lo < hi:
        raise InputError(None, f"{what} {text}: low must be below high")
    return lo, hi


def _traversal_range(text: str) -> tuple[float, float] | None:
    return parse_span(text, "`traversal_range`")


def _manifold_range(text: str | None) -> tuple[float, float] | None:
    return parse_span(text, "`manifold_range`")


def _all_if_zero(n: int | None) -> int | None:
    return n or None


def _label(text: str) -> str | None:
    return None if text == "none" else text


def _parts(text: str | None) -> tuple[str, ...] | list[str]:
    return parse_names(text) or PARTS


def _embeddings(text: str) -> tuple[str, ...] | list[str]:
    return parse_names(text) or ("pca", "tsne", "umap")


def _base(text: str | None) -> str | list[float] | None:
    # values hold a comma (a 1-dim latent: "0.5,"); anything else names "mean" or a label
    return parse_floats(text, "`base`") if text is not None and "," in text else text


def _traversal_dims(text: str | None) -> list[int] | None:
    return parse_ints(text, "`traversal_dims`")


def _manifold_dims(text: str | None) -> tuple[int, int] | None:
    dims = parse_ints(text, "`manifold_dims`")
    if dims is not None and len(dims) != 2:
        raise InputError(None, f"`manifold_dims` takes two dims 'i,j', got '{text}'")
    return tuple(dims) if dims else None  # type: ignore[return-value]


def _line(text: str | None) -> tuple[tuple[float, float], tuple[float, float]] | None:
    pts = parse_floats(text, "`line`")
    if pts is not None and len(pts) != 4:
        raise InputError(None, f"`line` takes four numbers 'x0,y0,x1,y1', got '{text}'")
    return ((pts[0], pts[1]), (pts[2], pts[3])) if pts else None


def _slices(text: str | None) -> list[int] | None:
    return parse_ints(text, "`slices`")


@dataclass(frozen=True, kw_only=True)
class ExploreOptions:
    """Everything :func:`vaearr.viz.explore.explore` (``vaearr explore``, the ``explore-latents`` flow) takes."""

    store: str | None = opt(None, "Store with the variable the run was trained on (not needed with `image` / "
                                  "`interpolate`).", flags=())
    run: str = opt(help="Training run folder.", flags=("--run", "-r"))
    out: Path | None = opt(None, "Folder for figures (HTML + PNG), tables and summary.json (default: STORE_explore "
                                 "beside the store; out/explore for `image` / `interpolate` files).")
    n: int | None = opt(2000, "Samples to encode (a seeded random subset; 0: all).", cli_type=int, parse=_all_if_zero, min=0)
    seed: int = opt(0, "Seed of the subset, prior draws and grids.", min=0, max=SEED_MAX)
    label: str | None = opt("auto", "Label variable/coordinate ('auto': label if present; 'none').", cli_type=str,
                            parse=_label)
    parts: Sequence[str] = opt(PARTS, "Comma-separated parts (default all): quality, prior, interpolation, stats, "
                                      "activations, prototypes, traversal, manifold, pairwise, embeddings, projector "
                                      "(TensorBoard Embedding Projector files).", cli_type=Optional[str], parse=_parts,
                               cli_default=None)
    embeddings: Sequence[str] = opt(("pca", "tsne", "umap"), "Comma-separated embeddings: pca, tsne, umap.",
                                    cli_type=str, parse=_embeddings, cli_default="pca,tsne,umap")
    n_prior: int = opt(8, "Samples drawn from the prior.", flags=("--num-samples",), min=1)
    steps: int | None = opt(None, "Interpolation and traversal steps, both ends included (default 10 between files, "
                                  "9 in a store's figures).", min=2)
    traversal_range: tuple[float, float] = opt((-3.0, 3.0), "Values each traversed dim takes, low:high.", cli_type=str,
                                               parse=_traversal_range, cli_default="-3:3")
    manifold_range: tuple[float, float] | None = opt(None, "The 2D manifold's range on both axes, low:high (default "
                                                           "`traversal_range`).", cli_type=Optional[str],
                                                     parse=_manifold_range)
    manifold_size: int = opt(9, "The 2D manifold's grid side (N×N decoded images).", flags=("--grid",), min=2)
    metric_range: str = opt("both", "PSNR/SSIM on the network's floats, on 8-bit images (uint8, range 255), or both.",
                            choices=METRIC_RANGES)
    sprite: bool = opt(True, "Projector part: a sprite of the inputs.", flags=("--sprite/--no-sprite",))
    base: str | Sequence[float] | None = opt(None, "Traversal base: 'mean', a label (its prototype) or "
                                                   "comma-separated values.", cli_type=Optional[str], parse=_base)
    traversal_dims: Sequence[int] | None = opt(None, "Comma-separated dims to traverse (default: the 10 most active).",
                                               cli_type=Optional[str], parse=_traversal_dims)
    manifold_dims: tuple[int, int] | None = opt(None, "Two dims 'i,j' for the 2D manifold (default: the two most "
                                                      "active).", cli_type=Optional[str], parse=_manifold_dims)
    line: tuple[Sequence[float], Sequence[float]] | None = opt(None, "Line in each embedding 'x0,y0,x1,y1' to sample "
                                                                     "along.", cli_type=Optional[str], parse=_line)
    threshold: float = opt(0.5, "Binarisation threshold of the reconstruction grid.")
    slices: Sequence[int] | None = opt(None, "3D runs: slice indices 'z,y,x' the previews show (default: the middle "
                                             "slices).", cli_type=Optional[str], parse=_slices)
    perceptual_weights: Path | None = opt(None, "3D runs: SqueezeNet 1.1 weights (torchvision's "
                                                "squeezenet1_1-b8a52dc0.pth) for the slice-wise perceptual distance "
                                                "(default: torch hub's cache if there; else skipped).")
    checkpoint: str = opt("best", "best, latest, an epoch number, or a checkpoint folder.")
    device: str = opt("cpu", "cpu, cuda or cuda:N.")
    #: Library-only: the dims of the pairwise plot, points sampled along the line, samples in the grid.
    pairwise_dims: Sequence[int] | None = None
    n_line: int = 8
    n_grid: int = 8

    def __post_init__(self) -> None:
        if self.out is None and self.store is not None:  # the one rule of every command's output folder
            object.__setattr__(self, "out", beside_store(self.store, "explore"))

    def check(self) -> None:
        """One :class:`InputError` line for an option out of the range its field declares
        (:func:`~vaearr.options.check_declared`), a range that runs backwards or an unknown part (the embeddings
        are checked against their registry by ``explore``)."""
        check_declared(self)
        for name, r in (("traversal_range", self.traversal_range), ("manifold_range", self.manifold_range)):
            if r is not None and not (len(r) == 2 and all(math.isfinite(v) for v in r) and r[0] < r[1]):
                raise OptionError(type(self), [(name, f"must be two finite values low:high with low < high, got {r}")])
        unknown = sorted(set(self.parts) - set(PARTS))
        if unknown:
            raise InputError(None, f"unknown part(s) {', '.join(unknown)}; known: {', '.join(PARTS)}")


# --------------------------------------------------------------------------------------------
# rank


def _references(items: Sequence[str] | None) -> list[str] | tuple[str, ...]:
    """``--against`` items (repeatable, each may hold several names split by commas or spaces); default the four."""
    refs = [r for item in (items or []) for r in item.replace(",", " ").split()]
    return refs or DEFAULT_REFERENCES


def _dims(text: str | None) -> str | list[int] | None:
    return "all" if text is not None and text.strip().lower() == "all" else parse_ints(text, "`dims`")


def _metrics(items: Sequence[str] | None) -> list[str] | None:
    return list(items) if items else None


#: What ``vaearr rank`` ranks against when no reference is given.
DEFAULT_REFERENCES = ("elements", "bandcontrast", "pca", "nmf")


@dataclass(frozen=True, kw_only=True)
class RankOptions:
    """Everything ``vaearr rank`` and the ``analyze-latents`` flow take (:func:`~vaearr.analysis.ranking.rank_latents`,
    and :func:`~vaearr.viz.ranking.rank_figures` for the figures)."""

    store: str = opt(help="Store with the latent and the references.", flags=())
    var: str = opt("latent", "Latent variable.", deprecated=("--latent",))
    against: Sequence[str] = opt(DEFAULT_REFERENCES, "References: elements, bandcontrast, pca, nmf or any (y, x) "
                                                     "variable (repeatable; also space-separated).",
                                 cli_type=Optional[list[str]], parse=_references, cli_default=None)
    out: Path = opt(None, "Folder for CSV, JSON and figures (default: STORE_rank beside the store).",
                    cli_type=Optional[Path])
    top: int = opt(5, "Top-N dims per metric and in the figures.", min=1)
    mask: str | None = opt("auto", "Mask variable ('auto': roi when the store has one, else every pixel; 'none': "
                                   "every pixel).", cli_type=str, parse=parse_none)
    metrics: Sequence[str] | None = opt(None, "Metrics (repeatable; default all).", flags=("--metric",),
                                        cli_type=Optional[list[str]], parse=_metrics)
    trend_order: int = opt(2, "Polynomial order of the spatial trend removed for partial_pearson.", min=0)
    n_components: int = opt(8, "PCA/NMF components (made when missing).", flags=("--components",), min=1)
    k_range: tuple[int, int] = opt((2, 8), "k range for the mixture partitions.", cli_type=str, parse=parse_k_range,
                                   cli_default="2:8")
    criterion: str = opt("bic", "bic or aic.", choices=CRITERIA)
    nan_color: str = opt("lightgray", "Colour of pixels outside the mask in the maps.")
    figures: bool = opt(True, "Draw the figures (`figures=False`: skip them).", flags=("--figures/--no-figures",))
    dims: Sequence[int] | str | None = opt(None, "Latent dims for the per-dim outputs (scatters, maps, .npy/.csv), e.g. "
                                                 "3,7,12, or 'all'; default `top` dims, taken in turn from each "
                                                 "reference's ranking.", cli_type=Optional[str], parse=_dims)
    per_page: int = opt(16, "Latent maps per page (maps_page1.html, maps_page2.html...).", min=1)
    seed: int = opt(0, "Seed of NMF and the mixtures.", min=0, max=SEED_MAX)
    overwrite: bool = opt(False, "Recompute PCA/NMF references that exist.", flags=("--overwrite",))
    #: Library-only: partition agreement, the latent's dim, the per-dim exports.
    partitions: bool = True
    latent_dim: str = "latent_dim"
    export: bool = True

    def __post_init__(self) -> None:
        if self.out is None:  # the one rule of every command's output folder (vaearr.files.beside_store)
            object.__setattr__(self, "out", beside_store(self.store, "rank"))

    def check(self) -> None:
        """One :class:`InputError` line for an option out of range."""
        check_declared(self)
        if self.per_page < 1:
            raise OptionError(type(self), [("per_page", f"must be at least 1, got {self.per_page}")])


# --------------------------------------------------------------------------------------------
# report


def _folders(values: Sequence[str | Path] | None) -> tuple[Path, ...]:
    return tuple(Path(v) for v in values or ())


@dataclass(frozen=True, kw_only=True)
class ReportOptions:
    """Everything ``vaearr report``, the ``report`` flow and :func:`vaearr.report` take
    (:func:`~vaearr.viz.report.build_report`): the report of a store, its run and their analyses."""

    store: str = opt(help="A vaearr store (only read).", flags=())
    run: Path | None = opt(None, "Training run folder (default: the run the store's latents were encoded with, when "
                                 "it exists).", flags=("--run", "-r"))
    out: Path | None = opt(None, "Folder for report.html (created; default: STORE_report beside the store).")
    analyses: Sequence[Path] = opt((), "Output folder of vaearr rank, cluster or explore to include (repeatable; "
                                       "folders beside the store and the run are found too).",
                                   cli_type=Optional[list[Path]], parse=_folders, cli_default=None)
    discover: bool = opt(True, "Look for rank, cluster and explore folders beside the store and the run.",
                         flags=("--discover/--no-discover",))
    title: str | None = opt(None, "The page's title (default: 'vaearr report: ' and the store's name).")

    def __post_init__(self) -> None:
        if self.out is None:  # the one rule of every command's output folder (vaearr.files.beside_store)
            object.__setattr__(self, "out", beside_store(self.store, "report"))
        object.__setattr__(self, "analyses", _folders(self.analyses))


@dataclass(frozen=True, kw_only=True)
class LayersOptions:
    """Everything ``vaearr layers`` and the ``compare-layers`` flow take (:mod:`vaearr.viz.layers`): two inputs
    (``img1``, ``img2``) or matched pairs (``folder``) through a run's decoder or a pretrained SD VAE (``weights``)."""

    out: Path = opt(Path("out/layers"), "Folder for layer_differences.json, charts and reconstructions.")
    run: Path | None = opt(None, "Training run folder (a 2D model).", flags=("--run", "-r"))
    weights: Path | None = opt(None, "Instead of `run`: a pretrained Stable Diffusion / ldm VAE (model.ckpt, "
                                     ".safetensors, or a diffusers AutoencoderKL folder); inputs RGB, resized, scaled "
                                     "to [-1, 1].")
    size: int | None = opt(None, "With `weights`: input size N×N (default: diffusers' sample_size, else 512).", min=8)
    img1: Path | None = opt(None, "First input: an image file or .npy array.")
    img2: Path | None = opt(None, "Second input.")
    folder: Path | None = opt(None, "Folder with positive/ and negative/, files matched by name.")
    top: int = opt(5, "How many most-different layers to list.", min=1)
    checkpoint: str = opt("best", "best, latest, an epoch number, or a checkpoint folder.")
    device: str = opt("cpu", "cpu, cuda or cuda:N.")

    def check(self) -> None:
        """The ranges declared on the fields; a run or weights, and two inputs or a folder."""
        check_declared(self)
        if (self.run is None) == (self.weights is None):
            raise InputError(None, "give either `run` or `weights`")
        if self.size is not None and self.weights is None:
            raise InputError(None, "`size` goes with `weights` (a run has its own input size)")
        one = self.img1 is None and self.img2 is None
        if (self.folder is None) == one or (self.folder is None and (self.img1 is None or self.img2 is None)):
            raise InputError(None, "give either `img1` and `img2`, or `folder`")


@dataclass(frozen=True, kw_only=True)
class ExploreMapOptions:
    """Everything ``vaearr explore-map`` takes (:class:`~vaearr.viz.map_explorer.MapExplorer`, served)."""

    store: str = opt(help="EBSD map store with the patterns the run was trained on.", flags=())
    run: Path = opt(help="Training run folder.", flags=("--run", "-r"))
    map: str | None = opt(None, "Map shown first: a (y, x) variable, an RGB variable (orientation_ipf) or a component "
                                "as latent[3] (default: bandcontrast, else latent[0]).")
    port: int | None = opt(None, "Port on 127.0.0.1 (default: a free one, printed).")
    var: str = opt("latent", "The store's latent variable (map ranges, box latents).", deprecated=("--latent",))
    box_cap: int = opt(4096, "Most patterns a box's mean reads (a regular subsample beyond).")
    checkpoint: str = opt("best", "best, latest, an epoch number, or a checkpoint folder.")
    device: str = opt("cpu", "cpu, cuda or cuda:N.")

    def check(self) -> None:
        """A port, and a box that reads at least one pattern."""
        check_declared(self)
        if self.port is not None and not 0 <= self.port < 65536:
            raise InputError(None, f"`port` {self.port}: not a port (0-65535)")
        if self.box_cap < 1:
            raise InputError(None, f"`box_cap` {self.box_cap}: give at least 1")
