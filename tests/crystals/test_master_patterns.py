"""What ``--phase`` names and the master patterns they give (:mod:`vaearr.crystals.master_patterns`): built-in
names, NAME=SOURCE, structure text, unknown names and files, two phases of one name, the files written."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from PIL import Image

from vaearr.errors import InputError

pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")

from vaearr.crystals import master_patterns  # noqa: E402 - after the extra's skip
from vaearr.crystals.master_patterns import (  # noqa: E402
    MAX_MASTER_PATTERN_BYTES,
    read_master_pattern,
    record_source,
    resolve_phase,
    resolve_phases,
    save_master_pattern,
)


@pytest.mark.parametrize(("spec", "named"), [
    ("fcc", (None, "fcc")), ("gamma=fcc", ("gamma", "fcc")), (" ni_2 = ni ", ("ni_2", "ni")),
    ("x:225:3.6:Cu@0,0,0@0.5", (None, "x:225:3.6:Cu@0,0,0@0.5")),  # '=' absent; ':' is no name
    ("a b=fcc", (None, "a b=fcc")), ("=fcc", (None, "=fcc")),
])
def test_name_equals_source(spec, named) -> None:
    assert master_patterns._named(spec) == named  # noqa: SLF001 - the NAME=SOURCE rule every --phase goes through


def test_builtin_names_any_case_and_renamed() -> None:
    src = resolve_phase("BCC")
    assert (src.name, src.kind, src.kinematical) == ("bcc", "builtin", True)
    assert src.phase.space_group.number == 229 and "α" not in src.source and "Fe" in src.source
    renamed = resolve_phase("ferrite=bcc")
    assert renamed.name == "ferrite" and renamed.phase.name == "ferrite"
    rec = renamed.record(2)
    assert rec["id"] == 2 and rec["name"] == "ferrite" and rec["source"] == renamed.source
    assert rec["lattice_units"] == "Å, degrees"


def test_structure_text_is_a_structure_phase() -> None:
    src = resolve_phase("cu=copper:225:3.615:Cu")
    assert (src.name, src.kind) == ("cu", "structure") and src.phase.structure.lattice.a == pytest.approx(3.615)
    assert src.source == "structure copper:225:3.615:Cu"


@pytest.mark.parametrize(("spec", "words"), [
    ("unobtainium", "unknown phase 'unobtainium': give fcc, bcc or hcp"),
    ("missing.cif", "missing.cif"),
    ("missing.h5", "no such master-pattern file"),
])
def test_what_is_no_phase_is_one_line(spec, words, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as err:
        resolve_phase(spec)
    assert words in str(err.value)


def test_two_phases_of_one_name_are_one_line() -> None:
    assert [p.name for p in resolve_phases(["fcc", "ferrite=bcc"])] == ["fcc", "ferrite"]
    with pytest.raises(InputError, match=r"two phases named 'FCC' \('fcc' and 'FCC=bcc'\)"):
        resolve_phases(["fcc", "FCC=bcc"])


def test_a_record_is_a_structure_source_again() -> None:
    rec = resolve_phase("hcp").record(1)
    src = record_source(rec)
    assert (src.name, src.kind, src.source) == ("hcp", "structure", rec["source"])
    assert src.phase.space_group.number == 194 and src.units == "Å, degrees"
    assert record_source({**rec, "source": None}).source == "phase record"


def test_a_file_that_is_no_master_pattern_is_one_line(tmp_path) -> None:
    text = tmp_path / "mp.h5"
    text.write_text("not hdf5")
    with pytest.raises(InputError, match="mp.h5"):
        read_master_pattern(text)
    big = tmp_path / "big.h5"
    with h5py.File(big, "w") as f:  # declared, never written: no bytes on disk
        f.create_dataset("EMData/mLPNH", shape=(MAX_MASTER_PATTERN_BYTES // 4 + 1,), dtype="f4")
    with pytest.raises(InputError, match="its dataset 'EMData/mLPNH' holds 1 GB, more than the 1 GB"):
        read_master_pattern(big)


def test_a_master_pattern_is_saved_as_png_and_npz(tmp_path) -> None:
    import kikuchipy as kp

    src = resolve_phase("fcc")
    data = np.stack([np.arange(25, dtype=np.float32).reshape(5, 5), np.full((5, 5), 10, np.float32)])
    mp = kp.signals.EBSDMasterPattern(data, projection="lambert", hemisphere="both", phase=src.phase.deepcopy())
    files = save_master_pattern(mp, tmp_path / "out", "../Ni γ")
    assert files == {"png": tmp_path / "out" / "_._Ni___master_pattern.png",
                     "npz": tmp_path / "out" / "_._Ni___master_pattern.npz"}
    png = np.asarray(Image.open(files["png"]))
    assert png.shape == (5, 14) and png[0, 0] == 0 and png[4, 4] == 255  # grey levels span the range
    assert (png[:, 5:9] == 255).all() and (png[:, 9:] == round(255 * 10 / 24)).all()
    with np.load(files["npz"]) as f:
        np.testing.assert_array_equal(f["lambert"], data)
        assert json.loads(str(f["record"]))["space_group"] == 225
