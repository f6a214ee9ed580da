"""vaearr's benchmarks: one module per question (``bench_NAME.py``), run through one harness (:mod:`benchmarks.harness`).

``python -m benchmarks list`` names them with their questions, ``python -m benchmarks run NAME [ARGS...]`` runs one
(``--quick``: its quick size), ``python -m benchmarks all`` (``make bench``) runs every one at its quick size. The
current numbers are in BENCHMARKS.md.
"""
