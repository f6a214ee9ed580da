"""``python -m benchmarks list | run NAME [ARGS...] | all``: the benchmarks, one or all of them at the quick size."""

from __future__ import annotations

import subprocess
import sys
import time

from benchmarks import harness

USAGE = """usage: python -m benchmarks list                 every benchmark with its question
       python -m benchmarks run NAME [ARGS...]  one benchmark (its own options: run NAME --help; --quick: quick size)
       python -m benchmarks all [NAME...]       every benchmark (or those named) at its quick size (make bench)"""


def list_benchmarks() -> int:
    """Each benchmark with the question of its docstring."""
    for name in harness.benchmark_names():
        module = harness.load(name)
        size = "" if getattr(module, "QUICK", None) is not None else "  [no quick size]"
        print(f"{name:18s} {harness.question(module)}{size}")
    return 0


def run_all(names: list[str]) -> int:
    """Every benchmark (or those named) at its quick size, one after the other; the failures named at the end."""
    failed, t0 = [], time.perf_counter()
    for name in names or harness.benchmark_names():
        print(f"== {name}", flush=True)
        t = time.perf_counter()
        # each in a process of its own, as `run NAME --quick` would be: what one benchmark sets at import (thread
        # counts), leaves in memory or breaks stays there
        code = subprocess.run([sys.executable, "-m", "benchmarks", "run", name, "--quick"], cwd=harness.ROOT,
                              check=False).returncode
        print(f"== {name}: {'ok' if code == 0 else f'exit {code}'} in {time.perf_counter() - t:.1f} s", flush=True)
        if code:
            failed.append(name)
    print(f"all benchmarks at the quick size: {time.perf_counter() - t0:.0f} s"
          + (f"; failed: {', '.join(failed)}" if failed else ""), flush=True)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["list"]:
        return list_benchmarks()
    if args[:1] == ["run"] and len(args) >= 2:
        return harness.run(args[1], args[2:])
    if args[:1] == ["all"]:
        return run_all(args[1:])
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
