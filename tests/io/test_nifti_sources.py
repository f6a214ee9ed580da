"""Which NIfTI volumes to read and their subjects' labels (:mod:`vaearr.io.nifti_sources`): a list, a folder, a CSV
of subject,path; labels by subject; the one-line errors naming the file (no NIfTI is opened here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vaearr.errors import InputError
from vaearr.io.nifti_sources import read_labels, resolve_sources


def _touch(folder: Path, *names: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / n).write_bytes(b"")
    return [folder / n for n in names]


def test_a_folder_gives_its_volumes_sorted_named_without_the_suffix(tmp_path) -> None:
    _touch(tmp_path / "d", "b.nii.gz", "a.NII", "c.nii.GZ", "notes.txt", ".hidden.nii")
    (tmp_path / "d" / "sub.nii").mkdir()
    pairs = resolve_sources(tmp_path / "d")
    assert [(s, p.name) for s, p in pairs] == [("a", "a.NII"), ("b", "b.nii.gz"), ("c", "c.nii.GZ")]
    with pytest.raises(InputError, match="empty: holds no .nii or .nii.gz files"):
        resolve_sources(_touch(tmp_path / "empty", "x.txt")[0].parent)


def test_a_list_of_files_and_its_errors(tmp_path) -> None:
    files = _touch(tmp_path, "s1.nii.gz", "s2.nii")
    assert resolve_sources([str(f) for f in files]) == [("s1", files[0]), ("s2", files[1])]
    assert resolve_sources(files[0]) == [("s1", files[0])]
    with pytest.raises(InputError, match="no NIfTI files given"):
        resolve_sources([])
    with pytest.raises(InputError, match="s3.nii: no such file"):
        resolve_sources([files[0], tmp_path / "s3.nii"])
    other = _touch(tmp_path / "other", "s1.nii")[0]
    with pytest.raises(InputError, match=r"subject 's1' is named twice \(also .*s1.nii.gz\)"):
        resolve_sources([files[0], other])


def test_a_csv_of_subjects_and_paths_relative_to_it(tmp_path) -> None:
    vol = _touch(tmp_path / "vols", "x.nii.gz", "y.nii.gz")
    csv = tmp_path / "subjects.csv"
    csv.write_text(f" subject , path ,age\nA,vols/x.nii.gz,3\nB,{vol[1]},4\n")
    assert resolve_sources(csv) == [("A", vol[0]), ("B", vol[1])]


@pytest.mark.parametrize(("text", "words"), [
    ("name,path\nA,x.nii\n", "needs columns 'subject' and 'path'; has ['name', 'path']"),
    ("subject,path\nA,\n", "line 2: empty subject or path"),
    ("subject,path\n", "lists no subjects"),
    ("subject,path\nA,missing.nii\n", "missing.nii: no such file"),
])
def test_a_bad_csv_of_sources_is_one_line(tmp_path, text, words) -> None:
    csv = tmp_path / "s.csv"
    csv.write_text(text)
    with pytest.raises(InputError) as err:
        resolve_sources(csv)
    assert words in str(err.value)
    with pytest.raises(InputError, match="none.csv: no such file"):
        resolve_sources(tmp_path / "none.csv")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00subject")
    with pytest.raises(InputError, match="bin.csv: cannot be read as CSV"):
        resolve_sources(tmp_path / "bin.csv")


def test_labels_by_subject_in_the_order_asked(tmp_path) -> None:
    csv = tmp_path / "labels.csv"
    csv.write_text("subject,group,age\nA, patient ,30\nB,control,40\nC,,50\n")
    labels = read_labels(csv, "group", ["C", "A", "B"])
    assert labels.tolist() == ["", "patient", "control"] and labels.dtype.kind == "U"
    np.testing.assert_array_equal(read_labels(csv, "age", ["B"]), ["40"])
    with pytest.raises(InputError, match=r"needs columns 'subject' and 'sex' \(`label_column`\)"):
        read_labels(csv, "sex", ["A"])
    with pytest.raises(InputError, match=r"has no row for subject\(s\) D, E \(2 of 3\)"):
        read_labels(csv, "group", ["A", "D", "E"])
    twice = tmp_path / "twice.csv"
    twice.write_text("subject,group\nA,x\nA,y\n")
    with pytest.raises(InputError, match="line 3: subject 'A' is listed twice"):
        read_labels(twice, "group", ["A"])
