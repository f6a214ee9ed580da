"""Progress where output is not a terminal: plain lines (a CI log, a cluster job's file), one at each tenth of the
work and at most one every few seconds, a line per training epoch; bars on a terminal; nothing with
``VAEARR_PROGRESS=off``."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from tqdm.auto import tqdm

from vaearr.progress import Lines, bar, mode
from vaearr.store import write_variable


@pytest.mark.parametrize("asked, shown", [("off", "off"), ("on", "bars"), ("lines", "lines"), ("auto", "lines"),
                                          (None, "lines"), ("anything", "lines")])
def test_the_mode_when_stderr_is_not_a_terminal(monkeypatch, asked: str | None, shown: str) -> None:
    """Under pytest stderr is captured, not a terminal: ``auto`` (and no setting) prints lines there."""
    assert not sys.stderr.isatty()
    if asked is None:
        monkeypatch.delenv("VAEARR_PROGRESS", raising=False)
    else:
        monkeypatch.setenv("VAEARR_PROGRESS", asked)
    assert mode() == shown
    made = bar(total=3, desc="d")
    assert isinstance(made, Lines) == (shown == "lines")
    if shown != "lines":
        assert isinstance(made, tqdm) and made.disable == (shown == "off")
    made.close()


def test_lines_at_each_tenth_then_the_whole() -> None:
    out = io.StringIO()
    with Lines(total=20, desc="encoding", unit="sample", stream=out, min_interval=0, heartbeat=1e9) as lines:
        for i in range(20):
            if i == 9:
                lines.set_postfix(loss="5285.75")
            lines.update(1)
    said = out.getvalue().splitlines()
    assert len(said) == 10, said  # 2, 4 … 18 of 20, then the closing line
    assert re.fullmatch(r"encoding: 2/20 samples \(10%\), \d+ s", said[0]), said[0]
    assert re.fullmatch(r"encoding: 10/20 samples \(50%\), \d+ s, loss=5285\.75", said[4]), said[4]
    assert re.fullmatch(r"encoding: 20 samples in \d+\.\d s, loss=5285\.75", said[-1]), said[-1]
    lines.close()
    assert len(out.getvalue().splitlines()) == 10  # closed once


def test_lines_are_spaced_and_short_work_prints_none() -> None:
    """No second line within ``min_interval`` seconds (a fast loop prints one, not ten), nothing at all for work shorter
    than it, unless the caller wants its closing line (a training epoch)."""
    out = io.StringIO()
    lines = Lines(range(1000), desc="blocks", unit="block", stream=out, min_interval=3600)
    assert sum(1 for _ in lines) == 1000 and out.getvalue() == ""
    with Lines(total=5, desc="epoch 1/2", unit="batch", stream=out, min_interval=3600, closing=True) as epoch:
        epoch.update(5)
        epoch.set_postfix({"train_loss": "1.5", "val_loss": "1.7"})
    assert re.fullmatch(r"epoch 1/2: 5 batches in \d+\.\d s, train_loss=1\.5, val_loss=1\.7\n", out.getvalue())


def test_work_of_unknown_size_prints_a_heartbeat() -> None:
    out = io.StringIO()
    rounds = Lines(total=None, desc="segment: merge rounds", unit="round", stream=out, min_interval=3600, heartbeat=0)
    rounds.update(1)
    rounds.update(1)
    rounds.close()
    said = out.getvalue().splitlines()
    assert [re.sub(r"\d+(\.\d)? s", "T", s) for s in said] == [
        "segment: merge rounds: 1 round, T", "segment: merge rounds: 2 rounds, T", "segment: merge rounds: 2 rounds in T"]


def test_training_into_a_file_prints_a_line_per_epoch(tmp_path: Path) -> None:
    """``vaearr train`` with its output in files (as a CI log or a cluster job keeps it), ``VAEARR_PROGRESS`` unset:
    a line per epoch with its losses; with ``VAEARR_PROGRESS=off`` none."""
    store = tmp_path / "digits.zarr"
    data = np.random.default_rng(0).random((96, 8, 8), dtype=np.float32)
    write_variable(store, "images", xr.DataArray(data, dims=("sample", "row", "col")), chunks={"images": (96, 8, 8)})
    env = {k: v for k, v in os.environ.items() if k != "VAEARR_PROGRESS"} | {"OMP_NUM_THREADS": "1"}
    line = [sys.executable, "-m", "vaearr", "train", str(store), "--run", str(tmp_path / "run"), "--var", "images",
            "--epochs", "2", "--latent-dim", "2", "--batch-size", "32", "-o", "channels=[8,16]", "--seed", "0"]
    with open(tmp_path / "out.log", "w") as out, open(tmp_path / "err.log", "w") as err:
        code = subprocess.run(line, stdout=out, stderr=err, env=env, timeout=600).returncode
    log = (tmp_path / "err.log").read_text()
    assert code == 0, log
    epochs = [s for s in log.splitlines() if s.startswith("epoch ")]
    assert [s.split(":")[0] for s in epochs if " in " in s] == ["epoch 1/2", "epoch 2/2"], log
    assert all(re.search(r": \d+ batch(es)? in \d+\.\d s, train_loss=[-\d.e+]+, val_loss=[-\d.e+]+$", s)
               for s in epochs if " in " in s), log
    assert "\r" not in log and "\x1b[" not in log  # lines, not a bar redrawn in place
    off = subprocess.run([*line[:6], str(tmp_path / "run_off"), *line[7:]], capture_output=True, text=True,
                         env=env | {"VAEARR_PROGRESS": "off"}, timeout=600)
    assert off.returncode == 0 and "epoch 1/2" not in off.stderr, off.stderr
