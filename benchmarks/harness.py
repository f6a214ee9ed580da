"""The benchmarks' harness: the machine record, timing with repeats, one JSON-lines results format and a lock.

Every benchmark runs through :func:`run` (``python -m benchmarks run NAME [ARGS...]``, or the module as a script):

- it takes the machine-wide lock first (:func:`lock`), so two benchmarks never share the cores; a second one waits
  and says which benchmark holds the machine;
- it records the machine (:func:`machine`: CPU, cores, memory, the load average at the start and at the end, the
  versions of the libraries that set the numbers, the git commit, the date);
- it calls the module's ``main(argv)`` and appends one JSON line (:func:`append`) to
  ``benchmarks/results/NAME.jsonl``: ``benchmark``, ``date``, ``commit``, ``args``, ``quick``, ``machine``,
  ``load_end``, ``wall_s``, ``cpu_s``, ``waited_s`` and ``result`` (what ``main`` returned). A benchmark that writes a
  line per measurement itself (``ROWS = "own"``: the science studies, whose tables read their rows) gets no run line;
  its rows carry the same machine record.

``--quick`` in place of the arguments runs the module's ``QUICK`` arguments (a size that checks the benchmark runs,
in seconds to minutes); those results go to ``out/bench/NAME.jsonl`` (not kept in git), the numbers of
BENCHMARKS.md come from full runs. ``VAEARR_BENCH_RESULTS`` points the results elsewhere, ``VAEARR_BENCH_LOCK``
the lock (default: one file in the system's temp folder, shared by every checkout on the machine).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import inspect
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

from filelock import FileLock, Timeout

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: The libraries whose versions set the numbers (reported when installed).
LIBRARIES = ("vaearr", "numpy", "torch", "zarr", "xarray", "dask", "scipy", "scikit-learn", "kikuchipy", "orix",
             "pyebsdindex", "icechunk", "numba")


def benchmark_names() -> list[str]:
    """Every benchmark: the ``bench_NAME.py`` modules of this folder, by name."""
    return sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def load(name: str) -> ModuleType:
    """The module of benchmark ``name`` (``benchmarks.bench_NAME``)."""
    if name not in benchmark_names():
        raise SystemExit(f"no benchmark {name!r}: one of {', '.join(benchmark_names())}")
    return importlib.import_module(f"benchmarks.bench_{name}")


def question(module: ModuleType) -> str:
    """The question a benchmark answers: its docstring's first paragraph, up to the first question mark."""
    first = " ".join((module.__doc__ or "").strip().split("\n\n")[0].split())
    return first[: first.index("?") + 1] if "?" in first else first


# --------------------------------------------------------------------------------------------
# the machine record


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def commit() -> str | None:
    """The checkout's commit, with ``+dirty`` when tracked files differ from it."""
    head = _git("rev-parse", "HEAD")
    if head and _git("status", "--porcelain", "--untracked-files=no"):
        head += "+dirty"
    return head


def versions() -> dict[str, str]:
    """Installed versions of :data:`LIBRARIES` (read from the package metadata: nothing is imported)."""
    out = {}
    for name in LIBRARIES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


def machine() -> dict[str, Any]:
    """What the numbers were measured on, now: CPU, cores, memory, load average, versions, commit and date."""
    cores = os.cpu_count()
    with contextlib.suppress(AttributeError):
        cores = len(os.sched_getaffinity(0))
    pages = os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 0
    v = versions()
    return {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "host": platform.node(),
            "cpu": _cpu_model(), "cpus": os.cpu_count(), "cores_usable": cores,
            "memory_gb": round(pages * os.sysconf("SC_PAGE_SIZE") / 1e9, 1) if pages else None,
            "load_average": [round(x, 2) for x in os.getloadavg()], "platform": platform.platform(),
            "python": platform.python_version(), "torch": v.get("torch"), "versions": v, "commit": commit()}


# --------------------------------------------------------------------------------------------
# timing


def repeat(fn: Callable[[], Any], repeats: int = 3, *, warmup: int = 0) -> dict[str, Any]:
    """Wall seconds of ``fn()`` over ``repeats`` calls (after ``warmup`` untimed ones): the median and every repeat."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return {"median_s": round(statistics.median(times), 6), "repeats_s": [round(t, 6) for t in times]}


# --------------------------------------------------------------------------------------------
# results


def results_dir(quick: bool = False) -> Path:
    """Where results go: ``VAEARR_BENCH_RESULTS``, else benchmarks/results (out/bench for quick runs)."""
    if os.environ.get("VAEARR_BENCH_RESULTS"):
        return Path(os.environ["VAEARR_BENCH_RESULTS"])
    return ROOT / "out" / "bench" if quick else HERE / "results"


def append(name: str, row: dict[str, Any], *, quick: bool = False) -> Path:
    """Append one result line to ``NAME.jsonl``: the row with its benchmark, date, commit and machine record."""
    path = results_dir(quick) / f"{name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    m = row.get("machine") or machine()
    line = {"benchmark": name, "date": m["date"], "commit": m["commit"], **row, "machine": m}
    with open(path, "a") as f:
        f.write(json.dumps(line, default=_plain) + "\n")
    return path


def read(name: str, *, quick: bool = False) -> list[dict[str, Any]]:
    """Every line of ``NAME.jsonl`` (oldest first)."""
    path = results_dir(quick) / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def _plain(value: Any) -> Any:
    """JSON for what ``json`` does not know: NumPy scalars and arrays, paths, sets."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (Path, set, tuple)):
        return str(value) if isinstance(value, Path) else list(value)
    return str(value)


