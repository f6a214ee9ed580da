"""The Python surface of a notebook or a script: the steps at the top level (``vaearr.open``, ``vaearr.ingest``…)
and the ``ds.vaearr`` / ``da.vaearr`` accessors.

Each step calls the library function its command calls (``vaearr segment`` and :func:`segment` both run
:func:`vaearr.maps.segmentation.segment.segment_store`), takes the same options under the same names (the fields of the
command's options dataclass: :class:`~vaearr.maps.options.SegmentOptions`…), prints the lines the command
prints, and returns what it wrote: the store's new variables as an :class:`xarray.Dataset` (lazy, as
:func:`open` gives them), a run folder, a file. :func:`train` and :func:`encode` are ``vaearr.train`` and
``vaearr.encode``, functions as the other steps (the package :mod:`vaearr.train` and the module
:mod:`vaearr.encoding` hold the code; ``vaearr/__init__.py`` says how the names meet). Like the command line,
this module imports the library when a step runs, so ``import vaearr`` stays light (ruff's PLC0415 is off
for it and the command line in ``pyproject.toml``).

The accessors are xarray's extension point (:func:`xarray.register_dataset_accessor`, as ``ds.rio`` and
``ds.cf``): ``ds.vaearr.map("latent", dim=3)`` draws a map as every figure of vaearr draws it (x to the right, y
downward, µm, scale bar, units; the report's symmetric range for a latent), ``ds.vaearr.pattern(x=, y=)`` and
``ds.vaearr.latent_at(x=, y=)`` read one pixel, ``ds.vaearr.report(out)`` writes the report of the store the
Dataset was opened from. They hand off to :mod:`vaearr.viz.variable`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import xarray as xr

from vaearr.analysis.options import ReportOptions
# the steps' shared parts and the ingest steps are in vaearr.api_common and vaearr.api_ingest; importable from here too
from vaearr.api_common import DASK, OUT, QUIET, PathLike, made, renamed, step, written  # noqa: F401
from vaearr.api_ingest import READERS, STORE_KINDS, ingest, ingest_tables  # noqa: F401
from vaearr.crystals.master_patterns import MasterPatternResult
from vaearr.crystals.options import MasterPatternOptions
from vaearr.encoding_options import EncodeOptions
from vaearr.errors import InputError
from vaearr.io.options import ExportOptions
from vaearr.maps.options import (
    BoundariesOptions,
    DecomposeOptions,
    IndexOptions,
    RoiOptions,
    SegmentOptions,
    SpreadOptions,
)
from vaearr.options import from_fields, writable_folder, writable_folders
from vaearr.store import Verification, open_store
from vaearr.store.options import InfoOptions, VerifyOptions
from vaearr.store.schema import ORIENTATION_MAPS, no_variable, orientation_map_name
from vaearr.train.config import TrainConfig
from vaearr.train.options import ImportWeightsOptions



def open(store: PathLike, **kwargs: Any) -> xr.Dataset:  # noqa: A001 - vaearr.open, as xr.open_zarr
    """A store as a lazy :class:`xarray.Dataset` (:func:`vaearr.store.open_store`; ``chunks``, ``storage_options``),
    its path kept in ``ds.encoding["source"]`` so that ``ds.vaearr.report()`` knows the store.

    Examples
    --------
    >>> ds = vaearr.open("stores/ni.zarr")  # doctest: +SKIP
    >>> ds.vaearr.map("latent", dim=0)  # doctest: +SKIP
    """
    return open_store(store, **kwargs)






# --------------------------------------------------------------------------------------------
# training and encoding


@step(TrainConfig)
def train(store: PathLike, run: PathLike, *, resume: bool = False, quiet: bool = False, **fields: Any) -> Path:
    """``vaearr train``: :func:`~vaearr.train.trainer.fit` of the :class:`~vaearr.train.TrainConfig` of ``store``,
    ``run`` and its other fields given as keywords (``epochs=3``, ``latent_dim=4``, ``model_options={...}``; an
    unknown one is one error line naming the options); prints what the command reports (``quiet``: nothing, no
    progress bars) and returns the run folder."""
    from vaearr.train.trainer import train_store

    return train_store(store, run, resume=resume, quiet=quiet, **fields)


@step(EncodeOptions, DASK, QUIET)
def encode(store: PathLike, run: PathLike, **fields: Any) -> xr.Dataset:
    """``vaearr encode``: :func:`vaearr.encoding.encode` of the :class:`~vaearr.encoding_options.EncodeOptions` of
    ``store``, ``run`` and its other fields given as keywords (``name=``, ``checkpoint=``, ``recon_error=``…), with
    ``out`` (a folder) the latent maps there, and ``dask`` a dask.distributed scheduler's address to encode on; prints
    what the command prints (``quiet``: nothing, no progress bar); returns what it wrote, the store's new variables
    (lazy). ``scheduler=`` and ``figures=``, the old names of ``dask`` and ``out``, are taken with a
    :class:`DeprecationWarning`."""
    from vaearr.encoding import encode as encode_store

    fields = renamed(fields, "encode", scheduler="dask")
    dask, quiet = fields.pop("dask", None), fields.pop("quiet", False)
    options = from_fields(EncodeOptions, {"store": os.fspath(store), "run": run, **fields}, "vaearr.encode")
    writable_folders(export=options.export, out=options.out, per_subject=options.per_subject)
    result = encode_store(os.fspath(store), os.fspath(run), **options.keywords(), progress=not quiet, dask=dask)
    if options.out is not None:
        from vaearr.viz.maps import encoded_maps

        result.figures = encoded_maps(store, options.name, options.out)
    if not quiet:
        print(result.summary())
    return written(store, list(result.variables))



@step(ImportWeightsOptions, QUIET)
def import_weights(weights: PathLike, store: PathLike, **fields: Any) -> Path:
    """``vaearr import-weights``: a lab script's checkpoint (``script``: ``ebsd-script``, ``beta-vae``,
    ``mnist-vae``) as a new run folder ``run`` that encode, explore and layers use
    (:class:`~vaearr.train.options.ImportWeightsOptions`, :func:`vaearr.train.weights.import_weights`); prints what
    the command prints (``quiet``: nothing) and returns the run folder."""
    from vaearr.train.weights import import_run, imported_summary

    quiet = fields.pop("quiet", False)
    options = from_fields(ImportWeightsOptions, {"weights": weights, "store": os.fspath(store), **fields},
                          "vaearr.import_weights")
    writable_folder(options.run, "`run`")
    run = import_run(options)
    if not quiet:
        print(imported_summary(options, run))
    return Path(options.run)


# --------------------------------------------------------------------------------------------
# map science


@step(RoiOptions, QUIET)
def roi(store: PathLike, **fields: Any) -> xr.Dataset:
    """``vaearr roi``: a mask from thresholds on a map and x/y ranges (:class:`~vaearr.maps.options.RoiOptions`:
    ``otsu=True``, ``var=``, ``min=``, ``threshold=``, ``keep=``, ``x=(lo, hi)``, ``name=``…), with ``out`` (a folder)
    its figures there; returns it (nothing, with ``out`` and no criterion: only the figures are drawn). ``bc_min=``
    and the other ``bc_`` keywords, the old names, are taken with a :class:`DeprecationWarning`."""
    from vaearr.maps.roi.roi import RoiResult, create_roi

    quiet = fields.pop("quiet", False)
    options = made(RoiOptions, store, fields, "roi")
    if options.out is not None:
        from vaearr.viz.roi import roi_store

        result = roi_store(options)
    else:
        result = create_roi(store, options)
    if not quiet:
        print(result.summary())
    return written(store, [result.name] if isinstance(result, RoiResult) else [])


@step(DecomposeOptions, QUIET)
def decompose(store: PathLike, **fields: Any) -> xr.Dataset:
    """``vaearr decompose``: PCA, NMF or cNMF of the patterns (:class:`~vaearr.maps.options.DecomposeOptions`);
    returns ``{name}_weights`` and ``{name}_components``."""
    from vaearr.maps.decomposition.decompose import write_decomposition

    quiet = fields.pop("quiet", False)
    result = write_decomposition(store, made(DecomposeOptions, store, fields, "decompose"))
    if not quiet:
        print(result.summary())
    return written(store, list(result.variables))

@step(IndexOptions, QUIET)
def index(store: PathLike, **fields: Any) -> xr.Dataset:
    """``vaearr index``: orientations from the patterns (:class:`~vaearr.maps.options.IndexOptions`: ``phase``,
    ``pc``, ``method``…); returns the orientation, the phase ids, the quality maps and the IPF, KAM, GROD and
    grain maps of the orientations."""
    from vaearr.maps.indexing.indexing import index_store

    quiet = fields.pop("quiet", False)
    options = made(IndexOptions, store, fields, "index")
    result = index_store(store, options)
    if not quiet:
        print(result.summary())
    # the IPF, KAM, GROD and grain maps come in the same transaction
    return written(store, [*result.variables, *(orientation_map_name(options.name, p) for p in ORIENTATION_MAPS)])


@step(BoundariesOptions, QUIET)
def boundaries(store: PathLike, **fields: Any) -> xr.Dataset:
    """``vaearr boundaries``: boundary strength and the grain and low-angle boundaries
    (:class:`~vaearr.maps.options.BoundariesOptions`: ``var``, ``mask``…), and with ``out`` (a folder) their figure
    there; returns the three maps. ``figures=`` and ``source=``, the old names of ``out`` and ``var``, are taken with
    a :class:`DeprecationWarning`."""
    from vaearr.maps.boundaries.boundaries import find_boundaries
    from vaearr.viz.boundaries import boundary_files

    fields = renamed(fields, "boundaries", source="var")  # the library's old keyword (the command line's: --from)
    quiet = fields.pop("quiet", False)
    options = made(BoundariesOptions, store, fields, "boundaries")
    result = find_boundaries(store, options)
    if options.out is not None:
        boundary_files(result, options.out)
    if not quiet:
        print(result.summary())
    return written(store, [str(v.name) for v in (result.strength, result.grain_boundaries, result.low_angle_boundaries)])


@step(SegmentOptions, OUT, QUIET)
def segment(store: PathLike, **fields: Any) -> xr.Dataset:
    """``vaearr segment``: regions of similar features and the grains they join into
    (:class:`~vaearr.maps.options.SegmentOptions`: ``var``, ``mask``, ``name``…), with ``out`` (a folder) its figure
    there; returns ``{name}``, ``{name}_grains`` and ``{name}_boundaries``."""
    from vaearr.maps.segmentation.segment import segment_store
    from vaearr.viz.segment import segment_files

    fields = renamed(fields, "segment", figures="out")
    out, quiet = fields.pop("out", None), fields.pop("quiet", False)
    result = segment_store(store, made(SegmentOptions, store, fields, "segment"))
    if out is not None:
        segment_files(result, out)
    if not quiet:
        print(result.summary())
    return written(store, list(result.variables))

@step(SpreadOptions, OUT, QUIET)
def spread(store: PathLike, **fields: Any) -> xr.Dataset:
    """``vaearr spread``: kernel and domain spreads of a feature map over a segmentation's grains and the
    recrystallised regions (:class:`~vaearr.maps.options.SpreadOptions`), with ``out`` (a folder) their figure there;
    returns the three maps."""
    from vaearr.maps.deformation.spread import spread_store
    from vaearr.viz.segment import figure_folder
    from vaearr.viz.spread import spread_files

    fields = renamed(fields, "spread", figures="out")
    out, quiet = fields.pop("out", None), fields.pop("quiet", False)
    result = spread_store(store, made(SpreadOptions, store, fields, "spread"))
    if out is not None:
        spread_files(result, figure_folder(store, out, suffix="spread"))
    if not quiet:
        print(result.summary())
    return written(store, list(result.variables))



# --------------------------------------------------------------------------------------------
# results out


@step(ExportOptions, QUIET)
def export(store: PathLike, out: PathLike | None = None, **fields: Any) -> Path:
    """``vaearr export``: orientations to ``out``, a ``.ang``/``.ctf``/orix HDF5 file (``var``: the orientation
    variable), or with ``variables`` (or ``out`` a ``.csv``) maps to a CSV table
    (:class:`~vaearr.io.options.ExportOptions`, :func:`vaearr.io.export.export_store`); returns the file. ``to=`` and
    ``orientation=``, the old names of ``out`` and ``var``, are taken with a :class:`DeprecationWarning`."""
    from vaearr.io.export import export_store

    quiet = fields.pop("quiet", False)
    given = {"out": out, **fields} if out is not None else fields
    if "out" not in given and "to" not in given:
        raise InputError(None, "vaearr.export: give out, the file to write (.ang, .ctf, .h5 or .csv)")
    options = made(ExportOptions, store, given, "export")
    result = export_store(options, progress=not quiet)
    if not quiet:
        print(result.summary())
    return Path(options.out)


@step(ReportOptions, QUIET)
def report(store: PathLike, out: PathLike | None = None, **fields: Any) -> Path:
    """``vaearr report``: one self-contained HTML page of the store and its run in ``out`` (default ``STORE_report``
    beside the store: :func:`vaearr.files.beside_store`; :class:`~vaearr.analysis.options.ReportOptions`: ``run``,
    ``analyses``, ``discover``, ``title``); returns the page's path."""
    from vaearr.viz.report import build_report

    quiet = fields.pop("quiet", False)
    options = made(ReportOptions, store, {"out": out, **fields}, "report")
    result = build_report(store, options=options, echo=(lambda _: None) if quiet else print)
    if not quiet:
        print(result.summary())
    return result.path


