"""numba as vaearr uses it: kernels compiled on first use (:func:`lazy_njit`), and numba's on-disk gufunc
cache kept from pairing a wrapper with the wrong kernel (:func:`guard_gufunc_cache`).

orix and kikuchipy compile their ``@guvectorize(..., cache=True)`` functions on first use and
cache them beside their sources. numba (≤ 0.68 at least, `numba#10128`_) caches a gufunc's
*wrapper* under the kernel's type signature only, while the wrapper calls the kernel by a
symbol name that carries a per-process counter. When the kernel a process holds and the
wrapper it loads from the cache came from different compilations (two variants of one
function in one process, or two processes filling the cache in a different order) the wrapper
calls a symbol that is not there and the process dies with a segmentation fault, printing
nothing. In a fresh environment ``vaearr index`` followed by ``vaearr orientation-maps`` hit it.

:func:`guard_gufunc_cache` keys each cached wrapper by the kernel's symbol name as well, which
is the fix proposed upstream (numba PR 10814). Entries written without it are never read, so a
cache filled before the guard cannot crash a guarded process. It changes no numerical result:
a wrapper is a loop around the kernel, and a miss only compiles that loop again.

The guard is an explicit call, not a side effect of importing: every function that imports one of
:data:`GUFUNC_PACKAGES` calls :func:`guard_gufunc_cache` on the line before (``tests/base/test_numba_cache.py``
checks the sources for it).

.. _numba#10128: https://github.com/numba/numba/issues/10128
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from typing import Any, Callable

#: packages whose numba gufuncs are cached on disk: import them only after :func:`guard_gufunc_cache`
GUFUNC_PACKAGES = ("kikuchipy", "orix", "pyebsdindex", "diffsims")

_applied = False
_compile_lock = threading.Lock()


def lazy_njit(**options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``numba.njit(**options)`` applied on the first call, so that a module can define its kernels at the
    top level without importing numba (an optional extra) on import. The wrapper's ``dispatcher()``
    returns the compiled numba dispatcher (made once, under a lock: threads do not race to make it);
    a kernel that calls another calls it through ``dispatcher()`` from Python."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        made: list[Any] = []

        def dispatcher() -> Any:
            if not made:
                with _compile_lock:
                    if not made:
                        from numba import njit

                        made.append(njit(**options)(fn))
            return made[0]

        @functools.wraps(fn)
        def call(*args: Any) -> Any:
            return (made[0] if made else dispatcher())(*args)

        call.dispatcher = dispatcher  # type: ignore[attr-defined]
        return call

    return wrap


class _KeyedByKernel:
    """A numba library cache whose keys are (signature, kernel symbol) instead of signature."""

    def __init__(self, cache: Any, symbol: str):
        self._cache = cache
        self._symbol = symbol

    def load_overload(self, sig: Any, target_context: Any) -> Any:
        return self._cache.load_overload((sig, self._symbol), target_context)

    def save_overload(self, sig: Any, data: Any) -> None:
        self._cache.save_overload((sig, self._symbol), data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cache, name)


def guard_gufunc_cache() -> bool:
    """Apply the guard once per process; ``False`` when numba is not installed or has moved its wrapper class
    (tests/base/test_numba_cache.py fails then)."""
    global _applied
    if _applied:
        return True
    if importlib.util.find_spec("numba") is None:
        return False
    from numba.np.ufunc import wrappers

    cls = getattr(wrappers, "_GufuncWrapper", None)
    if cls is None or not hasattr(wrappers, "GufWrapperCache"):  # a numba that moved them: leave it be
        return False
    original_init = cls.__init__

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        if isinstance(self.cache, wrappers.GufWrapperCache):
            self.cache = _KeyedByKernel(self.cache, self.fndesc.mangled_name)

    cls.__init__ = __init__
    _applied = True
    return True
