"""Kinematical master patterns and their cache (:mod:`vaearr.crystals.kinematical`): file names, the cache's folder
and key, the reflectors kept, numba's threads restored, a small pattern written once and read back."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")

from vaearr.crystals.kinematical import (  # noqa: E402 - after the extra's skip
    cache_dir,
    cached_path,
    file_slug,
    kinematical_master_pattern,
    one_numba_thread,
    quiet,
    reflectors,
)
from vaearr.crystals.structures import BUILTIN, crystal_phase  # noqa: E402


@pytest.mark.parametrize(("name", "slug"), [
    ("Ni", "Ni"), ("Iron fcc", "Iron_fcc"), ("/tmp/evil", "_tmp_evil"), ("..", "_."), (".hidden", "_hidden"),
    ("", "phase"), ("γ-Fe", "_-Fe"), ("a" * 50, "a" * 40),
])
def test_a_file_slug_is_a_name_in_one_folder(name, slug) -> None:
    assert file_slug(name) == slug


def test_the_cache_folder_follows_vaearr_cache(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("VAEARR_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path / "master_patterns"
    monkeypatch.delenv("VAEARR_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "vaearr" / "master_patterns"


def test_the_cache_file_changes_with_what_makes_the_pattern() -> None:
    fcc = crystal_phase(BUILTIN["fcc"])
    base = cached_path(fcc, 20.0)
    assert base.parent == cache_dir() and base.name.startswith("fcc-") and base.suffix == ".npz"
    assert cached_path(fcc, 20.0) == base
    others = {cached_path(fcc, 15.0), cached_path(fcc, 20.0, half_size=100), cached_path(fcc, 20.0, min_dspacing=1.0),
              cached_path(crystal_phase(BUILTIN["bcc"], "fcc"), 20.0)}
    assert base not in others and len(others) == 4
    assert cached_path(crystal_phase(BUILTIN["fcc"], "ni"), 20.0).name.startswith("ni-")


def test_one_numba_thread_inside_and_the_callers_threads_after() -> None:
    import numba

    before = numba.get_num_threads()
    with one_numba_thread():
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before
    with pytest.raises(RuntimeError), one_numba_thread():
        raise RuntimeError
    assert numba.get_num_threads() == before


def test_quiet_keeps_prints_and_warnings_from_the_terminal(capsys) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with quiet():
            print("noise")
            print("more", file=sys.stderr)
            warnings.warn("hidden", UserWarning, stacklevel=1)
    assert capsys.readouterr() == ("", "") and caught == []


def test_reflectors_keep_only_the_allowed_ones_down_to_the_floor() -> None:
    ref = reflectors(crystal_phase(BUILTIN["fcc"]), 20.0, min_dspacing=1.0)
    hkl = np.rint(ref.hkl).astype(int).reshape(-1, 3)
    assert len(hkl) > 0 and all(len({int(v) % 2 for v in h}) == 1 for h in hkl)  # FCC: unmixed h, k, l
    assert (np.ravel(ref.dspacing) >= 1.0 - 1e-9).all()
    assert {tuple(sorted(abs(v) for v in h)) for h in hkl} == {(1, 1, 1), (0, 0, 2), (0, 2, 2), (1, 1, 3), (2, 2, 2)}
    theta = np.ravel(ref.theta)
    assert (theta > 0).all() and (theta < 0.1).all()  # Bragg angles at 20 kV are a few degrees at most


def test_a_master_pattern_is_written_to_its_cache_once_and_read_back(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("VAEARR_CACHE", str(tmp_path))
    phase = crystal_phase(BUILTIN["bcc"])
    mp = kinematical_master_pattern(phase, 20.0, half_size=10, min_dspacing=1.2)
    data = np.asarray(mp.data)
    assert data.shape == (2, 21, 21) and data.dtype == np.float32 and data.std() > 0
    assert mp.projection == "lambert" and mp.hemisphere == "both" and mp.phase.name == "bcc"
    path = cached_path(phase, 20.0, 10, 1.2)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left beside it
    with np.load(path) as f:
        np.testing.assert_array_equal(f["lambert"], data)
        assert float(f["energy_kv"]) == 20.0
    # read back from the cache: a damaged file is made again, whole
    again = kinematical_master_pattern(phase, 20.0, half_size=10, min_dspacing=1.2)
    np.testing.assert_array_equal(np.asarray(again.data), data)
    path.write_bytes(b"not an npz")
    remade = kinematical_master_pattern(phase, 20.0, half_size=10, min_dspacing=1.2)
    np.testing.assert_array_equal(np.asarray(remade.data), data)
