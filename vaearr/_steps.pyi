"""The steps of vaearr's top level (vaearr.api) each with every option, its type and its default, for mypy and an
editor: a module of stubs alone, which ``vaearr/__init__.pyi`` imports from. Written by ``python -m tools.stubs`` from
the steps' signatures; do not edit."""

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, overload

import xarray as xr

from vaearr.crystals.master_patterns import MasterPatternResult
from vaearr.store import Verification

StrPath = str | os.PathLike[str]


@overload
def ingest(
    src: StrPath,
    store: StrPath,
    *,
    kind: Literal['ebsd'] = 'ebsd',
    dataset: str | None = None,
    x_dataset: str = 'x',
    y_dataset: str = 'y',
    scan_shape: tuple[int, int] | None = None,
    step: float | tuple[float, float] | None = None,
    crop: int | tuple[int, int] | None = None,
    binning: int = 1,
    bandcontrast: StrPath | None = None,
    elements: StrPath | None = None,
    phase: StrPath | None = None,
    coords_order: str | None = None,
    coords_units: str | None = None,
    orientations: bool = True,
    eds: bool = True,
    pc: Sequence[float] | str | None = None,
    sample_tilt: float | None = None,
    overwrite: bool = False,
    quiet: bool = False,
) -> xr.Dataset:
    """``vaearr ingest ebsd`` (:class:`~vaearr.io.options.IngestEbsdOptions`)."""


@overload
def ingest(
    src: StrPath,
    store: StrPath,
    *,
    kind: Literal['orientations'],
    name: str = 'orientation',
    maps: bool = True,
    grain_angle: float = 5.0,
    direction: str = 'z',
    overwrite: bool = False,
    quiet: bool = False,
) -> xr.Dataset:
    """``vaearr ingest orientations`` (:class:`~vaearr.io.options.IngestOrientationsOptions`)."""


@overload
def ingest(
    src: StrPath,
    store: StrPath,
    *,
    kind: Literal['images'],
    size: int = 256,
    mode: str = 'auto',
    skip_bad: bool = False,
    overwrite: bool = False,
    quiet: bool = False,
) -> xr.Dataset:
    """``vaearr ingest images`` (:class:`~vaearr.io.options.IngestImagesOptions`)."""


@overload
def ingest(
    src: StrPath,
    store: StrPath,
    *,
    kind: Literal['idx'],
    labels: StrPath | None = None,
    overwrite: bool = False,
    quiet: bool = False,
) -> xr.Dataset:
    """``vaearr ingest idx`` (:class:`~vaearr.io.options.IngestIdxOptions`)."""


@overload
def ingest(
    src: StrPath | Sequence[StrPath],
    store: StrPath,
    *,
    kind: Literal['nifti'],
    shape: tuple[int, int, int] | None = None,
    method: str = 'crop',
    volume: int | None = None,
    subjects: StrPath | None = None,
    label_column: str | None = None,
    overwrite: bool = False,
    quiet: bool = False,
) -> xr.Dataset:
    """``vaearr ingest nifti`` (:class:`~vaearr.io.options.IngestNiftiOptions`)."""


def ingest_tables(
    store: StrPath,
    *,
    bandcontrast: StrPath | None = None,
    elements: StrPath | None = None,
    phase: StrPath | None = None,
    pca_weights: StrPath | None = None,
    cnmf_weights: StrPath | None = None,
    xy_units: str | None = None,
    composite: str | None = None,
    composite_rgb: str | None = None,
    composite_mask: str | None = None,
    overwrite: bool = False,
    quiet: bool = False,
) -> xr.Dataset:
    """``vaearr ingest tables``: band contrast, element, phase and weight CSVs onto ``store``'s scan grid, by
    coordinate, and with ``composite``/``composite_rgb`` an element composite
    (:class:`~vaearr.io.options.IngestTablesOptions`, :func:`vaearr.io.tables.ingest_tables`); prints what the command
    says of them (``quiet``: nothing) and returns what it wrote."""


