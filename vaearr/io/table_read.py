"""Read one per-pixel CSV table onto a scan grid: the header sniffed, its columns matched by name, its values parsed
(:func:`read_table`; :mod:`vaearr.io.tables` reads several and ingests them)."""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
import xarray as xr

from vaearr.errors import InputError, VaearrWarning
from vaearr.io.grid import place_on_grid
from vaearr.io.limits import MAX_CSV_COLUMNS, MAX_HEADER_CHARS, check_budget, check_text


#: Table kinds and the variable each becomes.
KINDS = ("bandcontrast", "elements", "phase", "pca_weights", "cnmf_weights")
#: Weight tables exported by the PCA/cNMF source scripts: ``x, y, PCA_1…PCA_n`` / ``cNMF_1…``.
WEIGHT_PREFIXES = MappingProxyType({"pca_weights": "pca", "cnmf_weights": "cnmf"})
#: Normalised header names accepted for each column role.
ALIASES: Mapping[str, frozenset[str]] = MappingProxyType({
    "x": frozenset({"x", "xpos", "xposition", "xcoord", "xcoordinate", "xum", "xmicron", "xmicrons"}),
    "y": frozenset({"y", "ypos", "yposition", "ycoord", "ycoordinate", "yum", "ymicron", "ymicrons"}),
    "bandcontrast": frozenset({"bandcontrast", "bc"}),
    "phase": frozenset({"phase", "phasename", "phaseid", "phaseindex"}),
    # scan indices (column, row), as the EBSD scripts' phase tables have them: x_indice, y_indice
    "x_index": frozenset({"xindice", "xindices", "xindex", "xidx", "xind", "ix"}),
    "y_index": frozenset({"yindice", "yindices", "yindex", "yidx", "yind", "iy"}),
})
#: What a table's x/y columns hold: found from the header (``auto``), or as given.
XY_UNITS = ("auto", "index", "um")
#: Value written at grid nodes with no phase.
PHASE_NODATA = -1

_SEPARATORS = (",", ";", "\t")
#: Text read as a missing number (pandas' usual list); a phase column takes only "" as missing,
#: since "NA" or "None" may be a phase's name.
_NA_NUMBERS = ("", "NA", "N/A", "n/a", "NaN", "nan", "-nan", "NAN", "null", "NULL", "None", "#N/A")
_DECIMAL_COMMA = re.compile(r"^\s*[+-]?\d+,\d+([eE][+-]?\d+)?\s*$")


def _key(name: str) -> str:
    """Header name → the form aliases are written in: lowercase, no unit, letters and digits."""
    s = str(name).strip().lower()
    s = re.sub(r"[\(\[][^\)\]]*[\)\]]\s*$", "", s)  # a trailing unit: "x (µm)", "y [um]"
    return re.sub(r"[^0-9a-z]", "", s)


# --------------------------------------------------------------------------------------------
# reading one CSV


