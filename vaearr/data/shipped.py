"""kikuchipy's shipped real Ni scan, in every vendor layout it ships or can create (for reader tests)."""

from __future__ import annotations

import os
from pathlib import Path

from vaearr.errors import require
from vaearr.numba_cache import guard_gufunc_cache


def _kikuchipy_data_dir() -> Path:
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    kp = require("kikuchipy", "ebsd")
    return Path(kp.__file__).parent / "data"


def kikuchipy_files() -> dict[str, Path]:
    """Paths of kikuchipy's shipped real Ni scan (3×3 scan of 60×60 uint8 patterns) in every layout.

    All six files hold the same nine patterns as ``kp.data.nickel_ebsd_small()``; checked
    with kikuchipy 0.13.1 by ``kp.load`` of each and comparison with that array:

    ========================  ====================================================================
    key                       what ``kp.load`` gives, compared with ``nickel_ebsd_small().data``
    ========================  ====================================================================
    ``kikuchipy_h5ebsd``      (3, 3, 60, 60) uint8, identical. Raw: ``Scan 1/EBSD/Data/patterns``
                              (9, 60, 60); header ``n_rows``, ``n_columns``, ``step_x`` = 1.5.
                              The file holds a second scan, ``Scan 2``, identical to ``Scan 1``.
    ``edax_h5ebsd``           (3, 3, 60, 60) uint8, identical. Raw: ``Scan 1/EBSD/Data/Pattern``
                              (9, 60, 60); header ``nRows``, ``nColumns``, ``Step X`` = 1.5.
                              Caution: ``Data/Y Position`` is a copy of ``X Position``
                              (0, 1.5, 3, 0, 1.5, 3, ...), so y must come from the header grid.
    ``oxford_binary``         (3, 3, 60, 60) uint8, identical. In the ``.ebsp`` the patterns are
                              stored rotated by one (the offset table points to them): a reader
                              must follow the offsets, not read them in file order. Each pattern
                              footer has beam x, y in µm (step 1.5).
    ``nordif``                (3, 3, 60, 60) uint8, identical. ``Pattern.dat`` is the nine
                              patterns raw, in scan order; grid and step (1.5 µm) are in
                              ``Setting.txt`` beside it.
    ``edax_binary_up1``       (9, 60, 60) uint8: identical after ``reshape(3, 3, 60, 60)``. A
                              version-1 UP1 header has no map shape, so kikuchipy gives a 1-D
                              scan with step 1.
    ``edax_binary_up2``       (10, 60, 60) **uint16**: the first nine equal the Ni patterns cast to
                              uint16, the tenth is all zeros. The header says hexagonal grid,
                              3×3 map, steps π and π/2 — a dummy layout, not a real hex scan.
    ========================  ====================================================================

    No flips or transposes anywhere: every pattern is stored as (row, col) like the reference.
    ``kikuchipy_h5ebsd/patterns_nochunks.h5`` is left out on purpose: it holds only the first
    pattern, (1, 60, 60). Bruker h5ebsd and Oxford H5OINA are not shipped; kikuchipy only ships
    scripts that create them, see :func:`make_vendor_files`.

    Returns
    -------
    dict[str, Path]
        Layout name → file path (all exist).
    """
    d = _kikuchipy_data_dir()
    files = {
        "kikuchipy_h5ebsd": d / "kikuchipy_h5ebsd" / "patterns.h5",
        "edax_h5ebsd": d / "edax_h5ebsd" / "patterns.h5",
        "oxford_binary": d / "oxford_binary" / "patterns.ebsp",
        "nordif": d / "nordif" / "Pattern.dat",
        "edax_binary_up1": d / "edax_binary" / "edax_binary.up1",
        "edax_binary_up2": d / "edax_binary" / "edax_binary.up2",
    }
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:  # pragma: no cover - only with a kikuchipy that changed its data layout
        raise FileNotFoundError(f"kikuchipy data files not found: {', '.join(missing)}")
    return files


def make_vendor_files(out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write the vendor files kikuchipy can create but does not ship, from its real Ni scan.

    ====================  =========================================================================
    key                   content
    ====================  =========================================================================
    ``bruker_h5ebsd``     ``bruker_h5ebsd.h5``: ``Scan 0/EBSD/Data/RawPatterns`` (9, 60, 60) uint8,
                          **identical** to ``nickel_ebsd_small()`` (``kp.load`` gives (3, 3, 60, 60)
                          uint8, identical). Header ``NROWS`` = ``NCOLS`` = 3, ``XSTEP`` = 1.5;
                          ``X SAMPLE``, ``Y SAMPLE`` and most per-point fields are placeholder ones.
    ``oxford_h5oina``     ``oxford.h5oina``: **different content**. ``1/EBSD/Data/Processed
                          Patterns`` is the Ni scan after static-background removal (what
                          ``kp.load`` returns), and ``Unprocessed Patterns`` is that plus one,
                          wrapping at 255 — neither equals the raw Ni patterns. ``X``, ``Y`` are
                          right (step 1.5 µm); ``Band Contrast`` is a placeholder (all ones).
    ====================  =========================================================================

    Parameters
    ----------
    out_dir
        Folder to write into (created if absent); existing files of these names are replaced.

    Returns
    -------
    dict[str, Path]
        Layout name → written file.
    """
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    require("kikuchipy", "ebsd")
    # kikuchipy's private test-file writers: pinned with the ebsd extra (<0.14), exercised by the tests
    from kikuchipy.data._dummy_files.bruker_h5ebsd import (  # noqa: PLC2701
        create_dummy_bruker_h5ebsd_file,
    )
    from kikuchipy.data._dummy_files.oxford_h5ebsd import (  # noqa: PLC2701
        create_dummy_oxford_h5ebsd_file,
    )

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"bruker_h5ebsd": out / "bruker_h5ebsd.h5", "oxford_h5oina": out / "oxford.h5oina"}
    create_dummy_bruker_h5ebsd_file(files["bruker_h5ebsd"])
    create_dummy_oxford_h5ebsd_file(files["oxford_h5oina"])
    return files
