"""Results out of a store: orientations to ``.ang`` / ``.ctf`` / orix HDF5, maps to a CSV table.

:func:`export_orientations` writes a store's orientations with their phases through orix's writers
(``.ang`` for EDAX OIM and MTEX, orix HDF5 for orix/kikuchipy) and :func:`vaearr.io.ctf.write_ctf`
(``.ctf`` for AZtec/MTEX: orix has no ``.ctf`` writer); a label map may stand for the phase id or ride
along as a grain id. :func:`export_table` writes ``(y, x)`` and ``(y, x, k)`` variables (latents,
decomposition weights, clusters, segmentations) as one row per pixel: ``x, y`` (µm) then one column
per variable or component. Everything is checked before anything is written, and the file appears
whole (written beside it, then renamed) or not at all.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from types import MappingProxyType

import numpy as np
import pandas as pd
import xarray as xr

from vaearr.crystals import header_name
from vaearr.errors import InputError, require
from vaearr.files import no_loop, writable_folder, write_whole
from vaearr.io.bridge import GRAIN_ID, ORIX_PROPERTY, label_map, store_detector, to_crystal_map
from vaearr.io.ctf import write_ctf
from vaearr.io.options import ExportOptions
from vaearr.progress import bar
from vaearr.store import open_store, require_whole
from vaearr.store.schema import PHASE_ID, ROI, X, Y, no_variable, phase_id_name
from vaearr.numba_cache import guard_gufunc_cache

#: Output suffix → what is written.
FORMATS = MappingProxyType({".ang": "EDAX/TSL .ang (orix)", ".ctf": "Oxford .ctf", ".h5": "orix HDF5", ".hdf5": "orix HDF5",
                            ".csv": "CSV table"})
#: Rows of a CSV written per block (one progress step).
CSV_BLOCK_ROWS = 65536


@dataclass
class Exported:
    """What an export wrote: the file, its format and a line per fact worth saying."""

    path: Path
    kind: str
    lines: list[str]

    def summary(self) -> str:
        return "\n".join([f"wrote {self.path} ({self.kind})", *self.lines])


def check_target(path: str | os.PathLike, overwrite: bool) -> tuple[Path, str]:
    """The output file and its suffix, or one :class:`InputError` line: an unknown suffix, an existing
    file without ``overwrite``, a folder that cannot be written."""
    path = Path(path)
    no_loop(path, "`to`")
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InputError(path, f"unknown suffix '{path.suffix}': give .ang, .ctf, .h5 (orix HDF5) or .csv")
    if path.is_dir():
        raise InputError(path, "is a folder; give a file name")
    if path.exists() and not overwrite:
        raise InputError(path, "exists; pass `overwrite=True` to replace it")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise InputError(path, f"cannot be written: {folder} is not a folder")
    try:  # a file made and removed tells more than os.access (root, read-only mounts, /proc)
        fd, probe = tempfile.mkstemp(prefix=".vaearr-probe.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(path, f"cannot be written: the folder {folder} is not writable ({exc.strerror})") from None
    return path, suffix


def _write_whole(path: Path, write) -> None:
    """``write(tmp)`` beside ``path``, then rename: the file appears whole or not at all; a full disk is one
    :class:`~vaearr.files.NoRoomError` line and leaves no temporary file (:func:`vaearr.files.write_whole`)."""
    writable_folder(path.parent, "`to`")  # a folder made here goes again if the export fails
    write_whole(path, write, what=f"nothing was written there{', the file there is as it was' if path.exists() else ''}")


def _write_hdf5(path: Path, write) -> None:
    """``write(f)`` into an HDF5 file built in memory, then its bytes written whole: HDF5 never writes the disk
    itself, so a full disk is an ordinary write error here (HDF5 that meets one while flushing prints a
    traceback per handle and can crash the process as it tears them down)."""
    buffer = io.BytesIO()
    write(buffer)
    data = buffer.getbuffer()
    _write_whole(path, lambda tmp: tmp.write_bytes(data))


def _angstrom(xmap) -> None:
    """Lattice constants of phases from an EMsoft master pattern (nm) in Å, as ``.ang``/``.ctf`` hold them."""
    for _, phase in xmap.phases:
        lattice = getattr(phase.structure, "lattice", None)
        if lattice is not None and 0 < lattice.a < 2:  # no crystal has a < 2 Å: these are nm
            lattice.setLatPar(lattice.a * 10, lattice.b * 10, lattice.c * 10)


def export_orientations(store: str | os.PathLike, to: str | os.PathLike, *, orientation: str = "orientation",
                        phase_from: str | None = None, grain_from: str | None = None,
                        overwrite: bool = False) -> Exported:
    """Write a store's orientations to ``.ang``, ``.ctf`` or orix HDF5 (``.h5``/``.hdf5``).

    Parameters
    ----------
    store
        Store with ``orientation(y, x, quaternion)`` and its phase ids.
    to
        Output file; its suffix picks the format.
    orientation
        Orientation variable.
    phase_from
        A label map (segmentation, clusters) whose labels become the phases (see
        :func:`vaearr.io.bridge.to_crystal_map`).
    grain_from
        A label map written as a grain id: an extra ``grain_id`` column in ``.ang``, a property in orix
        HDF5 (``.ctf`` has no such column: refused).
    overwrite
        Replace ``to`` if it exists.

    Raises
    ------
    InputError
        An unknown suffix, ``to`` exists, its folder cannot be written, no such orientation
        variable, a ``phase_from``/``grain_from`` that is not a label map.
    """
    to, suffix = check_target(to, overwrite)
    if suffix == ".csv":
        raise InputError(to, "a .csv takes map variables (`vars`), not orientations: give .ang, .ctf or .h5")
    if suffix == ".ctf" and grain_from is not None:
        raise InputError(to, "`grain_from`: a .ctf has no grain id column; export .ang or .h5, or use `phase_from`")
    ds = open_store(store)
    require_whole(ds, [orientation, phase_id_name(orientation), PHASE_ID, phase_from, grain_from,
                       *(q for name in ORIX_PROPERTY for q in (f"{orientation}_{name}", name))], store)
    xmap = to_crystal_map(ds, orientation, phase_from=phase_from, grain_from=grain_from, where=store)
    if suffix in (".ang", ".ctf"):
        _angstrom(xmap)
        for _, phase in xmap.phases:  # a name is one field of a header line: no line break or '#' of its own
            phase.name = header_name(phase.name)
    columns: list[str] = []
    if suffix == ".ctf":
        _write_whole(to, lambda tmp: columns.extend(write_ctf(tmp, xmap)))
        columns.append("projection centre: the .ctf format holds none")
    else:
        guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
        orix_io = require("orix.io", "ebsd")
        kw: dict[str, Any] = {}
        pc = None
        if suffix == ".ang":
            for name in list(xmap.prop):  # orix's .ang writer takes no NaN
                xmap.prop[name] = np.nan_to_num(np.asarray(xmap.prop[name], float), nan=0.0)
            kw, columns = ang_columns(xmap)
            kw.update({"extra_prop": [GRAIN_ID]} if grain_from is not None else {})
            pc, said = ang_projection_centre(ds, orientation)
            columns.append(said)

        def write(tmp: Any) -> None:
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if suffix == ".ang":
                    orix_io.save(tmp, xmap, overwrite=True, **kw)
                    if pc is not None:
                        write_ang_pc(tmp, pc)
                else:
                    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
                    require("orix.io.plugins.orix_hdf5", "ebsd").file_writer(tmp, xmap)

        (_write_whole if suffix == ".ang" else _write_hdf5)(to, write)
    n_indexed = int((xmap.phase_id >= 0).sum())
    phases = ", ".join(f"{p.name} ({p.point_group.name if p.point_group else '?'})" for i, p in xmap.phases if i >= 0)
    lines = [f"{n_indexed} of {xmap.size} points indexed; phases: {phases or 'none'}", *columns]
    if grain_from is not None:
        lines.append(f"grain id from '{grain_from}' ({GRAIN_ID})")
    if suffix == ".ang" and (float(ds[X][0]) != 0 or float(ds[Y][0]) != 0):
        lines.append(f"note: .ang coordinates start at 0 (orix's writer); the store's start at x {float(ds[X][0]):g}, "
                     f"y {float(ds[Y][0]):g} µm")
    return Exported(to, FORMATS[suffix], lines)


def ang_columns(xmap) -> tuple[dict[str, Any], list[str]]:
    """The properties orix's ``.ang`` writer puts in the CI and fit columns, and a line on each.

    CI (0–1 in the format; −1 where not indexed): the map's ``ci`` (a vendor file's CI, or PyEBSDIndex's
    confidence metric from ``vaearr index --method hough``), else its NCC ``scores`` (dictionary indexing,
    refinement: orix and kikuchipy write the NCC there too), clipped to 0–1; none → 0. Fit (degrees): ``fit``
    (PyEBSDIndex's pattern fit, a vendor fit), else ``MAD``.
    """
    kw: dict[str, Any] = {}
    lines = []
    for source, what in (("ci", "the store's CI"), ("scores", "the NCC of the best match")):
        if source in xmap.prop:
            v = np.asarray(xmap.prop[source], float)
            clipped = int(((v < 0) | (v > 1))[np.asarray(xmap.phase_id) >= 0].sum())
            xmap.prop["ci_0_1"] = np.clip(v, 0.0, 1.0)
            kw["confidence_index_prop"] = "ci_0_1"
            lines.append(f"CI: {what} ('{source}')" + (f", {clipped} values clipped to 0–1" if clipped else ""))
            break
    else:
        lines.append("CI: none in the store (0; −1 where not indexed)")
    for source in ("fit", "MAD"):
        if source in xmap.prop:
            kw["pattern_fit_prop"] = source
            lines.append(f"fit: '{source}' (degrees)")
            break
    return kw, lines


def ang_projection_centre(ds: xr.Dataset, orientation: str) -> tuple[np.ndarray | None, str]:
    """The projection centre the store holds, in the EDAX/TSL convention a ``.ang`` header takes (kikuchipy's
    :meth:`EBSDDetector.pc_tsl`; the mean over the map when it varies), and a line saying where it came from."""
    detector = store_detector(ds, orientation)
    if detector is None:
        return None, "projection centre: none in the store (x-star, y-star, z-star 0)"
    pc = np.asarray(detector.pc_tsl(), float).reshape(-1, 3)
    where = "the indexing's detector" if (ds[orientation].attrs.get("detector") or {}).get("pc_bruker") \
        else "the patterns' detector_pc"
    mean = " (mean over the map)" if len(pc) > 1 else ""
    pc = pc.mean(0)
    return pc, (f"projection centre x-star {pc[0]:.6f}, y-star {pc[1]:.6f}, z-star {pc[2]:.6f}{mean} (EDAX "
                f"convention, from {where} by kikuchipy's pc_tsl)")


def write_ang_pc(path: str | os.PathLike, pc: np.ndarray) -> None:
    """Put ``pc`` (EDAX convention) in the ``x-star``/``y-star``/``z-star`` lines of a ``.ang`` header (orix's
    writer writes zeros there): in place when the header keeps its length, else the file copied once."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    lines = head.splitlines(keepends=True)
    n_head = next((i for i, line in enumerate(lines) if not line.startswith(b"#")), len(lines))
    old = b"".join(lines[:n_head])
    new = old.decode()
    for key, value in zip(("x-star", "y-star", "z-star"), pc, strict=True):
        new, n = re.subn(rf"^# {key}[ \t]+\S+$", f"# {key:<22} {float(value):.6f}", new, count=1, flags=re.M)
        if n != 1:
            raise RuntimeError(f"orix's .ang header has no '{key}' line to hold the projection centre")
    data = new.encode()
    if len(data) == len(old):
        with open(path, "r+b") as f:
            f.write(data)
        return
    moved = path.with_name(path.name + ".pc")
    with open(path, "rb") as src, open(moved, "wb") as dst:
        src.seek(len(old))
        dst.write(data)
        shutil.copyfileobj(src, dst, 1 << 20)
    os.replace(moved, path)


def _columns(ds: xr.Dataset, name: str, where) -> list[tuple[str, np.ndarray]]:
    """Variable ``name`` as ``(column, values over y × x)`` pairs: one for a map, one per component."""
    if name not in ds.data_vars:
        raise InputError(where, f"`vars`: {no_variable(name, ds.data_vars)}")
    v = ds[name]
    rest = [d for d in v.dims if d not in (Y, X)]
    if Y not in v.dims or X not in v.dims or len(rest) > 1:
        raise InputError(where, f"`vars`: '{name}' is not a (y, x) map or a (y, x, component) stack "
                                f"(its dims: {', '.join(map(str, v.dims))})")
    if not rest:
        return [(name, v.transpose(Y, X).values.ravel())]
    v = v.transpose(Y, X, rest[0])
    labels = v[rest[0]].values if rest[0] in v.coords else np.arange(v.sizes[rest[0]])
    values = v.values.reshape(-1, v.sizes[rest[0]])
    return [(f"{name}_{label}", values[:, k]) for k, label in enumerate(labels)]


def export_table(store: str | os.PathLike, to: str | os.PathLike, variables: Sequence[str], *,
                 mask: str | None = None, overwrite: bool = False, progress: bool | str = False) -> Exported:
    """Write map variables as a CSV table: one row per pixel (y outer, x inner), columns ``x``, ``y`` (µm) then
    each variable (a ``(y, x, k)`` stack as ``{name}_{k}`` per component).

    Values outside the store's ``roi`` are empty of meaning, so they are written ``NaN``; with ``mask``
    (a boolean ``(y, x)`` variable) the rows outside it are left out instead.

    Raises
    ------
    InputError
        An unknown suffix, ``to`` exists, its folder cannot be written, no variables, a variable that is
        not a map, a mask that is not a boolean map.
    """
    to, suffix = check_target(to, overwrite)
    if suffix != ".csv":
        raise InputError(to, f"`vars` writes a .csv table; orientations go to {suffix} with `orientation`")
    if not variables:
        raise InputError(to, "a .csv needs `vars` (e.g. `vars='latent,pca_weights,clusters'`)")
    ds = open_store(store)
    require_whole(ds, [*variables, mask, ROI], store)  # before any work
    cols = [c for name in variables for c in _columns(ds, name, store)]
    keep = np.ones(ds.sizes[Y] * ds.sizes[X], bool)
    if mask is not None:
        keep = label_map(ds, mask, "`mask`", store).ravel() > 0
    roi = ds[ROI].transpose(Y, X).values.ravel().astype(bool) if ROI in ds.data_vars else keep
    yy, xx = np.meshgrid(ds[Y].values, ds[X].values, indexing="ij")
    frame = {"x": xx.ravel(), "y": yy.ravel()}
    for name, values in cols:
        if values.dtype.kind in "iub":  # labels stay integers; NaN outside the roi all the same
            column = pd.array(values.astype(np.int64), dtype="Int64")
            column[~roi] = pd.NA
        else:
            column = values.astype(values.dtype if values.dtype.kind == "f" else np.float64, copy=True)
            column[~roi] = np.nan
        frame[name] = column
    table = pd.DataFrame(frame)[keep]

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as f:
            blocks = range(0, max(len(table), 1), CSV_BLOCK_ROWS)
            # progress: the bar's label, or True (labelled "export csv"), or False (no bar: quiet)
            label = progress if isinstance(progress, str) else "export csv"
            for start in bar(blocks, desc=label, unit="block") if progress else blocks:
                table.iloc[start:start + CSV_BLOCK_ROWS].to_csv(f, index=False, header=start == 0, na_rep="NaN")

    _write_whole(to, write)
    lines = [f"{len(table)} rows × {table.shape[1]} columns (x, y, {', '.join(c for c, _ in cols[:6])}"
             f"{', …' if len(cols) > 6 else ''})"]
    if mask is not None:
        lines.append(f"rows outside '{mask}' left out")
    elif ROI in ds.data_vars:
        lines.append(f"NaN outside '{ROI}' ({int((~roi).sum())} pixels)")
    return Exported(to, FORMATS[suffix], lines)


def export_store(options: ExportOptions, *, progress: bool | str = False) -> Exported:
    """``vaearr export`` (:class:`~vaearr.io.options.ExportOptions`): :func:`export_table` of ``variables`` when it
    writes a table (:meth:`~vaearr.io.options.ExportOptions.table`), else :func:`export_orientations` of ``var``."""
    if options.table():
        return export_table(options.store, options.out, list(options.variables or []), mask=options.mask,
                            overwrite=options.overwrite, progress=progress)
    return export_orientations(options.store, options.out, orientation=options.var, phase_from=options.phase_from,
                               grain_from=options.grain_from, overwrite=options.overwrite)