def roi(
    store: StrPath,
    *,
    min: float | None = None,
    max: float | None = None,
    otsu: bool = False,
    top_percent: float | None = None,
    threshold: float | None = None,
    keep: str = 'above',
    x: tuple[float | None, float | None] | str | None = None,
    y: tuple[float | None, float | None] | str | None = None,
    x_index: tuple[int | None, int | None] | str | None = None,
    y_index: tuple[int | None, int | None] | str | None = None,
    name: str = 'roi',
    var: str = 'bandcontrast',
    export: StrPath | None = None,
    out: StrPath | None = None,
    bin_width: float | None = None,
    profile_row: Sequence[int] | None = None,
    overwrite: bool = False,
    quiet: bool = False,
) -> xr.Dataset:
    """``vaearr roi``: a mask from thresholds on a map and x/y ranges (:class:`~vaearr.maps.options.RoiOptions`:
    ``otsu=True``, ``var=``, ``min=``, ``threshold=``, ``keep=``, ``x=(lo, hi)``, ``name=``…), with ``out`` (a folder)
    its figures there; returns it (nothing, with ``out`` and no criterion: only the figures are drawn). ``bc_min=``
    and the other ``bc_`` keywords, the old names, are taken with a :class:`DeprecationWarning`."""


def train(
    store: StrPath,
    run: StrPath,
    *,
    var: str = 'patterns',
    mask: str | None = 'auto',
    sample_dims: tuple[str, ...] | None = None,
    feature_dims: tuple[str, ...] | None = None,
    model: str = 'conv-vae',
    latent_dim: int = 16,
    model_options: dict[str, Any] = ...,
    epochs: int = 10,
    max_steps: int | None = None,
    batch_size: int = 64,
    lr: float = 0.001,
    weight_decay: float = 0.0,
    optimizer: str = 'adam',
    lr_schedule: str = 'cosine',
    schedule_per: str = 'step',
    kl_warmup_epochs: float = 0.0,
    kl_cycles: int = 0,
    grad_clip: float | None = 1.0,
    amp: str = 'auto',
    device: str = 'cpu',
    seed: int = 0,
    val_fraction: float = 0.1,
    split_by: str = 'auto',
    checkpoint_every: int = 1,
    num_workers: int | None = None,
    threads: int | None = None,
    scale: str = '[0,1]',
    standardize: bool = False,
    crop: int | None = None,
    resize: int | None = None,
    preprocess: str = 'auto',
    subtract_background: bool = False,
    background: str | None = None,
    background_operation: str = 'divide',
    dynamic_background: float = 0.0,
    dynamic_operation: str = 'subtract',
    average_neighbours: int | None = None,
    neighbour_weights: str = 'similarity',
    detector_mask: bool = False,
    patch: tuple[int, int, int] | None = None,
    augment: bool = False,
    previews: int = 8,
    preview_slices: tuple[int, int, int] | None = None,
    tensorboard: bool = True,
    wandb: bool = False,
    patience: int = 0,
    min_delta: float = 0.0,
    ema: float = 0.0,
    cosine_t0: int = 10,
    cosine_t_mult: int = 1,
    window: str | None = None,
    subset: int | None = None,
    resume: bool = False,
    quiet: bool = False,
) -> Path:
    """``vaearr train``: :func:`~vaearr.train.trainer.fit` of the :class:`~vaearr.train.TrainConfig` of ``store``,
    ``run`` and its other fields given as keywords (``epochs=3``, ``latent_dim=4``, ``model_options={...}``; an
    unknown one is one error line naming the options); prints what the command reports (``quiet``: nothing, no
    progress bars) and returns the run folder."""


def import_weights(
    weights: StrPath,
    store: StrPath,
    *,
    script: str,
    run: StrPath,
    var: str = 'patterns',
    mask: str | None = 'auto',
    scale: str | None = None,
    resize: int | None = None,
    crop: int | None = None,
    model_options: dict[str, Any] = ...,
    quiet: bool = False,
) -> Path:
    """``vaearr import-weights``: a lab script's checkpoint (``script``: ``ebsd-script``, ``beta-vae``,
    ``mnist-vae``) as a new run folder ``run`` that encode, explore and layers use
    (:class:`~vaearr.train.options.ImportWeightsOptions`, :func:`vaearr.train.weights.import_weights`); prints what
    the command prints (``quiet``: nothing) and returns the run folder."""


