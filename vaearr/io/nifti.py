"""Read NIfTI volumes (a list, a folder, or a CSV of subject,path) into a volume store.

Axis convention (the one thing to remember). nibabel gives a volume as ``data[i, j, k]`` with
``i`` the fastest-varying axis on disk, and the file's affine maps ``(i, j, k, 1)`` to world
millimetres. The store keeps the array in C order with the slowest axis first:

* ``volumes[s, z, y, x]`` with ``z = k``, ``y = j``, ``x = i`` — i.e.
  ``volumes[s] = data.transpose(2, 1, 0)`` and ``volumes[s, k, j, i]`` is voxel ``(i, j, k)``;
* ``affine[s]`` keeps the NIfTI meaning: it maps ``(i, j, k, 1)`` = ``(x, y, z, 1)`` index
  order — note, *not* the stored ``(z, y, x)`` order — to world coordinates. After a crop, pad or
  resample it is updated so that this mapping stays true for the stored voxels;
* ``voxel_size[s, axis]`` with ``axis`` = ``"z", "y", "x"`` (stored order): the lengths of the
  affine's k, j, i columns.

``shape`` arguments are in NIfTI ``(i, j, k)`` order, as nibabel, FSL and SPM report them; the
stored ``volumes`` then has sizes ``(shape[2], shape[1], shape[0])``. :func:`to_nifti` writes a
subject back with the inverse transpose and the stored affine.

Headers are all read and checked first; voxels are read through nibabel's array proxy by one
dask task per subject, so at write time only a few volumes are in memory at once.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import xarray as xr
from scipy import ndimage

from vaearr.errors import InputError, require, unreadable
from vaearr.io.write import write_ingested
from vaearr.store import open_store
from vaearr.store.schema import VOLUME_SPATIAL_DIMS
# moved to vaearr.io.nifti_sources; importable from here too
from vaearr.io.nifti_sources import (  # noqa: F401
    read_labels, resolve_sources,
)

#: Accepted values of ``method``.
METHODS = ("crop", "resample")
#: Names of the stored spatial dims, slowest first: ``z`` is NIfTI ``k``, ``x`` is ``i``.
SPATIAL_DIMS = VOLUME_SPATIAL_DIMS
#: Human-readable statement of the index order, kept in the store's attrs.
INDEX_ORDER = (
    "volumes[s, z, y, x] = NIfTI voxel (i=x, j=y, k=z), i.e. data.transpose(2, 1, 0); "
    "affine[s] maps NIfTI (i, j, k, 1) to world mm"
)


@dataclass(frozen=True)
class _Plan:
    """What to read from one file and how to map it onto the common grid."""

    subject: str
    path: Path
    volume: int | None  # index along the 4th dim, None for 3D files
    src_shape: tuple[int, int, int]  # (i, j, k)
    src_affine: np.ndarray
    four_d: bool = False  # the file holds several volumes


def _nib():
    return require("nibabel", "nifti")


def _plan(subject: str, path: Path, volume: int | None) -> _Plan:
    """Read one header (no voxels) and check the file can give one 3D volume."""
    nib = _nib()
    try:
        img = nib.load(path)
    except Exception as exc:  # noqa: BLE001 - nibabel raises ImageFileError, OSError, ValueError...
        raise unreadable(path, "a NIfTI image nibabel reads (.nii, .nii.gz)", exc, suffixes=(".nii", ".gz")) from None
    shape = tuple(int(s) for s in img.shape)
    # trailing singleton dims (x, y, z, 1) are a 3D volume saved as 4D
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    index: int | None = None
    if len(shape) == 4:
        n = shape[3]
        if volume is None:
            raise InputError(path, f"is 4D ({n} volumes); pick a volume with `volume=N` (0..{n - 1})")
        if not 0 <= volume < n:
            raise InputError(path, f"has {n} volumes; `volume={volume}` is not in 0..{n - 1}")
        index = volume
    elif len(shape) != 3:
        raise InputError(path, f"has shape {tuple(img.shape)} ({len(shape)}D): cannot be reconciled with 3D volumes")
    if len(img.shape) > 3 and index is None:
        index = 0  # the squeezed singleton dims
    if 0 in shape[:3]:
        raise InputError(path, f"has an empty dim (shape {tuple(img.shape)})")
    kind = img.get_data_dtype().kind
    if kind not in "biuf":
        raise InputError(path, f"holds {img.get_data_dtype()} voxels; only real scalar volumes can be stored")
    if img.affine is None:
        raise InputError(path, "has no affine (voxel to world mapping)")
    return _Plan(subject, Path(path), index, shape[:3], np.asarray(img.affine, dtype=np.float64), len(shape) == 4)


def crop_affine(affine: np.ndarray, offset: Sequence[int]) -> np.ndarray:
    """Affine after cropping (positive offset) or padding (negative) the voxel grid.

    New voxel ``n`` is old voxel ``n + offset``, so world = ``A @ (n + offset)``.

    Examples
    --------
    >>> crop_affine(np.diag([2.0, 2.0, 2.0, 1.0]), (1, 0, -2))[:3, 3]
    array([ 2.,  0., -4.])
    """
    out = np.array(affine, dtype=np.float64)
    out[:3, 3] = affine[:3, :3] @ np.asarray(offset, dtype=np.float64) + affine[:3, 3]
    return out


def resample_affine(affine: np.ndarray, src_shape: Sequence[int], dst_shape: Sequence[int]) -> np.ndarray:
    """Affine after resampling a grid of ``src_shape`` voxels onto ``dst_shape`` over the same extent.

    Voxel edges of the field of view stay put: new voxel ``n`` has centre at old index
    ``s * n + (s - 1) / 2`` with ``s = src / dst`` per axis.

    Examples
    --------
    >>> resample_affine(np.eye(4), (4, 4, 4), (2, 2, 2))[:3, 3]
    array([0.5, 0.5, 0.5])
    """
    s = np.asarray(src_shape, dtype=np.float64) / np.asarray(dst_shape, dtype=np.float64)
    step = np.eye(4)
    step[:3, :3] = np.diag(s)
    step[:3, 3] = (s - 1) / 2
    return np.asarray(affine, dtype=np.float64) @ step


def _centre_offset(src: Sequence[int], dst: Sequence[int]) -> tuple[int, ...]:
    # crop (positive) or pad (negative) evenly; an odd difference puts the extra voxel at the end
    return tuple((n - m) // 2 if n >= m else -((m - n) // 2) for n, m in zip(src, dst))


def _load(plan: _Plan, shape: tuple[int, int, int], method: str) -> np.ndarray:
    """One subject's voxels on the common grid, as stored: ``(z, y, x)`` float32."""
    nib = _nib()
    try:
        proxy = nib.load(plan.path).dataobj
        # crop or resample: the two ways onto the common grid, each with its own affine (below)
        if method == "crop":
            offset = _centre_offset(plan.src_shape, shape)
            src = tuple(slice(max(o, 0), max(o, 0) + min(n, m)) for o, n, m in zip(offset, plan.src_shape, shape))
            dst = tuple(slice(max(-o, 0), max(-o, 0) + min(n, m)) for o, n, m in zip(offset, plan.src_shape, shape))
            # slicing the proxy reads only the kept voxels (all of them for gzip)
            key = src if plan.volume is None else (*src, plan.volume) + (0,) * (len(proxy.shape) - 4)
            vol = np.zeros(shape, dtype=np.float32)  # padding is 0, the usual background
            vol[dst] = np.asarray(proxy[key], dtype=np.float32)
        else:
            key = (slice(None),) * 3 + (() if plan.volume is None else (plan.volume,) + (0,) * (len(proxy.shape) - 4))
            vol = _resample(np.asarray(proxy[key], dtype=np.float32), shape)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - damage in the voxel data only shows when it is read
        raise InputError(plan.path, f"cannot read voxels: {exc}") from None
    return np.ascontiguousarray(vol.transpose(2, 1, 0))


