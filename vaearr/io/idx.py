"""Read MNIST-style IDX files (images and labels, gzipped or not) into an image store.

The IDX format: two zero bytes, a type code, the number of dims, one big-endian uint32 per dim,
then the values, big-endian, C order. Every file is checked before anything is read for real:
magic, type code, dims, and the data length against the header (for gzip, by streaming the
whole file once through the decompressor in small pieces, which also checks its CRC) — so a
truncated download is an :class:`~vaearr.errors.InputError`, not a short array.

Images are then read by one dask task per chunk of samples. Plain files seek straight to the
chunk; gzip files cannot seek without decompressing what comes before, so each task
decompresses from the start up to its chunk — quadratic in the number of chunks, but bounded
memory, and fine for the sizes IDX is used at (Fashion-MNIST's 47 MB train set is 12 chunks).

Store schema: ``images(sample, row, col)`` uint8, coord ``label`` (int64 class index, when a
labels file is given); attr ``classes`` (JSON list of class names) when labels are given —
Fashion-MNIST's names when the path says "fashion", else the indices as strings.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import dask
import dask.array as da
import numpy as np
import xarray as xr

from vaearr.errors import InputError
from vaearr.io.write import write_ingested
from vaearr.store import default_chunks

#: IDX type code → big-endian numpy dtype.
IDX_DTYPES = MappingProxyType({0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"})
#: Fashion-MNIST's class names, in label order.
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

_GZIP_MAGIC = b"\x1f\x8b"
_PIECE = 1 << 20  # bytes decompressed at a time while checking a gzip file


@dataclass(frozen=True)
class IdxHeader:
    """What an IDX header says, and where the data starts."""

    path: Path
    dtype: np.dtype
    shape: tuple[int, ...]
    offset: int
    gzipped: bool

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == _GZIP_MAGIC


def _open(path: Path, gzipped: bool):
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def _stream_length(path: Path) -> int:
    """Length of the decompressed stream, read piece by piece (checks the gzip CRC too)."""
    n = 0
    with gzip.open(path, "rb") as f:
        while piece := f.read(_PIECE):
            n += len(piece)
    return n


def read_idx_header(path: str | os.PathLike) -> IdxHeader:
    """Read and check an IDX header and the data length it promises.

    Raises
    ------
    InputError
        Missing file, not IDX (bad magic or type code), a zero dim, a damaged gzip stream, or
        a data length other than the header's (truncated, or bytes after the data).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    gzipped = _is_gzip(path)
    try:
        with _open(path, gzipped) as f:
            magic = f.read(4)
            if len(magic) < 4 or magic[:2] != b"\0\0":
                raise InputError(path, "is not an IDX file (bad magic number)")
            code, ndim = magic[2], magic[3]
            if code not in IDX_DTYPES:
                raise InputError(path, f"is not an IDX file (unknown type code 0x{code:02x})")
            if ndim == 0:
                raise InputError(path, "is not an IDX file (0 dims)")
            raw = f.read(4 * ndim)
            if len(raw) < 4 * ndim:
                raise InputError(path, "is truncated inside its header")
        shape = tuple(int(v) for v in np.frombuffer(raw, dtype=">u4"))
        header = IdxHeader(path, np.dtype(IDX_DTYPES[code]), shape, 4 + 4 * ndim, gzipped)
        if 0 in shape:
            raise InputError(path, f"has an empty dim (shape {shape})")
        actual = _stream_length(path) if gzipped else path.stat().st_size
    except InputError:
        raise
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise InputError(path, f"is a damaged gzip file: {exc}") from None
    expected = header.offset + header.nbytes
    if actual < expected:
        raise InputError(
            path, f"is truncated: the header promises {expected} bytes (shape {shape}), the file has {actual}"
        )
    if actual > expected:
        raise InputError(path, f"has {actual - expected} bytes after the data the header describes (shape {shape})")
    return header


def _read_samples(header: IdxHeader, start: int, stop: int) -> np.ndarray:
    """Samples ``start:stop`` of an IDX file, native byte order."""
    sample_shape = header.shape[1:]
    per = int(np.prod(sample_shape, dtype=np.int64)) * header.dtype.itemsize
    try:
        with _open(header.path, header.gzipped) as f:
            f.seek(header.offset + start * per)  # gzip: decompresses up to here, memory bounded
            buf = f.read((stop - start) * per)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(header.path, f"cannot be read: {exc}") from None
    if len(buf) != (stop - start) * per:
        raise InputError(header.path, "is truncated (changed since it was checked?)")
    arr = np.frombuffer(buf, dtype=header.dtype).reshape((stop - start, *sample_shape))
    return arr.astype(header.dtype.newbyteorder("="))


