"""The benchmark suite: its modules import, its cheap quick sizes run, its lock holds, BENCHMARKS.md is current.

Every module imports (a name moved in vaearr fails here), the cheap ones run at their quick size through the harness
and write one JSON line with the machine record, the lock makes a second run wait, the old script paths do what
``python -m benchmarks run`` does, and every BENCHMARKS.md section the code and the docs cite exists.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks import harness
from tests.helpers import REPO

NAMES = harness.benchmark_names()
#: The quick sizes CI runs: seconds each on 2 cores, on data the packages ship (the others need Fashion-MNIST files,
#: a GPU, a browser, prepared study maps or minutes).
CHEAP = ("index", "explore_map", "object_storage")


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "VAEARR_BENCH_RESULTS": str(tmp_path / "results"),
            "VAEARR_BENCH_LOCK": str(tmp_path / "lock"),
            "VAEARR_PROGRESS": "off", "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}


def _bench(args: list[str], env: dict[str, str], **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "benchmarks", *args], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def _available(fd: int) -> str:
    """What a non-blocking pipe holds now."""
    try:
        return os.read(fd, 65536).decode()
    except BlockingIOError:
        return ""


def test_every_benchmark_module_imports_and_asks_its_question() -> None:
    assert len(NAMES) >= 20 and {"families", "scale", "phases", "window"} <= set(NAMES)
    for path in sorted((REPO / "benchmarks").glob("*.py")):  # the helpers too: a name moved in vaearr fails here
        module = importlib.import_module(f"benchmarks.{path.stem}")
        assert (module.__doc__ or "").strip(), path.name
    for name in NAMES:
        module = harness.load(name)
        assert callable(module.main), name
        assert harness.question(module).endswith("?"), (name, harness.question(module))
        quick = getattr(module, "QUICK", "missing")
        assert quick is None or (isinstance(quick, tuple) and all(isinstance(a, str) for a in quick)), name
        if quick is None:
            assert module.NO_QUICK, f"{name}: no quick size and no reason"


def test_repeat_times_every_call_and_reports_the_median() -> None:
    calls = []

    def work() -> None:
        calls.append(time.perf_counter())
        time.sleep(0.01 * len(calls))

    t = harness.repeat(work, 3, warmup=1)
    assert len(calls) == 4 and len(t["repeats_s"]) == 3
    assert t["median_s"] == sorted(t["repeats_s"])[1] and all(r >= 0.019 for r in t["repeats_s"])


def test_list_names_every_benchmark_with_its_question(tmp_path: Path) -> None:
    done = _bench(["list"], _env(tmp_path))
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err
    for name in NAMES:
        line = next(x for x in out.splitlines() if x.split()[0] == name)
        assert harness.question(harness.load(name)) in line


@pytest.mark.parametrize("name", CHEAP)
def test_quick_size_runs_and_appends_one_result_line(name: str, tmp_path: Path) -> None:
    run = _bench(["run", name, "--quick"], _env(tmp_path))
    _, err = run.communicate(timeout=600)
    assert run.returncode == 0, err[-3000:]
    lines = (tmp_path / "results" / f"{name}.jsonl").read_text().splitlines()
    assert len(lines) == 1
    row = json.loads(lines[0])
    module = harness.load(name)
    assert row["benchmark"] == name and row["quick"] is True and row["args"] == list(module.QUICK)
    assert isinstance(row["result"], dict) and row["result"], "the benchmark's result is in the line"
    assert row["wall_s"] > 0 and len(row["load_end"]) == 3
    m = row["machine"]
    assert m["cpus"] == os.cpu_count() and m["cores_usable"] >= 1 and len(m["load_average"]) == 3
    assert m["cpu"] and m["python"] and "numpy" in m["versions"] and "vaearr" in m["versions"]
    assert row["date"] == m["date"] and row["commit"] == m["commit"]
    assert f"result line appended to {tmp_path / 'results' / f'{name}.jsonl'}" in err


def test_the_lock_makes_a_second_benchmark_wait(tmp_path: Path, monkeypatch) -> None:
    env = _env(tmp_path)
    monkeypatch.setenv("VAEARR_BENCH_LOCK", env["VAEARR_BENCH_LOCK"])
    said: list[str] = []
    with harness.lock("holder-in-the-test", say=said.append):
        second = _bench(["run", "index", "--quick"], env)
        os.set_blocking(second.stderr.fileno(), False)
        err, deadline = "", time.monotonic() + 120
        while "waiting for the machine" not in err and second.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
            err += _available(second.stderr.fileno())
        assert second.poll() is None, "the second benchmark ran while the machine was held"
        assert "benchmark index: waiting for the machine: holder-in-the-test" in err
        assert not (tmp_path / "results" / "index.jsonl").exists()
        time.sleep(2)
    os.set_blocking(second.stderr.fileno(), True)
    _, rest = second.communicate(timeout=600)
    assert second.returncode == 0, rest[-3000:]
    assert "the machine is free after" in err + rest
    row = json.loads((tmp_path / "results" / "index.jsonl").read_text())
    assert row["waited_s"] >= 2
    assert said == []  # the holder itself did not wait


def test_a_script_path_does_what_the_harness_does(tmp_path: Path) -> None:
    """``python benchmarks/bench_families.py table`` prints what ``python -m benchmarks run families table`` does."""
    env = _env(tmp_path)
    old = subprocess.run([sys.executable, "benchmarks/bench_families.py", "table"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=300, check=False)
    new = _bench(["run", "families", "table"], env)
    out, err = new.communicate(timeout=300)
    assert old.returncode == 0 and new.returncode == 0, old.stderr + err
    assert "| method |" in out and out == old.stdout
    assert not (tmp_path / "results").exists()  # families writes its own rows, and only when it scores


def test_benchmarks_md_is_the_current_results() -> None:
    text = (REPO / "BENCHMARKS.md").read_text()
    assert len(text.splitlines()) < 400
    sections = re.split(r"(?m)^## ", text)[1:]
    titles = [s.splitlines()[0] for s in sections]
    for name in NAMES:  # each benchmark has a section with its command, question and date
        mine = [s for s in sections if f"`python -m benchmarks run {name}" in s]
        assert mine, f"no section runs {name}"
        assert all("**Question.**" in s and re.search(r"\*\*Latest:\*\* 20\d\d-\d\d-\d\d", s) for s in mine), name
    assert "(docs/benchmarks-history.md)" in text and (REPO / "docs" / "benchmarks-history.md").exists()
    # what the code and the docs cite by section name is a section here
    cited = set()
    for path in [REPO / "README.md", REPO / "RELIABILITY.md", *(REPO / "docs").glob("*.md"),
                 *(REPO / "vaearr").rglob("*.py"), *(REPO / "tests").rglob("*.py")]:
        if path.name == "benchmarks-history.md" or path == Path(__file__):
            continue
        body = " ".join(path.read_text(encoding="utf-8").split())
        cited |= set(re.findall(r"(?:BENCHMARKS(?:\.md)?|\[Benchmarks\]\(benchmarks\.md\)),? \(?\"([^\"]+)\"", body))
    assert {"Scale", "Science: two families", "Preprocessing by what it keeps",
            "The map explorer's memory over 1,000 page loads"} <= cited
    for name in cited:
        assert any(t.startswith(name) for t in titles), f"BENCHMARKS.md has no section {name!r}"


def test_scale_refuses_to_reuse_its_own_folder_and_keeps_the_map(tmp_path: Path) -> None:
    """``--reuse-map`` of the folder the run empties first would delete the map it names (it did, once)."""
    own = tmp_path / "scale10"
    own.mkdir()
    (own / "map.h5").write_bytes(b"a map")
    proc = subprocess.run([sys.executable, "benchmarks/bench_scale.py", "--size", "10", "--data-dir", str(tmp_path),
                           "--reuse-map", str(own)], cwd=REPO, env=_env(tmp_path), capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 2 and "is this run's own folder" in proc.stderr, proc.stderr
    assert (own / "map.h5").read_bytes() == b"a map"


def test_gos_pairs_wrong_counts_only_pairs_the_truth_tells_apart() -> None:
    """The families benchmark's GOS column: pairs of grains whose true GOS differ by more than 0.25° and that the
    analogue orders the other way or ties; pairs closer in truth, and grains without a value, are not counted."""
    import numpy as np

    from benchmarks.bench_families import gos_pairs_wrong

    gos = np.array([0.07, 0.08, 1.74, 1.84, 2.63])
    right = np.array([1.0, 2.0, 10.0, 11.0, 20.0])
    assert gos_pairs_wrong(right, gos) == 0
    # the two recrystallised grains swapped (0.01° apart) and 1.74 / 1.84 swapped (0.10°): not counted
    assert gos_pairs_wrong(np.array([2.0, 1.0, 11.0, 10.0, 20.0]), gos) == 0
    # 2.63 read below 1.74 and 1.84: two pairs; tied with 1.84: one
    assert gos_pairs_wrong(np.array([1.0, 2.0, 10.0, 11.0, 5.0]), gos) == 2
    assert gos_pairs_wrong(np.array([1.0, 2.0, 10.0, 11.0, 11.0]), gos) == 1
    # a grain without a value drops its pairs
    assert gos_pairs_wrong(np.array([1.0, 2.0, 10.0, 11.0, np.nan]), gos) == 0


def test_families_score_skips_a_map_prepare_has_not_finished(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """`families score` on a map whose prepare stopped part-way names what is missing and goes on (exit 0 while
    another map scored; 1 when none did), instead of failing on the first absent variable."""
    import numpy as np
    import xarray as xr

    from benchmarks import bench_families as bf

    monkeypatch.setattr(bf, "DATA", tmp_path)
    monkeypatch.setattr(bf, "OUT", tmp_path / "families.jsonl")
    m = bf.MapSpec("patchwork", "deformed", 1, "tuning")
    assert bf.unprepared(m) == ["patterns", "latent", "dictionary", "pca_weights", "latent_all", "cnmf_weights"]
    xr.Dataset({"patterns": (("y", "x"), np.zeros((2, 2))), "latent": (("y", "x"), np.zeros((2, 2)))}).to_zarr(
        bf.store_of(m), zarr_format=3)
    assert bf.unprepared(m) == ["dictionary", "pca_weights", "latent_all", "cnmf_weights"]
    assert bf.main(["score", "--only", m.tag]) == 1
    out = capsys.readouterr().out
    assert f"families prepare --only {m.tag}" in out and "no dictionary, pca_weights" in out
    assert "scored 0 of 1 maps" in out
    assert not (tmp_path / "families.jsonl").exists()  # no row written for a map not scored


def test_the_scale_benchmark_bounds_encode_by_the_share_of_patterns_it_decoded(tmp_path: Path) -> None:
    """Encode's compute bound counts the decoder on the samples whose error it decoded (a grid beyond 512²), read
    from the command's own summary line; every sample where it says nothing of a grid."""
    from benchmarks.bench_scale import decoded_share

    log = tmp_path / "commands.log"
    log.write_text("encoded 919376 samples with run/best (sha256 ffcc2e7bfe56)\n  reconstruction error on a grid, one "
                   "sample in 2 along each dim: 229880 of 919376 (25.0%), NaN between (--recon-stride 1: every one)\n")
    assert decoded_share(log) == 229880 / 919376
    log.write_text("encoded 91631 samples with run/best (sha256 ffcc2e7bfe56)\n  active units: 16 of 16 latent dims\n")
    assert decoded_share(log) == 1.0
