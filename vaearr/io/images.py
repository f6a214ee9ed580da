"""Read a folder of PNG/JPEG/TIFF images (labels from sub-folder names) into an image store.

Layout on disk::

    folder/
        cat/001.png          -> label "cat", filename "cat/001.png"
        dog/abc.jpg          -> label "dog"
        loose.tif            -> label ""   (no sub-folder)

Every file is checked up front, cheaply (the header is read and PIL's ``verify`` run; JPEGs are
decoded at 1/8 scale, which is the only cheap way to notice a truncated JPEG), before a single
pixel is decoded for real or anything is written. Pixels are then loaded by a dask task per
batch of images (a batch is one chunk of the store), so memory holds a few batches whatever the
folder's size.

Store schema: ``images(sample, row, col)`` for gray or ``images(sample, row, col, channel)``
for RGB (``channel`` = ``"R", "G", "B"``), uint8; coords on ``sample``: ``label`` (str, the first
sub-folder, ``""`` for files at the top) and ``filename`` (POSIX path relative to the folder).
Attrs: ``classes`` (JSON list of the non-empty labels, sorted), ``skipped`` (count) and
``skipped_files`` (JSON list) when ``skip_bad`` dropped files.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import xarray as xr
from PIL import Image, UnidentifiedImageError

from vaearr.errors import InputError, VaearrWarning
from vaearr.options import check_values
from vaearr.io.write import write_ingested
from vaearr.store import default_chunks

#: Formats PIL must detect in a file (by content, not by extension) for it to be read.
FORMATS = ("PNG", "JPEG", "TIFF", "BMP")
#: Accepted values of ``mode``.
MODES = ("auto", "L", "RGB")

# PIL modes whose pixels are one gray value (alpha, if any, is dropped)
_GRAY_MODES = frozenset({"1", "L", "LA", "I;16", "I;16L", "I;16B", "I;16N"})
_COLOR_MODES = frozenset({"RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "HSV"})
_PALETTE_MODES = frozenset({"P", "PA"})


@dataclass(frozen=True)
class _Probe:
    path: Path
    rel: str
    label: str
    gray: bool


def _candidates(folder: Path) -> list[Path]:
    # every visible regular file counts: a stray non-image is reported, not silently ignored
    files = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files.extend(Path(root) / n for n in names if not n.startswith("."))
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


def _palette_is_gray(im) -> bool:
    # read from the header's palette: getpalette() would decode the whole image
    pal = getattr(im, "palette", None)
    raw = getattr(pal, "palette", None)
    if not raw or getattr(pal, "mode", "RGB") != "RGB":
        return False
    rgb = np.frombuffer(bytes(raw), dtype=np.uint8)
    rgb = rgb[: rgb.size - rgb.size % 3].reshape(-1, 3)
    return bool(np.all(rgb == rgb[:, :1]))


def _probe(path: Path, folder: Path) -> _Probe:
    """Check one file cheaply; raise InputError naming it if it is not a usable image."""

    rel = path.relative_to(folder).as_posix()
    parts = Path(rel).parts
    label = parts[0] if len(parts) > 1 else ""
    try:
        with Image.open(path) as im:
            fmt, mode = im.format, im.mode
            if fmt not in FORMATS:
                raise InputError(path, f"is a {fmt} image; only {', '.join(FORMATS)} are read")
            if mode in _GRAY_MODES:
                gray = True
            elif mode in _COLOR_MODES:
                gray = False
            elif mode in _PALETTE_MODES:
                gray = _palette_is_gray(im)
            else:
                raise InputError(path, f"has pixel mode {mode}, which is not read; save it as 8- or 16-bit gray or RGB")
            if fmt == "JPEG":
                # verify() is a no-op for JPEG; a 1/8-scale decode finds truncation for little cost
                im.draft(im.mode, (1, 1))
                im.load()
            else:
                im.verify()
    except InputError:
        raise
    except UnidentifiedImageError:
        raise InputError(path, f"is not an image ({', '.join(FORMATS)})") from None
    except Exception as exc:  # noqa: BLE001 - PIL raises OSError, SyntaxError, struct.error... for damaged files
        raise InputError(path, f"is a damaged image: {exc}") from None
    return _Probe(path=path, rel=rel, label=label, gray=gray)


def _to_uint8(im):
    """16-bit gray to 8 bits by scaling (x/257, rounded); PIL's own conversion would clip."""

    arr = np.asarray(im).astype(np.uint32)
    return Image.fromarray(((arr + 128) // 257).astype(np.uint8), mode="L")


def _load_one(path: Path, size: int | None, rgb: bool) -> np.ndarray:
    try:
        with Image.open(path) as im:
            im.seek(0)  # multi-page TIFF: the first page
            if im.mode.startswith("I;16"):
                im = _to_uint8(im)
            im = im.convert("RGB" if rgb else "L")
            if size is not None and im.size != (size, size):
                # stretched to a square, not cropped: every pixel of the source is kept
                im = im.resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(im, dtype=np.uint8)
    except Exception as exc:  # noqa: BLE001 - PIL and its plugins raise many types on damage the probe could not see
        # a damage the cheap check could not see; the write aborts and the store is untouched
        raise InputError(path, f"cannot be decoded: {exc}") from None


def read_image_file(path: str | os.PathLike, *, size: int | None = None, rgb: bool = False) -> tuple[np.ndarray, bool]:
    """One image file read as :func:`read_image_folder` reads each of its files.

    Checked first (a readable PNG/JPEG/TIFF/BMP in a mode that is read), then decoded: 16-bit
    gray scaled to 8 bits, converted to gray or RGB (``rgb``), stretched to ``size`` × ``size``
    (None: its own size). Returns the pixels, ``(H, W)`` or ``(H, W, 3)`` uint8, and whether the
    file itself is gray.

    Raises
    ------
    InputError
        Naming the file: missing, not an image, damaged, or in a mode that is not read.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    probe = _probe(path, path.parent)
    return _load_one(path, size, rgb), probe.gray


def _load_batch(paths: Sequence[str], size: int, rgb: bool) -> np.ndarray:
    """Decode, convert and resize one batch of images: ``(n, size, size[, 3])`` uint8."""
    shape = (len(paths), size, size) + ((3,) if rgb else ())
    out = np.empty(shape, dtype=np.uint8)
    for i, p in enumerate(paths):
        out[i] = _load_one(Path(p), size, rgb)
    return out


def read_image_folder(
    folder: str | os.PathLike,
    *,
    size: int = 256,
    mode: str = "auto",
    skip_bad: bool = False,
) -> xr.Dataset:
    """Read a folder of images lazily as a Dataset with ``images(sample, row, col[, channel])``.

    Parameters
    ----------
    folder
        Folder of PNG, JPEG or TIFF files (also BMP), at the top or in one level (or more) of
        sub-folders; the first sub-folder's name is the label. Hidden files are ignored; every
        other file must be an image.
    size
        Every image is resized (stretched, bilinear) to ``size`` × ``size``. Images already that
        size keep their pixels exactly.
    mode
        ``"L"`` (gray), ``"RGB"``, or ``"auto"``: gray if every image is gray, else RGB (gray
        images are then repeated into three channels). RGB is turned to gray with PIL's ITU-R
        601-2 luma; alpha is dropped; 16-bit gray is scaled to 8 bits (÷257); 32-bit and
        float images are refused. EXIF orientation is not applied (as torchvision's
        ``ImageFolder``), and a multi-page TIFF gives its first page.
    skip_bad
        Skip files that are not readable images instead of failing; they are counted in
        ``attrs["skipped"]``, listed in ``attrs["skipped_files"]`` (JSON) and a warning says how
        many.

    Returns
    -------
    xarray.Dataset
        ``images`` uint8, dask-backed (one task per chunk of samples); coords ``label`` and
        ``filename`` on ``sample``; attrs ``classes`` (JSON list), ``skipped``, ``skipped_files``,
        ``size``, ``mode`` (the mode used, ``"L"`` or ``"RGB"``).

    Raises
    ------
    InputError
        The folder is missing or holds no image; a file is not a readable image (unless
        ``skip_bad``); ``size`` or ``mode`` is invalid.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from PIL import Image
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> (d / "a").mkdir()
    >>> Image.fromarray(np.zeros((10, 20), np.uint8)).save(d / "a" / "x.png")
    >>> ds = read_image_folder(d, size=8)
    >>> ds["images"].shape, ds["label"].values.tolist(), ds["filename"].values.tolist()
    ((1, 8, 8), ['a'], ['a/x.png'])
    """
    folder = Path(folder)
    if mode not in MODES:
        raise InputError(folder, f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise InputError(folder, f"size must be a positive integer, got {size!r}")
    size = int(size)
    if not folder.is_dir():
        raise InputError(folder, "is not a folder")
    files = _candidates(folder)
    if not files:
        raise InputError(folder, f"holds no image files ({', '.join(FORMATS)})")

    def check(p: Path) -> _Probe | InputError:
        try:
            return _probe(p, folder)
        except InputError as exc:
            return exc

    # I/O bound (network disks especially): a few threads keep the up-front check short
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) + 2)) as pool:
        results = list(pool.map(check, files))
    bad = [r for r in results if isinstance(r, InputError)]
    good = [r for r in results if isinstance(r, _Probe)]
    if bad and not skip_bad:
        more = f" (and {len(bad) - 1} more bad file{'s' if len(bad) > 2 else ''})" if len(bad) > 1 else ""
        raise InputError(bad[0].path, f"{bad[0].problem}{more}; pass `skip_bad=True` to skip such files")
    skipped = [Path(e.path).relative_to(folder).as_posix() for e in bad]
    if not good:
        raise InputError(folder, f"holds no readable image ({len(skipped)} files skipped)")
    if skipped:
        warnings.warn(
            f"{folder}: skipped {len(skipped)} files that are not readable images "
            f"(first: {', '.join(skipped[:3])})",
            VaearrWarning,
            stacklevel=2,
        )

    rgb = mode == "RGB" or (mode == "auto" and not all(p.gray for p in good))
    return _build(good, size=size, rgb=rgb, skipped=skipped)


def _build(good: list[_Probe], *, size: int, rgb: bool, skipped: list[str]) -> xr.Dataset:
    n = len(good)
    sample_shape = (size, size) + ((3,) if rgb else ())
    # one dask task per store chunk, so the write neither splits nor merges batches
    batch = default_chunks((n, *sample_shape), 1)[0]
    paths = [str(p.path) for p in good]
    blocks = []
    for start in range(0, n, batch):
        part = paths[start : start + batch]
        task = dask.delayed(_load_batch, pure=True)(part, size, rgb)
        blocks.append(da.from_delayed(task, shape=(len(part), *sample_shape), dtype=np.uint8))
    data = da.concatenate(blocks, axis=0)

    labels = np.array([p.label for p in good], dtype=str)
    classes = sorted({p.label for p in good} - {""})
    dims = ("sample", "row", "col") + (("channel",) if rgb else ())
    coords: dict = {
        "label": ("sample", labels),
        "filename": ("sample", np.array([p.rel for p in good], dtype=str)),
    }
    if rgb:
        coords["channel"] = ("channel", np.array(["R", "G", "B"], dtype=str))
    attrs = {
        "classes": json.dumps(classes),
        "skipped": len(skipped),
        "skipped_files": json.dumps(skipped),
        "size": size,
        "mode": "RGB" if rgb else "L",
    }
    images = xr.DataArray(data, dims=dims, coords=coords, name="images", attrs=dict(attrs))
    return xr.Dataset({"images": images}, attrs=attrs)


def ingest_images(
    folder: str | os.PathLike,
    store: str | os.PathLike,
    *,
    size: int = 256,
    mode: str = "auto",
    skip_bad: bool = False,
    overwrite: bool = False,
    progress: bool = False,
) -> xr.Dataset:
    """Read an image folder (see :func:`read_image_folder`) and write it into ``store``.

    The store's root attrs get ``kind="images"``, ``classes``, ``skipped``, ``skipped_files``.
    The provenance ``source`` is the folder (the files are in the ``filename`` coord: a list of
    every path in every variable's attrs would bloat the metadata of large folders).

    Returns the store, opened lazily after the write (:func:`~vaearr.io.write.write_ingested`).

    Raises
    ------
    InputError
        As :func:`read_image_folder`, before anything is written (or, for damage only a full
        decode finds, during the write, which then leaves the store as it was).
    StoreError
        ``images`` exists and ``overwrite`` is false, the store's ``sample`` size differs, or
        the store has a per-sample coord this input lacks (see :func:`~vaearr.io.write.check_sample_coords`).
    """
    check_values(size=(size, {"min": 1}))
    ds = read_image_folder(folder, size=size, mode=mode, skip_bad=skip_bad)
    return write_ingested(
        store,
        {"images": ds["images"]},
        source=[str(Path(folder).resolve())],
        config={"size": size, "mode": mode, "skip_bad": skip_bad},
        kind="images",
        group_attrs=ds.attrs,
        overwrite=overwrite,
        progress="ingest images" if progress else False,
        sample_coords=ds,
    )