# --------------------------------------------------------------------------------------------
# crystals


@step(MasterPatternOptions, QUIET)
def master_pattern(phase: str, **fields: Any) -> MasterPatternResult:
    """``vaearr master-pattern``: the master pattern of ``phase`` (as ``index`` takes it: ``fcc``, a ``.cif``…),
    kinematical (computed once, cached) or read, and with ``out`` (a folder) its PNG and ``.npz`` there
    (:class:`~vaearr.crystals.options.MasterPatternOptions`); prints what the command prints (``quiet``: nothing) and
    returns it (``.master_pattern``: kikuchipy's ``EBSDMasterPattern``; ``.files``)."""
    from vaearr.crystals.master_patterns import master_pattern_of

    quiet = fields.pop("quiet", False)
    options = from_fields(MasterPatternOptions, {"phase": phase, **fields}, "vaearr.master_pattern")
    writable_folders(out=options.out)
    result = master_pattern_of(options)
    if not quiet:
        print(result.summary())
    return result


# --------------------------------------------------------------------------------------------
# the store itself


@step(InfoOptions)
def info(store: PathLike) -> str:
    """``vaearr info``: the variables, dims, masks and provenance of ``store``, the text the command prints
    (:func:`vaearr.store.describe`; ``print(vaearr.info(store))``)."""
    from vaearr.store import describe

    return describe(made(InfoOptions, store, {}, "info").store)