def read_idx(images: str | os.PathLike, labels: str | os.PathLike | None = None) -> xr.Dataset:
    """Read an IDX images file (and labels) lazily as ``images(sample, row, col)`` uint8.

    Parameters
    ----------
    images
        IDX file of unsigned bytes with 3 dims (samples, rows, cols), gzipped or not (told
        by content, not by name).
    labels
        IDX file with 1 dim of integers, one per image.

    Returns
    -------
    xarray.Dataset
        ``images`` backed by dask (one task per chunk of samples); coord ``label`` (int64) when
        labels are given; attrs ``classes`` (JSON list) when labels are given.

    Raises
    ------
    InputError
        Either file is not IDX, is truncated or has trailing bytes, has the wrong type or dims,
        or the label count differs from the image count.

    Examples
    --------
    >>> ds = read_idx("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
    ...               "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz")
    >>> ds["images"].shape, int(ds["label"][0]), json.loads(ds.attrs["classes"])[9]
    ((10000, 28, 28), 9, 'Ankle boot')
    """

    header = read_idx_header(images)
    if len(header.shape) != 3:
        raise InputError(images, f"has shape {header.shape}; images need 3 dims (samples, rows, cols)")
    if header.dtype != np.dtype(">u1"):
        raise InputError(images, f"holds {header.dtype.name} values; images must be unsigned bytes (IDX type 0x08)")
    n = header.shape[0]

    coords: dict = {}
    attrs: dict = {}
    if labels is not None:
        lab_header = read_idx_header(labels)
        if len(lab_header.shape) != 1:
            raise InputError(labels, f"has shape {lab_header.shape}; labels need 1 dim")
        if lab_header.dtype.kind not in "iu":
            raise InputError(labels, f"holds {lab_header.dtype.name} values; labels must be integers")
        if lab_header.shape[0] != n:
            raise InputError(labels, f"has {lab_header.shape[0]} labels but {Path(images).name} has {n} images")
        # one small int per image: read whole, it becomes a coordinate anyway
        label_values = _read_samples(lab_header, 0, n).astype(np.int64)
        coords["label"] = ("sample", label_values)
        n_classes = int(label_values.max()) + 1 if label_values.size else 0
        fashion = "fashion" in str(images).lower() and n_classes <= len(FASHION_MNIST_CLASSES)
        names = list(FASHION_MNIST_CLASSES) if fashion else [str(i) for i in range(n_classes)]
        attrs["classes"] = json.dumps(names)

    sample_shape = header.shape[1:]
    # one task per store chunk, so the write neither splits nor merges them
    batch = default_chunks(header.shape, 1)[0]
    blocks = []
    for start in range(0, n, batch):
        stop = min(n, start + batch)
        task = dask.delayed(_read_samples, pure=True)(header, start, stop)
        blocks.append(da.from_delayed(task, shape=(stop - start, *sample_shape), dtype=np.uint8))
    data = da.concatenate(blocks, axis=0)
    arr = xr.DataArray(data, dims=("sample", "row", "col"), coords=coords, name="images", attrs=dict(attrs))
    return xr.Dataset({"images": arr}, attrs=attrs)


def ingest_idx(
    images: str | os.PathLike,
    store: str | os.PathLike,
    *,
    labels: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> xr.Dataset:
    """Read IDX images (and labels) with :func:`read_idx` and write them into ``store``.

    The store's root attrs get ``kind="images"`` (and ``classes`` when labels are given).

    Returns the store, opened lazily after the write (:func:`~vaearr.io.write.write_ingested`).

    Raises
    ------
    InputError
        As :func:`read_idx`, before anything is written.
    StoreError
        ``images`` exists and ``overwrite`` is false, the store's ``sample`` size differs, or
        the store has a ``label`` this input lacks (see :func:`~vaearr.io.write.check_sample_coords`).
    """
    ds = read_idx(images, labels)
    sources = [str(Path(images).resolve())] + ([str(Path(labels).resolve())] if labels is not None else [])
    return write_ingested(
        store,
        {"images": ds["images"]},
        source=sources,
        config={"images": str(images), "labels": None if labels is None else str(labels)},
        kind="images",
        group_attrs=ds.attrs,
        overwrite=overwrite,
        progress="ingest idx" if progress else False,
        sample_coords=ds,
    )
