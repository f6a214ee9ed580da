"""Maps of two phases: ``vaearr index`` with several ``--phase`` (Hough through one PyEBSDIndex phase list, dictionary
merged by score, refinement per phase), the maps derived per phase, segmentation within phases, export through orix.

The map is simulated by the tests (:func:`benchmarks.data.multiphase.write_phase_map`, conftest's ``two_phase_master``):
kinematical FCC (Ni) and BCC (α-Fe) patterns of equal brightness, 24 × 32 pixels, 12 grains, 40 counts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import FERRITE_CIF, cli, tree_hash
from vaearr.errors import InputError
from vaearr.store import open_store

pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")


def _pc(store: Path) -> str:
    return ",".join(map(str, open_store(store).attrs["phase_map"]["pc"]))


def _phase_accuracy(store: Path, pid: str = "phase_id") -> float:
    ds = open_store(store)
    return float((ds[pid].values == ds.phase_true.values).mean())


def _orientation_errors(store: Path, name: str = "orientation") -> np.ndarray:
    """Misorientation (degrees, m-3m: both phases are cubic) of the pixels given their true phase."""
    from orix.quaternion import Orientation
    from orix.quaternion.symmetry import Oh

    ds = open_store(store)
    ok = (ds.phase_id.values == ds.phase_true.values).ravel()
    a = Orientation(ds.orientation_true.values.reshape(-1, 4)[ok].astype(np.float64), symmetry=Oh)
    b = Orientation(ds[name].values.reshape(-1, 4)[ok].astype(np.float64), symmetry=Oh)
    return np.degrees(a.angle_with(b))


def _one_phase_per_label(store: Path, labels: str) -> None:
    ds = open_store(store)
    lab, pid = ds[labels].values, ds.phase_id.values
    for k in np.unique(lab[lab >= 0]):
        assert len(np.unique(pid[lab == k])) == 1, (labels, int(k), np.unique(pid[lab == k]))


def test_hough_two_phases_from_the_cli(two_phase_store: Path) -> None:
    """``--phase fcc --phase bcc --method hough``: built-in phases, offline, one PyEBSDIndex call per block."""
    proc = cli("index", two_phase_store, "--phase", "fcc", "--phase", "bcc", "--pc", _pc(two_phase_store),
                   "--tilt", "70", "--method", "hough", check=True)
    assert "phase 0 'fcc'" in proc.stdout and "phase 1 'bcc'" in proc.stdout and "phases 'fcc', 'bcc'" in proc.stdout
    acc = _phase_accuracy(two_phase_store)
    assert acc >= 0.98, acc
    assert np.median(_orientation_errors(two_phase_store)) < 1.0
    ds = open_store(two_phase_store)
    phases = ds.phase_id.attrs["phases"]
    assert [p["name"] for p in phases] == ["fcc", "bcc"] and [p["id"] for p in phases] == [0, 1]
    assert [p["space_group"] for p in phases] == [225, 229] and phases[1]["atoms"][0]["element"] == "Fe"
    assert phases[0]["lattice"][:3] == [3.524] * 3 and ds.orientation.attrs["phases"] == phases
    refl = ds.orientation.attrs["hough"]["reflectors"]
    assert sorted(sorted(map(abs, h)) for h in refl["bcc"]) == [[0, 0, 2], [0, 1, 1], [0, 1, 3], [1, 1, 2]]
    # IPF, KAM, GROD and grains per phase; no grain spans two phases
    _one_phase_per_label(two_phase_store, "orientation_grains")
    assert np.isfinite(ds.orientation_ipf.values).all() and np.isfinite(ds.orientation_grod.values).all()
    assert json.loads(ds.orientation_ipf.attrs["laue_groups"] if isinstance(ds.orientation_ipf.attrs["laue_groups"], str)
                      else json.dumps(ds.orientation_ipf.attrs["laue_groups"])) == {"0": "m-3m", "1": "m-3m"}


def test_dictionary_two_phases_merged_and_refined(two_phase_store: Path) -> None:
    from vaearr.maps.indexing.indexing import index_store

    res = index_store(two_phase_store, phase=["gamma=fcc", "alpha=bcc"], pc=_pc(two_phase_store), sample_tilt=70,
                      method="dictionary", resolution=4, refine=True, progress=False)
    assert "dictionary: 23870 orientations at 4° (gamma 11935, alpha 11935)" in res.summary()
    acc = _phase_accuracy(two_phase_store)
    assert acc >= 0.98, acc
    err = _orientation_errors(two_phase_store)
    assert np.median(err) < 0.5, np.median(err)
    ds = open_store(two_phase_store)
    assert [p["name"] for p in ds.phase_id.attrs["phases"]] == ["gamma", "alpha"]
    a = ds.orientation.attrs
    assert a["dictionary"]["merge"].startswith("kikuchipy.indexing.merge_crystal_maps") and a["refine"] is True
    assert len(a["master_pattern"]) == 2 and a["energy_kv"] == 20.0
    ncc = ds.orientation_score.values
    assert (ncc > 0.1).all() and (ncc <= 1).all()


def test_a_cif_written_here_indexes(two_phase_store: Path, tmp_path: Path) -> None:
    cif = tmp_path / "ferrite.cif"
    cif.write_text(FERRITE_CIF)
    from vaearr.maps.indexing.indexing import index_store

    index_store(two_phase_store, phase=["fcc", str(cif)], pc=_pc(two_phase_store), sample_tilt=70, method="hough",
                name="cif", progress=False)
    acc = _phase_accuracy(two_phase_store, "cif_phase_id")
    assert acc >= 0.98, acc
    phases = open_store(two_phase_store).cif_phase_id.attrs["phases"]
    assert phases[1]["name"] == "ferrite" and phases[1]["source"].startswith("CIF ")


def test_segment_orientations_never_spans_two_phases(two_phase_store: Path) -> None:
    from vaearr.maps.indexing.indexing import index_store
    from vaearr.maps.segmentation.segment import segment_store

    index_store(two_phase_store, phase=["fcc", "bcc"], pc=_pc(two_phase_store), sample_tilt=70, progress=False)
    segment_store(two_phase_store, var="orientation", name="seg")
    _one_phase_per_label(two_phase_store, "seg")
    _one_phase_per_label(two_phase_store, "seg_grains")


def test_export_two_phases_round_trips_through_orix(two_phase_store: Path, tmp_path: Path) -> None:
    """orix HDF5 comes back exact (phase ids, orientations, phase records); .ang and .ctf number phases from 1 and
    keep fewer decimals: the same phase by name and the orientations within 1e-5."""
    from orix import io as orix_io

    from vaearr.io.bridge import from_crystal_map, to_crystal_map
    from vaearr.io.export import export_orientations
    from vaearr.maps.indexing.indexing import index_store

    index_store(two_phase_store, phase=["fcc", "bcc"], pc=_pc(two_phase_store), sample_tilt=70, progress=False)
    ds = open_store(two_phase_store)
    pid, q = ds.phase_id.values, ds.orientation.values
    names = {p["id"]: p["name"] for p in ds.phase_id.attrs["phases"]}
    for suffix in (".h5", ".ang", ".ctf"):
        out = tmp_path / f"two{suffix}"
        assert "phases: fcc (m-3m), bcc (m-3m)" in export_orientations(two_phase_store, out).summary()
        back = from_crystal_map(orix_io.load(out))
        back_names = {p["id"]: p["name"] for p in back.phase_id.attrs["phases"]}
        assert [names[i] for i in pid.ravel()] == [back_names[i] for i in back.phase_id.values.ravel()]
        if suffix == ".h5":
            # orix reads back the crystal map written: phases and ids exact, rotations to float64 precision (orix
            # keeps Euler angles in the file); it normalises the store's float32 quaternions in float64, so the
            # store's values come back within one float32 step
            written, read = to_crystal_map(ds), orix_io.load(out)
            np.testing.assert_allclose(read.rotations.data, written.rotations.data, rtol=0, atol=1e-12)
            np.testing.assert_array_equal(read.phase_id, written.phase_id)
            assert [p.name for _, p in read.phases] == [p.name for _, p in written.phases]
            np.testing.assert_array_equal(back.phase_id.values, pid)
            assert np.abs(back.orientation.values - q).max() <= 6e-8
            keep = ("id", "name", "point_group", "space_group", "lattice", "atoms")
            assert [{k: p[k] for k in keep} for p in back.phase_id.attrs["phases"]] == \
                   [{k: p[k] for k in keep} for p in ds.phase_id.attrs["phases"]]
        else:
            assert np.abs(back.orientation.values - q).max() < 1e-5


def test_bad_phases_are_one_line_and_leave_the_store(two_phase_store: Path, tmp_path: Path) -> None:
    bad_cif = tmp_path / "broken.cif"
    bad_cif.write_text("data_x\n_cell_length_a abc\nloop_\n_foo\n")
    before = tree_hash(two_phase_store)
    for phases, words in ((["fcc", "fcc"], "two phases named 'fcc'"), (["fcc", "unobtainium"], "unknown phase"),
                          (["fcc", str(bad_cif)], "cannot be read as a CIF file")):
        args = [a for p in phases for a in ("--phase", p)]
        proc = cli("index", two_phase_store, *args, "--pc", _pc(two_phase_store), "--tilt", "70")
        assert proc.returncode == 2 and proc.stderr.startswith("error: ") and words in proc.stderr, proc.stderr
        assert proc.stderr.strip().count("\n") == 0
    from vaearr.maps.indexing.indexing import index_store

    with pytest.raises(InputError, match="two phases named 'a'"):
        index_store(two_phase_store, phase=["a=fcc", "a=bcc"], pc=_pc(two_phase_store), sample_tilt=70)
    assert tree_hash(two_phase_store) == before


def test_fcc_and_hcp_by_dictionary(tmp_path: Path) -> None:
    """HCP's kinematical master pattern indexes HCP patterns: a small FCC + HCP map, dictionary indexing of both
    (the HCP orientations checked with 6/mmm symmetry)."""
    from orix.quaternion import Orientation
    from orix.quaternion.symmetry import D6h

    from benchmarks.data.multiphase import write_phase_map
    from vaearr.maps.indexing.indexing import index_store

    store = tmp_path / "fcc_hcp.zarr"
    write_phase_map(store, "fcc-hcp", seed=3, shape=(12, 16), n_grains=4)
    index_store(store, phase=["fcc", "hcp"], pc=_pc(store), sample_tilt=70, method="dictionary", resolution=4,
                progress=False)
    ds = open_store(store)
    assert [p["point_group"] for p in ds.phase_id.attrs["phases"]] == ["m-3m", "6/mmm"]
    acc = _phase_accuracy(store)
    assert acc >= 0.95, acc
    hcp = ((ds.phase_id.values == 1) & (ds.phase_true.values == 1)).ravel()
    a = Orientation(ds.orientation_true.values.reshape(-1, 4)[hcp].astype(np.float64), symmetry=D6h)
    b = Orientation(ds.orientation.values.reshape(-1, 4)[hcp].astype(np.float64), symmetry=D6h)
    assert hcp.sum() > 20 and np.median(np.degrees(a.angle_with(b))) < 3.0