# --------------------------------------------------------------------------------------------
# the lock


def lock_path() -> Path:
    """The machine-wide lock file (``VAEARR_BENCH_LOCK``, else one in the system's temp folder)."""
    return Path(os.environ.get("VAEARR_BENCH_LOCK") or Path(tempfile.gettempdir()) / "vaearr-benchmarks.lock")


@contextlib.contextmanager
def lock(name: str, *, say: Callable[[str], None] | None = None) -> Iterator[float]:
    """Hold the machine for benchmark ``name``; a second one waits, and says for which. Yields the wait (s)."""
    say = say or (lambda text: print(text, file=sys.stderr, flush=True))
    path = lock_path()
    holder = path.with_name(path.name + ".holder")
    file_lock = FileLock(str(path))
    t = time.perf_counter()
    try:
        file_lock.acquire(timeout=0)
    except Timeout:
        who = "another benchmark"
        with contextlib.suppress(OSError):
            who = holder.read_text().strip() or who
        say(f"benchmark {name}: waiting for the machine: {who} holds {path}")
        file_lock.acquire()
        say(f"benchmark {name}: the machine is free after {time.perf_counter() - t:.1f} s")
    try:
        holder.write_text(f"{name} (pid {os.getpid()}, since {time.strftime('%H:%M:%S')})\n")
        yield time.perf_counter() - t
    finally:
        with contextlib.suppress(OSError):
            holder.unlink()
        file_lock.release()


# --------------------------------------------------------------------------------------------
# running a benchmark


def _call(main: Callable[..., Any], argv: list[str], script: str) -> Any:
    """``main(argv)``; a ``main()`` that reads sys.argv gets it set for the call."""
    if inspect.signature(main).parameters:
        return main(argv)
    saved = sys.argv
    sys.argv = [script, *argv]
    try:
        return main()
    finally:
        sys.argv = saved


def run(name: str, argv: Sequence[str] = (), *, module: ModuleType | None = None) -> int:
    """Run benchmark ``name`` with ``argv`` (``--quick``: its quick size) under the lock; record it. The exit status."""
    module = module or load(name)
    argv = list(argv)
    quick = argv == ["--quick"]
    if quick:
        if getattr(module, "QUICK", None) is None:
            print(f"benchmark {name}: no quick size ({getattr(module, 'NO_QUICK', 'not defined')})", flush=True)
            return 0
        argv = list(module.QUICK)
    saved = os.environ.get("VAEARR_BENCH_RESULTS")
    # a benchmark that writes files of its own finds the run's results folder here (quick runs: out/bench)
    os.environ["VAEARR_BENCH_RESULTS"] = str(results_dir(quick))
    try:
        return _run(name, module, argv, quick)
    finally:
        if saved is None:
            os.environ.pop("VAEARR_BENCH_RESULTS", None)
        else:
            os.environ["VAEARR_BENCH_RESULTS"] = saved


def _run(name: str, module: ModuleType, argv: list[str], quick: bool) -> int:
    """:func:`run` once the arguments are known: under the lock, timed, one result line appended."""
    with lock(name) as waited:
        start = machine()
        t, cpu = time.perf_counter(), time.process_time()
        result = _call(module.main, argv, str(Path(module.__file__ or name)))
        wall, cpu = time.perf_counter() - t, time.process_time() - cpu
        if getattr(module, "ROWS", "run") != "own":
            path = append(name, {"args": argv, "quick": quick, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                                 "waited_s": round(waited, 2), "load_end": [round(x, 2) for x in os.getloadavg()],
                                 "result": result if not isinstance(result, int) else None, "machine": start},
                          quick=quick)
            print(f"benchmark {name}: {wall:.1f} s; result line appended to {path}", file=sys.stderr, flush=True)
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


def script(file: str, main: Callable[..., Any]) -> int:
    """A benchmark module run as a script (``python benchmarks/bench_NAME.py ...``): the same as ``run``."""
    name = Path(file).stem.removeprefix("bench_")
    module = ModuleType(name)
    module.__dict__.update(sys.modules["__main__"].__dict__)
    module.main = main
    return run(name, sys.argv[1:], module=module)