def encode(
    store: StrPath,
    run: StrPath,
    *,
    name: str = 'latent',
    checkpoint: str = 'best',
    logvar: bool = False,
    recon_error: bool = True,
    recon_stride: int | None = None,
    batch_size: int | None = None,
    device: str = 'cpu',
    num_workers: int = 0,
    export: StrPath | None = None,
    out: StrPath | None = None,
    per_subject: StrPath | None = None,
    overwrite: bool = False,
    dask: str | None = None,
    quiet: bool = False,
) -> xr.Dataset:
    """``vaearr encode``: :func:`vaearr.encoding.encode` of the :class:`~vaearr.encoding_options.EncodeOptions` of
    ``store``, ``run`` and its other fields given as keywords (``name=``, ``checkpoint=``, ``recon_error=``…), with
    ``out`` (a folder) the latent maps there, and ``dask`` a dask.distributed scheduler's address to encode on; prints
    what the command prints (``quiet``: nothing, no progress bar); returns what it wrote, the store's new variables
    (lazy). ``scheduler=`` and ``figures=``, the old names of ``dask`` and ``out``, are taken with a
    :class:`DeprecationWarning`."""


def decompose(
    store: StrPath,
    *,
    method: str = 'cnmf',
    components: int | str = 'auto',
    references: Sequence[tuple[int, int]] | str | None = None,
    mask: str | None = 'auto',
    name: str | None = None,
    var: str = 'patterns',
    k_range: tuple[int, int] = (2, 8),
    max_components: int = 20,
    max_fit: int = 20000,
    seed: int = 0,
    overwrite: bool = False,
    quiet: bool = False,
) -> xr.Dataset:
    """``vaearr decompose``: PCA, NMF or cNMF of the patterns (:class:`~vaearr.maps.options.DecomposeOptions`);
    returns ``{name}_weights`` and ``{name}_components``."""


def boundaries(
    store: StrPath,
    *,
    var: str = 'patterns',
    mask: str | None = 'none',
    lagb_method: str = 'segment',
    gb_threshold: float | None = None,
    lagb_threshold: float | None = None,
    lagb_low: float = 5.0,
    lagb_min_length: int = 5,
    background: bool = True,
    sigma: float = 1.0,
    grain_angle: float = 2.0,
    low_angle: float = 0.2,
    pc: Sequence[float] | str | None = None,
    degrees: bool = True,
    subgrains: str = 'auto',
    out: StrPath | None = None,
    overwrite: bool = False,
    quiet: bool = False,
) -> xr.Dataset:
    """``vaearr boundaries``: boundary strength and the grain and low-angle boundaries
    (:class:`~vaearr.maps.options.BoundariesOptions`: ``var``, ``mask``…), and with ``out`` (a folder) their figure
    there; returns the three maps. ``figures=`` and ``source=``, the old names of ``out`` and ``var``, are taken with
    a :class:`DeprecationWarning`."""


def index(
    store: StrPath,
    *,
    pc: Sequence[float] | str | None = None,
    sample_tilt: float | None = None,
    phase: str | Sequence[str] | None = None,
    master_pattern: StrPath | None = None,
    method: str = 'hough',
    refine: bool = False,
    pc_convention: str = 'bruker',
    px_size: float | None = None,
    detector_tilt: float = 0.0,
    resolution: float = 2.0,
    energy: float | None = None,
    mask: str | None = 'auto',
    name: str = 'orientation',
    overwrite: bool = False,
    quiet: bool = False,
) -> xr.Dataset:
    """``vaearr index``: orientations from the patterns (:class:`~vaearr.maps.options.IndexOptions`: ``phase``,
    ``pc``, ``method``…); returns the orientation, the phase ids, the quality maps and the IPF, KAM, GROD and
    grain maps of the orientations."""


