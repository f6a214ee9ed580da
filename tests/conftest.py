"""Shared fixtures: small real data paths and a hash of a store tree."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def tree_hash(path: str | os.PathLike) -> str:
    """SHA-256 over every file's relative path and bytes under ``path`` (empty string if absent)."""
    root = Path(path)
    if not root.exists():
        return ""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        h.update(rel.encode() + b"\0")
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def run_cli(*args: str, check: bool = False, env: dict | None = None, cwd: str | os.PathLike | None = None):
    """Run the real ``vaearr`` command in a subprocess; returns the CompletedProcess."""
    proc = subprocess.run(
        [sys.executable, "-m", "vaearr", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "VAEARR_PROGRESS": "off", **(env or {})},
        cwd=cwd,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"vaearr {' '.join(map(str, args))} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """A path for a store that does not exist yet."""
    return tmp_path / "s.zarr"


@pytest.fixture(scope="session")
def kikuchipy_data_dir() -> Path:
    kp = pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")
    return Path(kp.__file__).parent / "data"