def _sniff(path: Path) -> tuple[int, str, str, list[str]]:
    """Leading comment lines to skip, separator, decimal mark and the header's column names."""
    try:
        f = open(path, encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except IsADirectoryError:
        raise InputError(path, "is a folder, not a CSV file") from None
    with f:
        skip = 0
        header = None
        try:
            while True:  # lines read in bounded pieces: a header of a million columns is refused, not read
                line = f.readline(MAX_HEADER_CHARS + 1)
                if not line:
                    break
                check_text(path, line.encode("utf-8", "replace"))
                if len(line) > MAX_HEADER_CHARS:
                    raise InputError(path, f"has a line longer than {MAX_HEADER_CHARS} characters: not a table of "
                                           f"maps (at most {MAX_CSV_COLUMNS} columns); nothing was read")
                if line.strip() == "" or line.lstrip().startswith("#"):
                    skip += 1
                    continue
                header = line.rstrip("\r\n")
                break
            sample = [f.readline(MAX_HEADER_CHARS) for _ in range(20)]
        except UnicodeDecodeError:
            raise InputError(path, "is not a text (UTF-8) CSV file") from None
    if header is None:
        raise InputError(path, "empty file (no header and no rows)")
    counts = {sep: header.count(sep) for sep in _SEPARATORS}
    sep = max(_SEPARATORS, key=lambda s: counts[s]) if any(counts.values()) else ","
    if counts.get(sep, 0) + 1 > MAX_CSV_COLUMNS:
        raise InputError(path, f"has {counts[sep] + 1} columns, more than the {MAX_CSV_COLUMNS} vaearr reads (a table "
                               f"of maps holds x, y and a few values); nothing was read")
    decimal = "."
    if sep != ",":
        fields = [fld for line in sample for fld in line.rstrip("\r\n").split(sep)]
        if any(_DECIMAL_COMMA.match(fld) for fld in fields):
            decimal = ","  # European exports: "1,5" in a ';'-separated file
    names = [n.strip().strip('"').strip("'").strip() for n in header.split(sep)]
    return skip, sep, decimal, names


def _find(names: list[str], role: str) -> str | None:
    for n in names:
        if _key(n) in ALIASES[role]:
            return n
    return None


def _columns(path: Path, kind: str, names: list[str], raw: list[str]) -> dict[str, str | list[str]]:
    """Map roles (x, y, value) to header names, or raise naming what is missing and found.

    ``names`` are the column names as pandas reads them, ``raw`` the header split by hand
    (pandas renames duplicates to ``Ni.1`` and an empty name to ``Unnamed: 3``).
    """
    roles = {"x": _find(names, "x"), "y": _find(names, "y")}
    index = {"x": _find(names, "x_index"), "y": _find(names, "y_index")}
    is_index = False
    if roles["x"] is None and roles["y"] is None and (index["x"] or index["y"]):
        roles, is_index = index, True
    elif (roles["x"] is None) != (roles["y"] is None) and (index["x"] or index["y"]):
        have = roles["x"] or roles["y"]
        other = index["y"] if roles["x"] else index["x"]
        raise InputError(path, f"x/y columns mix a coordinate ('{have}') and an index ('{other}'); "
                               "give both as coordinates (x, y) or both as indices (x_indice, y_indice)")
    value: str | list[str] | None
    if kind == "elements":
        blank = {n for n, r in zip(names, raw) if r == ""} if len(names) == len(raw) else set()
        position = ALIASES["x"] | ALIASES["y"] | ALIASES["x_index"] | ALIASES["y_index"]
        value = [n for n in names if _key(n) not in position and n not in blank] or None
    elif kind in WEIGHT_PREFIXES:
        numbered = {}
        for n in names:
            hit = re.fullmatch(WEIGHT_PREFIXES[kind] + r"(\d+)", _key(n))
            if hit:
                numbered[n] = int(hit.group(1))
        value = sorted(numbered, key=numbered.get) or None
    else:
        value = _find(names, kind)
    wanted = {"x": roles["x"], "y": roles["y"], kind: value}
    missing = [role for role, col in wanted.items() if col is None]
    if missing:
        what = ("element columns" if missing == ["elements"] else "weight columns" if missing == [kind]
                and kind in WEIGHT_PREFIXES else "column(s) " + ", ".join(repr(m) for m in missing))
        example = {"bandcontrast": "x,y,bandcontrast", "elements": "x,y,Ni,Cr,...", "phase": "x,y,phase",
                   "pca_weights": "x,y,PCA_1,PCA_2,...", "cnmf_weights": "x,y,cNMF_1,cNMF_2,..."}[kind]
        if "x" in missing or "y" in missing:
            what += " (or scan indices x_indice, y_indice)"
        raise InputError(path, f"missing {what} for a {kind} table (expected e.g. '{example}'); "
                               f"found columns: {', '.join(repr(n) for n in raw)}")
    if kind == "elements":
        seen = [r for r in raw if r and _key(r) not in position]
        dup = sorted({r for r in seen if seen.count(r) > 1})
        if dup:
            raise InputError(path, f"element column(s) {dup} appear more than once in the header")
    return {"x": roles["x"], "y": roles["y"], "value": value, "index": is_index}  # type: ignore[dict-item]


def _numeric(col, name: str, path: Path) -> np.ndarray:
    """Column → float64, or an error naming the column and the first non-numeric row."""

    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return col.to_numpy(dtype=np.float64, na_value=np.nan)
    conv = pd.to_numeric(col, errors="coerce")
    bad = np.flatnonzero(conv.isna().to_numpy() & col.notna().to_numpy())
    if bad.size:
        i = int(bad[0])
        raise InputError(path, f"column '{name}' is not numeric: {str(col.iloc[i])!r} in row {i + 1} "
                               f"({bad.size} such row{'s' if bad.size > 1 else ''})")
    return conv.to_numpy(dtype=np.float64, na_value=np.nan)


def _phase_codes(col, path: Path) -> tuple[np.ndarray, list[int], list[str]]:
    """Phase column → int codes (−1 where empty), flag values and their names.

    Integer phase ids 0..32767 are kept as the codes (an Oxford/EDAX phase index stays what
    the vendor software calls it); names are coded 0..k−1 in sorted order, so the codes do
    not depend on the row order.
    """

    text = col.astype("string").str.strip()
    present = (text.notna() & (text != "")).fillna(False).to_numpy(dtype=bool)
    codes = np.full(len(col), PHASE_NODATA, dtype=np.int64)
    if not present.any():
        return codes.astype(np.int16), [], []
    num = pd.to_numeric(text[present], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isfinite(num).all() and (num == np.round(num)).all() and num.min() >= 0 and num.max() <= 32767:
        values = np.unique(num.astype(np.int64))
        codes[present] = num.astype(np.int64)
        return codes.astype(np.int16), [int(v) for v in values], [str(int(v)) for v in values]
    names_present = text[present].to_numpy(dtype=object)
    names, inverse = np.unique(names_present.astype(str), return_inverse=True)
    if names.size > 32767:
        raise InputError(path, f"{names.size} distinct phases; at most 32767 fit the int16 phase codes")
    codes[present] = inverse
    return codes.astype(np.int16), list(range(names.size)), [str(n) for n in names]


def _read_frame(path: Path, kind: str) -> tuple[pd.DataFrame, dict, list[str]]:
    """The table's rows (its x, y and value columns only), the columns found for each role, the value columns."""
    skip, sep, decimal, raw = _sniff(path)
    # a value takes at least two characters (itself and a separator) and 8 bytes parsed, kept twice on the way
    check_budget(path, path.stat().st_size * 8, "its values")
    opts = dict(sep=sep, decimal=decimal, skiprows=skip, encoding="utf-8-sig", skipinitialspace=True,
                engine="c")
    try:
        names = [str(n) for n in pd.read_csv(path, nrows=0, **opts).columns]
        cols = _columns(path, kind, names, raw)
        value_cols = cols["value"] if isinstance(cols["value"], list) else [cols["value"]]
        df = pd.read_csv(
            path, usecols=[cols["x"], cols["y"], *value_cols],
            dtype={cols["value"]: "string"} if kind == "phase" else None,
            keep_default_na=False,
            na_values={c: ([""] if kind == "phase" and c == cols["value"] else _NA_NUMBERS)
                       for c in (cols["x"], cols["y"], *value_cols)},
            **opts,
        )
    except pd.errors.EmptyDataError:
        raise InputError(path, "empty file (no header and no rows)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot be read as a CSV table: {str(exc).splitlines()[0]}") from None
    if len(df) == 0:
        raise InputError(path, f"no data rows under the header ({', '.join(names)})")
    return df, cols, value_cols


def _phase_values(df, cols, value_cols, have, rows, shape, dims, coords, attrs, path, kind) -> tuple[xr.DataArray, str]:
    codes, values, meanings = _phase_codes(df[cols["value"]], path)
    out = np.full(shape, PHASE_NODATA, dtype=np.int16)
    out[have] = codes[rows]
    attrs.update(
        flag_values=values,
        flag_meanings=" ".join(re.sub(r"\s+", "_", m) for m in meanings),
        categories=json.dumps(meanings),
        nodata=PHASE_NODATA,
    )
    return xr.DataArray(out, dims=dims, coords=coords, name="phase", attrs=attrs), f"{PHASE_NODATA} (no data)"


def _bandcontrast_values(df, cols, value_cols, have, rows, shape, dims, coords, attrs, path, kind) -> tuple[xr.DataArray, str]:
    v = _numeric(df[cols["value"]], cols["value"], path)
    out = np.full(shape, np.nan, dtype=np.float32)
    out[have] = v[rows]
    attrs["column"] = cols["value"]
    return xr.DataArray(out, dims=dims, coords=coords, name="bandcontrast", attrs=attrs), "NaN"


def _weight_values(df, cols, value_cols, have, rows, shape, dims, coords, attrs, path, kind) -> tuple[xr.DataArray, str]:
    cdim = f"{WEIGHT_PREFIXES[kind]}_component"
    out = np.full((*shape, len(value_cols)), np.nan, dtype=np.float32)
    for k, c in enumerate(value_cols):
        out[..., k][have] = _numeric(df[c], c, path)[rows]
    attrs["columns"] = [str(c).strip() for c in value_cols]
    return xr.DataArray(out, dims=(*dims, cdim), name=kind, attrs=attrs,
                        coords={**coords, cdim: np.arange(len(value_cols))}), "NaN"


def _element_values(df, cols, value_cols, have, rows, shape, dims, coords, attrs, path, kind) -> tuple[xr.DataArray, str]:
    out = np.full((len(value_cols), *shape), np.nan, dtype=np.float32)
    for k, c in enumerate(value_cols):
        out[k][have] = _numeric(df[c], c, path)[rows]
    return xr.DataArray(out, dims=("element", *dims), name="elements", attrs=attrs,
                        coords={"element": np.array([c.strip() for c in value_cols], dtype=str), **coords}), "NaN"


#: How each kind of table becomes its variable (and what fills the nodes without a row).
_VALUES = MappingProxyType({"phase": _phase_values, "bandcontrast": _bandcontrast_values, "elements": _element_values,
                            **{k: _weight_values for k in WEIGHT_PREFIXES}})


def read_table(
    path: str | os.PathLike,
    kind: str,
    *,
    grid_x,
    grid_y,
    nearest: bool = False,
    tol: float | None = None,
    dims: tuple[str, str] = ("y", "x"),
    xy_units: str | None = None,
    step: tuple[float, float] | None = None,
) -> xr.DataArray:
    """Read one CSV table onto a known scan grid.

    Parameters
    ----------
    path
        CSV file: ``x,y,bandcontrast``, ``x,y,<El1>,<El2>,...`` or ``x,y,phase``; ``,``, ``;``
        or tab separated; rows in any order.
    kind
        ``"bandcontrast"``, ``"elements"``, ``"phase"``, or ``"pca_weights"`` / ``"cnmf_weights"``
        (``x,y,PCA_1…PCA_n`` / ``x,y,cNMF_1…``, as the PCA/cNMF source scripts export them).
    grid_x, grid_y
        Ascending node coordinates of the grid (µm), e.g. a store's ``x`` and ``y``.
    nearest
        The grid was assembled from a hexagonal/irregular scan: each node takes its nearest
        row (with a warning) instead of requiring exact matches.
    tol
        Largest distance between a row's coordinate and its node; default 5 % of the step.
    dims
        Names of the row and column dims.
    xy_units
        What the x/y columns hold: ``"auto"`` (default: scan indices for index headers such as
        ``x_indice``, µm otherwise), ``"index"`` (whatever the header, e.g. the scripts' ``x, y``
        pixel indices) or ``"um"``. Indices become coordinates as index × step.
    step
        ``(y, x)`` scan step in µm for index columns; default the grid's spacing.

    Returns
    -------
    xarray.DataArray
        Attrs ``xy_units`` (``"µm"`` or ``"index"``, then also ``xy_columns`` and ``step``) say
        how the rows were placed. ``bandcontrast(y, x)`` float32; ``elements(element, y, x)`` float32 with coord
        ``element`` = the header's names; or ``phase(y, x)`` int16 with attrs
        ``flag_values``, ``flag_meanings``, ``categories`` (JSON) and −1 where there is no data;
        or ``pca_weights(y, x, pca_component)`` / ``cnmf_weights(y, x, cnmf_component)`` float32,
        components in the order of the columns' numbers (``PCA_1`` → 0), attr ``columns``, the
        same variables ``vaearr decompose`` writes.

    Raises
    ------
    InputError
        Empty file, missing columns, a non-numeric value, a duplicated or off-grid coordinate.

    Warns
    -----
    UserWarning
        When grid nodes get no row (they become NaN / −1), with their count.

    Examples
    --------
    >>> import tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "bc.csv")
    >>> _ = open(p, "w").write("X;Y;Band Contrast\\n0.5;0;20\\n0;0;10\\n")
    >>> read_table(p, "bandcontrast", grid_x=np.array([0.0, 0.5]), grid_y=np.array([0.0])).values
    array([[10., 20.]], dtype=float32)
    """

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    units = (xy_units or "auto").lower().replace("µ", "u").replace("μ", "u")
    if units not in XY_UNITS:
        raise InputError(None, f"`xy_units` must be auto, index or um, got '{xy_units}'")
    path = Path(path)
    df, cols, value_cols = _read_frame(path, kind)

    x = _numeric(df[cols["x"]], cols["x"], path)
    y = _numeric(df[cols["y"]], cols["y"], path)
    grid_x = np.asarray(grid_x, dtype=float)
    grid_y = np.asarray(grid_y, dtype=float)
    attrs: dict = {"file": os.fspath(path.resolve())}
    as_index = units == "index" or (units == "auto" and cols["index"])
    if as_index:
        x, y, sy, sx = _from_indices(path, x, y, cols, grid_x, grid_y, step)
        attrs.update(xy_units="index", xy_columns=[cols["x"], cols["y"]], step=[sy, sx])
    else:
        attrs["xy_units"] = "µm"
    index = place_on_grid(x, y, grid_x, grid_y, path=path, tol=tol, nearest=nearest)
    have = index >= 0
    rows = index[have]
    missing = int((~have).sum())
    coords = {dims[0]: grid_y, dims[1]: grid_x}
    shape = index.shape

    # the kinds' values: codes and their meanings for phase, numbers for the others
    da, fill = _VALUES[kind](df, cols, value_cols, have, rows, shape, dims, coords, attrs, path, kind)
    if missing:
        warnings.warn(
            f"{path}: {missing} of {index.size} grid nodes have no row in this {kind} table; "
            f"they are {fill}",
            VaearrWarning,
            stacklevel=2,
        )
    return da


def _grid_step(values: np.ndarray) -> float | None:
    d = np.diff(values)
    d = d[d > 0]
    return float(np.median(d)) if d.size else None


def _from_indices(path: Path, x: np.ndarray, y: np.ndarray, cols: dict, grid_x: np.ndarray, grid_y: np.ndarray,
                  step: tuple[float, float] | None) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Index columns → coordinates (µm): index × step, the inverse of the scripts' ``round(x / step)``."""
    for v, c in ((x, cols["x"]), (y, cols["y"])):
        frac = np.isfinite(v) & (v != np.round(v))
        if frac.any():
            i = int(np.flatnonzero(frac)[0])
            raise InputError(path, f"column '{c}' holds {v[i]:g} in row {i + 1}: not a whole number, so not a "
                                   "scan index (give `xy_units='um'` to read x/y as µm)")
    if step is not None:
        sy, sx = (float(step[0]), float(step[1]))
    else:
        sx_, sy_ = _grid_step(grid_x), _grid_step(grid_y)
        sx = sx_ if sx_ is not None else (sy_ if sy_ is not None else 1.0)
        sy = sy_ if sy_ is not None else sx
    return x * sx, y * sy, sy, sx