def segment(
    store: StrPath,
    *,
    var: str = 'latent',
    mask: str | None = 'auto',
    name: str = 'segments',
    boundary_cost: float = 1.0986,
    min_size: int | None = None,
    min_contrast: float = 0.01,
    grain_angle: float = 2.0,
    low_angle: float = 0.2,
    pc: Sequence[float] | str | None = None,
    subgrains: str = 'auto',
    grain_threshold: float = 0.45,
    seed: int = 0,
    overwrite: bool = False,
    out: StrPath | None = None,
    quiet: bool = False,
) -> xr.Dataset:
    """``vaearr segment``: regions of similar features and the grains they join into
    (:class:`~vaearr.maps.options.SegmentOptions`: ``var``, ``mask``, ``name``…), with ``out`` (a folder) its figure
    there; returns ``{name}``, ``{name}_grains`` and ``{name}_boundaries``."""


def spread(
    store: StrPath,
    *,
    var: str = 'latent',
    regions: str = 'segments',
    level: str = 'grains',
    mask: str | None = 'auto',
    radius: int = 4,
    name: str | None = None,
    recrystallised: str = 'recrystallised',
    patterns: bool = True,
    pc: Sequence[float] | str | None = None,
    overwrite: bool = False,
    out: StrPath | None = None,
    quiet: bool = False,
) -> xr.Dataset:
    """``vaearr spread``: kernel and domain spreads of a feature map over a segmentation's grains and the
    recrystallised regions (:class:`~vaearr.maps.options.SpreadOptions`), with ``out`` (a folder) their figure there;
    returns the three maps."""


def export(
    store: StrPath,
    out: StrPath | None = None,
    *,
    var: str = 'orientation',
    phase_from: str | None = None,
    grain_from: str | None = None,
    variables: Sequence[str] | None = None,
    mask: str | None = None,
    overwrite: bool = False,
    quiet: bool = False,
) -> Path:
    """``vaearr export``: orientations to ``out``, a ``.ang``/``.ctf``/orix HDF5 file (``var``: the orientation
    variable), or with ``variables`` (or ``out`` a ``.csv``) maps to a CSV table
    (:class:`~vaearr.io.options.ExportOptions`, :func:`vaearr.io.export.export_store`); returns the file. ``to=`` and
    ``orientation=``, the old names of ``out`` and ``var``, are taken with a :class:`DeprecationWarning`."""


def report(
    store: StrPath,
    out: StrPath | None = None,
    *,
    run: StrPath | None = None,
    analyses: Sequence[StrPath] = (),
    discover: bool = True,
    title: str | None = None,
    quiet: bool = False,
) -> Path:
    """``vaearr report``: one self-contained HTML page of the store and its run in ``out`` (default ``STORE_report``
    beside the store: :func:`vaearr.files.beside_store`; :class:`~vaearr.analysis.options.ReportOptions`: ``run``,
    ``analyses``, ``discover``, ``title``); returns the page's path."""


def master_pattern(
    phase: str,
    *,
    energy: float = 20.0,
    out: StrPath | None = None,
    quiet: bool = False,
) -> MasterPatternResult:
    """``vaearr master-pattern``: the master pattern of ``phase`` (as ``index`` takes it: ``fcc``, a ``.cif``…),
    kinematical (computed once, cached) or read, and with ``out`` (a folder) its PNG and ``.npz`` there
    (:class:`~vaearr.crystals.options.MasterPatternOptions`); prints what the command prints (``quiet``: nothing) and
    returns it (``.master_pattern``: kikuchipy's ``EBSDMasterPattern``; ``.files``)."""


def info(
    store: StrPath,
) -> str:
    """``vaearr info``: the variables, dims, masks and provenance of ``store``, the text the command prints
    (:func:`vaearr.store.describe`; ``print(vaearr.info(store))``)."""


def verify(
    store: StrPath,
    *,
    quiet: bool = False,
) -> Verification:
    """``vaearr verify``: every chunk of every variable of ``store`` read (:func:`vaearr.store.verify_store`); prints
    what the command prints (``quiet``: nothing) and returns the :class:`~vaearr.store.Verification` (``.ok``:
    every chunk whole)."""
