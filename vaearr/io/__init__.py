"""Readers: every source format into a store, each through one write path (:mod:`vaearr.io.write`).

One module per source: :mod:`~vaearr.io.ebsd` (patterns, by :mod:`~vaearr.io.hdf5` for plain
HDF5 or :mod:`~vaearr.io.vendor_patterns` for what kikuchipy reads), :mod:`~vaearr.io.tables` (band
contrast, element and phase CSVs, aligned by coordinate with :mod:`~vaearr.io.grid`),
:mod:`~vaearr.io.images`, :mod:`~vaearr.io.idx` and :mod:`~vaearr.io.nifti`.
Results go out through :mod:`~vaearr.io.export` (``.ang``/``.ctf``/orix HDF5 by orix and
:mod:`~vaearr.io.ctf`, CSV tables) and :mod:`~vaearr.io.bridge` (orix and kikuchipy objects).
"""