def _resample(vol: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Trilinear resample over the same field of view (see :func:`resample_affine`)."""

    if vol.shape == tuple(shape):
        return vol
    s = np.asarray(vol.shape, dtype=np.float64) / np.asarray(shape, dtype=np.float64)
    sigma = np.maximum(0.0, (s - 1) / 2)  # anti-alias when shrinking, as skimage's resize does
    if np.any(sigma > 0):
        vol = ndimage.gaussian_filter(vol, sigma, mode="nearest")
    return ndimage.affine_transform(
        vol, s, offset=(s - 1) / 2, output_shape=tuple(shape), order=1, mode="nearest"
    ).astype(np.float32, copy=False)


def _check_shape(shape: Sequence[int] | None, first: _Plan) -> tuple[int, int, int]:
    if shape is None:
        return first.src_shape
    try:
        target = tuple(int(v) for v in shape)
        ok = len(target) == 3 and all(v > 0 and v == s for v, s in zip(target, shape))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InputError(
            first.path,
            f"shape {first.src_shape} cannot be reconciled with `shape` {tuple(shape)}: "
            "give 3 positive sizes (i j k)",
        )
    return target  # type: ignore[return-value]


def read_nifti(
    sources: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    shape: tuple[int, int, int] | None = None,
    method: str = "crop",
    volume: int | None = None,
) -> xr.Dataset:
    """Read NIfTI volumes lazily onto one common grid.

    Parameters
    ----------
    sources
        Files, one folder, or one CSV with columns ``subject,path`` (see
        :func:`resolve_sources`).
    shape
        Common grid in NIfTI ``(i, j, k)`` order; default the first volume's shape.
    method
        ``"crop"``: centre crop / zero pad each axis (voxels are untouched, the affine's origin
        moves); ``"resample"``: trilinear resampling over the same field of view (Gaussian
        anti-aliasing when shrinking; the affine's voxel size changes).
    volume
        Which volume of 4D files to take (3D files are read whole).

    Returns
    -------
    xarray.Dataset
        ``volumes(subject, z, y, x)`` float32 (dask, one task per subject),
        ``affine(subject, affine_row, affine_col)`` float64,
        ``voxel_size(subject, axis)`` float64 with ``axis`` = ``z, y, x``; coord ``subject``.
        See the module docstring for the index order.

    Raises
    ------
    InputError
        A missing or unreadable file, a 4D file without ``volume``, a 2D or 5D image, a
        ``shape`` that is not 3 positive sizes, an unknown ``method`` — naming the file.

    Examples
    --------
    >>> import nibabel, os
    >>> f = os.path.join(os.path.dirname(nibabel.__file__), "tests", "data", "anatomical.nii")
    >>> ds = read_nifti([f], shape=(32, 40, 24))
    >>> ds["volumes"].shape, ds["subject"].values.tolist()
    ((1, 24, 40, 32), ['anatomical'])
    """
    return _read_pairs(resolve_sources(sources), shape=shape, method=method, volume=volume)


def _read_pairs(
    pairs: list[tuple[str, Path]], *, shape: Sequence[int] | None, method: str, volume: int | None
) -> xr.Dataset:
    if method not in METHODS:
        raise InputError(pairs[0][1], f"method must be one of {', '.join(METHODS)}, got {method!r}")
    plans = [_plan(subject, path, volume) for subject, path in pairs]
    if volume is not None and not any(p.four_d for p in plans):  # it picks from 4D files; these are all 3D
        raise InputError(pairs[0][1], f"is 3D (one volume), as are all the files given; `volume={volume}` is for "
                                      "4D files (leave it out)")
    target = _check_shape(shape, plans[0])
    return _build(plans, target, method)


def _build(plans: list[_Plan], shape: tuple[int, int, int], method: str) -> xr.Dataset:
    stored = shape[::-1]  # (z, y, x)
    blocks, affines = [], []
    for plan in plans:
        task = dask.delayed(_load, pure=True)(plan, shape, method)
        blocks.append(da.from_delayed(task, shape=stored, dtype=np.float32))
        if method == "crop":  # as in _load
            affines.append(crop_affine(plan.src_affine, _centre_offset(plan.src_shape, shape)))
        else:
            affines.append(resample_affine(plan.src_affine, plan.src_shape, shape))
    affine = np.stack(affines)
    # column lengths of the linear part are the voxel sizes along i, j, k; stored as z, y, x
    voxel = np.sqrt((affine[:, :3, :3] ** 2).sum(axis=1))[:, ::-1]
    subjects = np.array([p.subject for p in plans], dtype=str)
    attrs = {"index_order": INDEX_ORDER, "shape_ijk": list(shape), "method": method}
    return xr.Dataset(
        {
            "volumes": (("subject", *SPATIAL_DIMS), da.stack(blocks), {"index_order": INDEX_ORDER}),
            "affine": (("subject", "affine_row", "affine_col"), affine, {"index_order": INDEX_ORDER}),
            "voxel_size": (("subject", "axis"), np.ascontiguousarray(voxel), {"units": "mm (affine units)"}),
        },
        coords={"subject": subjects, "axis": np.array(SPATIAL_DIMS, dtype=str)},
        attrs=attrs,
    )


def ingest_nifti(
    sources: str | os.PathLike | Sequence[str | os.PathLike],
    store: str | os.PathLike,
    *,
    shape: tuple[int, int, int] | None = None,
    method: str = "crop",
    volume: int | None = None,
    subjects: str | os.PathLike | None = None,
    label_column: str | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> xr.Dataset:
    """Read volumes with :func:`read_nifti` and write them into ``store`` in one transaction.

    The store's root attrs get ``kind="volumes"``, ``index_order``, ``shape_ijk``, ``method``.
    With ``label_column``, that column of the subjects CSV (``subjects``, or the CSV of
    ``sources`` when it is one) becomes the coord ``label(subject)`` of every variable, as image
    stores have (explore colours by it); ``label_column`` is recorded in the root attrs.

    Returns the store, opened lazily after the write (:func:`~vaearr.io.write.write_ingested`).

    Raises
    ------
    InputError
        As :func:`read_nifti`, before anything is written (voxel damage found only while
        reading aborts the write and leaves the store as it was).
    StoreError
        A variable exists and ``overwrite`` is false, or the store's ``subject`` differs.
    """
    pairs = resolve_sources(sources)
    if subjects is None and label_column is not None:
        given = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
        if len(given) != 1 or Path(given[0]).suffix.lower() != ".csv":
            raise InputError(None, "`label_column` needs a subjects CSV: give `subjects='FILE.csv'` (columns subject, "
                                   f"{label_column}) or the volumes as a CSV")
        subjects = given[0]
    if subjects is not None and label_column is None:
        raise InputError(subjects, "`subjects` needs `label_column='NAME'` (the column to carry into the store)")
    labels = read_labels(subjects, label_column, [s for s, _ in pairs]) if label_column else None
    ds = _read_pairs(pairs, shape=shape, method=method, volume=volume)
    if labels is not None:
        ds = ds.assign_coords(label=("subject", labels))
        ds.attrs["label_column"] = label_column
    files = [str(p.resolve()) for _, p in pairs]
    return write_ingested(
        store,
        {name: ds[name] for name in ("volumes", "affine", "voxel_size")},
        source=files,
        config={"shape": None if shape is None else list(shape), "method": method, "volume": volume,
                "subjects": None if subjects is None else os.fspath(subjects), "label_column": label_column},
        kind="volumes",
        group_attrs=ds.attrs,
        overwrite=overwrite,
        progress="ingest nifti" if progress else False,
    )


def to_nifti(ds: xr.Dataset | str | os.PathLike, subject: str, path: str | os.PathLike) -> Path:
    """Write one subject of a volume store back to a NIfTI file (float32, the stored affine).

    Parameters
    ----------
    ds
        A volume store, opened (``open_store``) or as a path.
    subject
        The subject's name.
    path
        Output file (``.nii`` or ``.nii.gz``).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    InputError
        No such subject.
    """
    nib = _nib()
    if not isinstance(ds, xr.Dataset):
        ds = open_store(ds)
    names = [str(s) for s in ds["subject"].values]
    if subject not in names:
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        raise InputError(None, f"no subject '{subject}' in the store (has {shown})")
    i = names.index(subject)
    data = np.asarray(ds["volumes"].isel(subject=i).values, dtype=np.float32).transpose(2, 1, 0)
    affine = np.asarray(ds["affine"].isel(subject=i).values, dtype=np.float64)
    img = nib.Nifti1Image(data, affine)
    img.set_qform(affine, code="aligned")  # some readers (older ITK) look at the qform first
    img.header.set_xyzt_units("mm")
    path = Path(path)
    nib.save(img, path)
    return path
