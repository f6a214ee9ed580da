"""The C allocator's thresholds of the ``vaearr`` process: a process-wide setting, made in :func:`vaearr.cli.main` only.

glibc's ``malloc`` gives each block over its *mmap threshold* pages of its own, returned to the system when freed,
and raises that threshold as large blocks are freed (up to 32 MiB); freed memory at the top of the heap goes back
once over the *trim threshold*. A command that makes and frees arrays of a few MiB on several threads (torch's
activations of each batch, a block of patterns) so takes fresh pages for them again and again, each a page fault:
`encode` of a 10⁶-pattern map took 6.9 million of them, 60 of its 631 CPU-seconds in the kernel. A fixed threshold
of 32 MiB and a trim threshold of 64 MiB keep those blocks in the heap (BENCHMARKS.md "Scale"). Where the
environment sets either (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``: glibc reads them at start),
nothing is changed; off glibc (macOS, musl), nothing either. Library calls from Python (a notebook) keep the
process's own settings.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from types import MappingProxyType

#: ``mallopt`` parameters (glibc's malloc.h) and the values the ``vaearr`` process takes.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
SETTINGS = MappingProxyType({"M_MMAP_THRESHOLD": (M_MMAP_THRESHOLD, 32 * 1024 * 1024),
                             "M_TRIM_THRESHOLD": (M_TRIM_THRESHOLD, 64 * 1024 * 1024)})
#: Environment variables through which a user sets these themselves (glibc reads them when the process starts).
ENVIRONMENT = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


def tune_allocator(environ: dict[str, str] | None = None) -> dict[str, int]:
    """Set :data:`SETTINGS` with glibc's ``mallopt`` unless ``environ`` (the process's) sets the allocator's
    thresholds; returns the settings made ({} where none: not glibc, or the environment's own)."""
    environ = dict(os.environ) if environ is None else environ
    if not sys.platform.startswith("linux") or any(k in environ for k in ENVIRONMENT):
        return {}
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return {}
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return {name: value for name, (param, value) in SETTINGS.items() if mallopt(param, value) == 1}


__all__ = ["SETTINGS", "tune_allocator"]
