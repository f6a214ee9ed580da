"""How long do ``vaearr rank``'s figures take, before and after they were drawn without HoloViews?

Run (results in BENCHMARKS.md, "Rank figures"):

    python benchmarks/bench_rank_figures.py --out out/rank_figures.json

Builds the demo's store (the simulated Ni map with its element and band-contrast maps, Otsu ROI, a
conv-vae trained 1 epoch with a 16-dim latent and encoded), runs the analysis of ``vaearr rank`` once
(``rank_latents`` against elements, band contrast, PCA and NMF, as ``vaearr rank`` does by default:
21 references, ``--top 5`` → 5 dims), then draws its figures (``rank_figures``: a top-maps figure per
reference, a scatter per dim, the map pages; each HTML + PNG) with the code of ``--baseline`` (loaded
from git: ``vaearr/viz/{core,maps,ranking}.py`` at that commit) and with this checkout's, alternately,
``--repeats`` times, in this one process. Reports each median and their ratio, and the share of
``rank``'s time (analysis + figures) the figures take. Then (unless ``--no-cli``) the whole command,
``python -m vaearr rank STORE --out DIR`` in a fresh process, once with the package as it was at
``--baseline`` (``git archive``) and once with this checkout's: wall time, imports included.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package, as a script too
from benchmarks import harness  # noqa: E402

#: The quick size (``--quick``, ``make bench``): a 10 × 12 map once.
QUICK = ("--shape", "10x12", "--repeats", "1", "--no-cli")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: The commit before the figures were rewritten (HoloViews → Bokeh + Pillow).
BASELINE = "abfbb21"


def baseline_rank_figures(commit: str):
    """``rank_figures`` as it was at ``commit``, with the ``core`` and ``maps`` modules of then."""
    names = {}
    for mod in ("core", "maps", "ranking"):
        src = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:vaearr/viz/{mod}.py"], check=True,
                             capture_output=True, text=True).stdout
        for dep, alias in names.items():
            src = src.replace(f"from vaearr.viz.{dep} import", f"from {alias} import")
        alias = f"_baseline_viz_{mod}"
        module = types.ModuleType(alias)
        module.__file__ = f"<{commit}:vaearr/viz/{mod}.py>"
        sys.modules[alias] = module
        exec(compile(src, module.__file__, "exec"), module.__dict__)
        names[mod] = alias
    return sys.modules[names["ranking"]].rank_figures


def cli_rank(store: Path, out: Path, package_root: Path) -> float:
    """Wall seconds of ``python -m vaearr rank store --out out`` with ``package_root`` first on the path."""
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(package_root), "VAEARR_PROGRESS": "off"}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vaearr", "rank", str(store), "--out", str(out)], check=True, env=env,
                   capture_output=True, cwd=package_root)
    return time.perf_counter() - t0


def build_store(work: Path, shape: tuple[int, int]) -> Path:
    from vaearr.data import build_demo_map
    from vaearr.encoding import encode
    from vaearr.io.ebsd import ingest_ebsd
    from vaearr.maps.roi.roi import create_roi
    from vaearr.train import TrainConfig, fit

    src = build_demo_map(work / "data", shape=shape, seed=0)
    store = work / "ni.zarr"
    ingest_ebsd(src.patterns, store, dataset="patterns", bandcontrast=src.bandcontrast, elements=src.elements,
                phase=src.phase)
    create_roi(store, otsu=True)
    fit(TrainConfig(store=str(store), run=str(work / "run"), epochs=1, latent_dim=16, resize=32, batch_size=64,
                    lr=2e-3, seed=0, model_options={"channels": [16, 32, 64]}))
    encode(store, work / "run")
    return store


def folder_stats(folder: Path) -> dict:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {"html": sum(p.suffix == ".html" for p in files), "png": sum(p.suffix == ".png" for p in files),
            "mb": round(sum(p.stat().st_size for p in files) / 1e6, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", default="40x60", help="scan rows x columns of the simulated map")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--baseline", default=BASELINE, help="commit whose figure code is the baseline")
    ap.add_argument("--workdir", type=Path, default=None, help="keep the store and outputs here")
    ap.add_argument("--no-cli", action="store_true", help="skip timing the whole command in a fresh process")
    ap.add_argument("--out", type=Path, default=None, help="also write the result here as JSON (the harness appends it to results/NAME.jsonl)")
    a = ap.parse_args()
    os.environ.setdefault("VAEARR_PROGRESS", "off")

    from vaearr.analysis.ranking import rank_latents
    from vaearr.viz.ranking import rank_figures

    old_rank_figures = baseline_rank_figures(a.baseline)
    work = a.workdir or Path(tempfile.mkdtemp(prefix="bench_rank_figures_"))
    work.mkdir(parents=True, exist_ok=True)
    shape = tuple(int(v) for v in a.shape.lower().split("x"))
    t0 = time.perf_counter()
    store = build_store(work, shape)
    print(f"store: {store} ({time.perf_counter() - t0:.1f} s)", flush=True)

    t0 = time.perf_counter()
    result = rank_latents(store, var="latent", against=["elements", "bandcontrast", "pca", "nmf"],
                          out=work / "rank", top=5, n_components=8, seed=0)
    analysis_s = time.perf_counter() - t0
    n_refs = result.references.sizes["reference"]
    print(f"analysis (rank_latents): {analysis_s:.1f} s; {n_refs} references, dims {result.dims}", flush=True)

    runs: dict[str, list[float]] = {"baseline": [], "new": []}
    stats = {}
    for i in range(a.repeats):
        order = [("baseline", old_rank_figures), ("new", rank_figures)]
        for name, draw in order if i % 2 == 0 else order[::-1]:
            out = work / f"fig_{name}"
            shutil.rmtree(out, ignore_errors=True)
            t0 = time.perf_counter()
            draw(store, result, out, top=5)
            runs[name].append(time.perf_counter() - t0)
            stats[name] = folder_stats(out / "figures")
            print(f"  {name} figures: {runs[name][-1]:.1f} s {stats[name]}", flush=True)

    old, new = statistics.median(runs["baseline"]), statistics.median(runs["new"])
    cli = {}
    if not a.no_cli:
        base_root = work / "baseline_src"
        shutil.rmtree(base_root, ignore_errors=True)
        base_root.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", a.baseline, "vaearr"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base_root)], input=archive, check=True)
        for name, root in (("baseline", base_root), ("new", ROOT)):
            cli[name] = round(cli_rank(store, work / f"cli_{name}", root), 2)
            print(f"  vaearr rank ({name}): {cli[name]:.1f} s", flush=True)
    doc = {
        "when": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "command": "python benchmarks/bench_rank_figures.py " + " ".join(sys.argv[1:]),
        "baseline": a.baseline, "shape": list(shape), "references": n_refs, "dims": list(map(int, result.dims)),
        "analysis_s": round(analysis_s, 2),
        "figures_s": {k: [round(v, 2) for v in vs] for k, vs in runs.items()},
        "figures_median_s": {"baseline": round(old, 2), "new": round(new, 2)},
        "figures_speedup": round(old / new, 2),
        "rank_total_s": {"baseline": round(analysis_s + old, 2), "new": round(analysis_s + new, 2)},
        "rank_speedup": round((analysis_s + old) / (analysis_s + new), 2),
        "figures_share_of_rank": {"baseline": round(old / (analysis_s + old), 3),
                                  "new": round(new / (analysis_s + new), 3)},
        "outputs": stats,
        "cli_rank_s": cli,
        "cli_rank_speedup": round(cli["baseline"] / cli["new"], 2) if cli else None,
    }
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))
    return doc
    if a.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(harness.script(__file__, main))