@step(VerifyOptions, QUIET)
def verify(store: PathLike, **fields: Any) -> Verification:
    """``vaearr verify``: every chunk of every variable of ``store`` read (:func:`vaearr.store.verify_store`); prints
    what the command prints (``quiet``: nothing) and returns the :class:`~vaearr.store.Verification` (``.ok``:
    every chunk whole)."""
    from vaearr.store import verify_store

    quiet = fields.pop("quiet", False)
    found = verify_store(made(VerifyOptions, store, fields, "verify"))
    if not quiet:
        print(found.summary())
    return found


# --------------------------------------------------------------------------------------------
# the accessors


def _store_of(obj: xr.Dataset | xr.DataArray) -> str:
    source = obj.encoding.get("source")
    if source is None:
        raise InputError(None, "this Dataset was not opened from a store (vaearr.open): give store=")
    return str(source)


@xr.register_dataset_accessor("vaearr")
class DatasetAccessor:
    """``ds.vaearr``: vaearr's verbs on a store's Dataset (:func:`open`, ``xr.open_zarr``)."""

    def __init__(self, ds: xr.Dataset):
        self._ds = ds

    @property
    def store(self) -> str | None:
        """The store the Dataset was opened from (``ds.encoding["source"]``), or None."""
        source = self._ds.encoding.get("source")
        return None if source is None else str(source)

    def _var(self, name: str) -> xr.DataArray:
        if name not in self._ds.data_vars:
            raise InputError(self.store, no_variable(name, self._ds.data_vars))
        return self._ds[name]

    def map(self, name: str, dim: Any = None, **options: Any):
        """The map ``name`` as every figure of vaearr draws it (:func:`vaearr.viz.variable.variable_map`): x to the
        right, y downward, axes in µm with a scale bar, the unit of its values on the colour bar; ``dim`` one entry
        of its extra dim (``ds.vaearr.map("latent", dim=3)``, ``ds.vaearr.map("elements", dim="Ni")``), None a grid
        of all. A HoloViews object: interactive in a notebook, ``vaearr.viz.save_figure`` writes it."""
        from vaearr.viz.variable import variable_map

        return variable_map(self._var(name), dim, **options)

    def figure(self, name: str, dim: Any = None, **options: Any):
        """:meth:`map` as the Matplotlib figure of its PNG (:func:`vaearr.viz.static_figure`): for a paper, or a
        notebook stored with its outputs."""
        from vaearr.viz.core import static_figure

        return static_figure(self.map(name, dim, **options))

    def save(self, name: str, path: PathLike, dim: Any = None, **options: Any) -> tuple[Path, Path]:
        """:meth:`map` as ``path``.html and .png (or ``--format``'s: :func:`vaearr.viz.save_figure`)."""
        from vaearr.viz.core import save_figure

        return save_figure(self.map(name, dim, **options), path)

    def pattern(self, x: float, y: float, *, var: str = "patterns") -> xr.DataArray:
        """The pattern ``(py, px)`` of the pixel nearest ``(x, y)`` in µm (:func:`vaearr.viz.variable.at_point`)."""
        from vaearr.viz.variable import at_point

        return at_point(self._var(var), x=x, y=y)

    def latent_at(self, x: float, y: float, *, name: str = "latent") -> xr.DataArray:
        """The latent vector (``latent_dim``) of the pixel nearest ``(x, y)`` in µm (NaN outside the run's mask)."""
        from vaearr.viz.variable import at_point

        return at_point(self._var(name), x=x, y=y)

    def report(self, out: PathLike | None = None, *, run: PathLike | None = None, store: PathLike | None = None,
               **kwargs: Any) -> Path:
        """:func:`report` of the store the Dataset was opened from (or ``store``); returns the page's path."""
        return report(store if store is not None else _store_of(self._ds), out, run=run, **kwargs)


@xr.register_dataarray_accessor("vaearr")
class DataArrayAccessor:
    """``da.vaearr``: a map variable drawn as vaearr draws maps."""

    def __init__(self, da: xr.DataArray):
        self._da = da

    def map(self, dim: Any = None, **options: Any):
        """The map (:meth:`DatasetAccessor.map`)."""
        from vaearr.viz.variable import variable_map

        return variable_map(self._da, dim, **options)

    def figure(self, dim: Any = None, **options: Any):
        """The map as the Matplotlib figure of its PNG (:meth:`DatasetAccessor.figure`)."""
        from vaearr.viz.core import static_figure

        return static_figure(self.map(dim, **options))

    def at(self, x: float, y: float) -> xr.DataArray:
        """The values of the pixel nearest ``(x, y)`` in µm (:func:`vaearr.viz.variable.at_point`)."""
        from vaearr.viz.variable import at_point

        return at_point(self._da, x=x, y=y)
