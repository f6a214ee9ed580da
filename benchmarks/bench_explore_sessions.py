"""Does ``vaearr explore-map`` stay small however many pages it has served (issue 42)?

The served map explorer builds one view (Bokeh figures, widgets, their data) per browser session. A page load is
what a browser does: a session is made, its document pulled over the websocket (serialised for the page), then
the page closes (the websocket with it), here with Bokeh's own client (``bokeh.client.pull_session``) instead of a
browser; a session ends once Bokeh finds it unused. What is measured: the server process's resident memory
(VmRSS, MB) after it started and answered one load (0), then after 500 and 1,000 page loads, each time once the
sessions of the loads have ended (the server is told to end unused sessions after 1 s, checked every 0.5 s,
instead of Bokeh's 15 s and 17 s, so the run takes minutes, not hours; the rule is the same). Each program is run
on the same store and run in the same benchmark run: this tree's, and with ``--baseline DIR`` the same script on
another checkout's vaearr (the code before the change) for the ratio. Each server says which vaearr it ran (checked:
the run stops if it is not the one asked for) and how many views it held at each step (``views_held``).

Data: a SYNTHETIC 300 × 300 map of 60 × 60 patterns (``--shape``) with the untrained demo run of
``bench_explore_map.py``; a view holds its figures, widgets and the map as an image, and a served one its
document as sent to the page.

    python benchmarks/bench_explore_sessions.py
    git archive 1f0bbb3 vaearr | tar -x -C /tmp/main-src    # the code before the change
    python benchmarks/bench_explore_sessions.py --baseline /tmp/main-src --loads 500
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package, as a script too
from benchmarks import harness  # noqa: E402

#: The quick size (``--quick``, ``make bench``): 10 page loads a step on a 30 × 30 map.
QUICK = ("--loads", "10", "--shape", "30", "30")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import panel  # noqa: E402, F401 - registers the models of the page the client pulls
from bench_explore_map import write_run, write_store  # noqa: E402
from bokeh.client import pull_session  # noqa: E402

#: The served app. It says which vaearr it runs (the first line) and, in a file, how many views it holds.
_SERVER = textwrap.dedent("""
    import sys, threading, time
    import vaearr
    from vaearr.viz.map_explorer import MapExplorer
    print(vaearr.__file__, flush=True)
    app = MapExplorer(sys.argv[1], sys.argv[2])

    def count():
        while True:
            with open(sys.argv[4], "w") as f:
                f.write(str(len(app.views)))
            time.sleep(0.25)

    threading.Thread(target=count, daemon=True).start()
    app.serve(int(sys.argv[3]), announce=None, unused_session_lifetime_milliseconds=1000,
              check_unused_sessions_milliseconds=500)
""")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 60) -> int:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        r.read()
        return r.status


def _page(url: str) -> None:
    """One page load: a session made, its document pulled over the websocket, the page closed."""
    with pull_session(url=url) as session:
        assert session.document.roots  # the app's layout arrived


def serve_and_load(store: Path, run: Path, loads: int, source: Path) -> dict:
    """RSS of a served map explorer after 0, ``loads`` and 2 × ``loads`` page loads (sessions ended each time),
    the views it held then, and the vaearr it ran (``source``'s: checked)."""
    port = _port()
    views = store.parent / f"views-{port}"
    env = {**os.environ, "VAEARR_PROGRESS": "off", "PYTHONPATH": str(source)}
    # run from the store's folder: `python -c` puts its working folder first on the path, before PYTHONPATH, and
    # from the repository root that would be this tree's vaearr whatever the baseline
    server = subprocess.Popen([sys.executable, "-c", _SERVER, str(store), str(run), str(port), str(views)], env=env,
                              cwd=store.parent, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = f"http://127.0.0.1:{port}/"
    ran = Path(server.stdout.readline().strip())  # type: ignore[union-attr]
    if not ran.is_relative_to(source.resolve()):
        server.kill()
        raise SystemExit(f"the server ran {ran}, not the vaearr of {source}")
    try:
        for _ in range(600):
            try:
                _get(url, timeout=5)
                break
            except OSError:
                time.sleep(0.5)
        _page(url)
        time.sleep(4)  # the first sessions (the readiness probe, one page) end
        out = {"vaearr": str(ran), "rss_mb": {"0": round(_rss_mb(server.pid), 1)},
               "views_held": {"0": int(views.read_text())}, "seconds_per_load": []}
        for step in (1, 2):
            t0 = time.perf_counter()
            for _ in range(loads):
                _page(url)
            out["seconds_per_load"].append(round((time.perf_counter() - t0) / loads, 4))
            time.sleep(4)  # every session of these loads is unused by now and ended
            out["rss_mb"][str(step * loads)] = round(_rss_mb(server.pid), 1)
            out["views_held"][str(step * loads)] = int(views.read_text())
    finally:
        server.terminate()
        server.wait(timeout=30)
    r = out["rss_mb"]
    out["growth_last_half"] = round(r[str(2 * loads)] / r[str(loads)], 3)
    out["growth_from_start"] = round(r[str(2 * loads)] / r["0"], 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loads", type=int, default=500, help="page loads per step (two steps)")
    ap.add_argument("--shape", type=int, nargs=2, default=(300, 300), help="map rows and columns")
    ap.add_argument("--baseline", type=Path, help="a checkout whose vaearr to run as the baseline (PYTHONPATH)")
    ap.add_argument("--out", type=Path, default=None, help="also write the result here as JSON (the harness appends it to results/NAME.jsonl)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store, run = Path(tmp) / "map.zarr", Path(tmp) / "run"
        write_store(store, tuple(a.shape))
        write_run(run, store)
        result = {"when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "loads_per_step": a.loads,
                  "shape": list(a.shape),
                  "machine": f"{platform.machine()} {os.cpu_count()} CPUs", "load_avg_before": os.getloadavg()[0]}
        result["this_tree"] = serve_and_load(store, run, a.loads, ROOT)
        if a.baseline is not None:
            result["baseline"] = {"source": str(a.baseline), **serve_and_load(store, run, a.loads, a.baseline)}
        result["load_avg_after"] = os.getloadavg()[0]
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    raise SystemExit(harness.script(__file__, main))
