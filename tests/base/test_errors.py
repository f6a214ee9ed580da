"""The words of vaearr's one-line errors: what a file handed in is (``what_file``), what a library's error says about
it (``reason``), the line of a reader that cannot read it (``unreadable``) and the closest names to a misspelt one
(``did_you_mean``)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from vaearr.errors import InputError, did_you_mean, reason, unreadable, what_file


@pytest.mark.parametrize("name, content, said", [
    ("README.md", "# vaearr\n\nVAE representations\n", "a Markdown text file beginning '# vaearr'"),
    ("notes", "\n\n  first words here  \nsecond\n", "a text file beginning 'first words here'"),
    ("long.txt", "x" * 100, f"a text file beginning '{'x' * 32}…'"),
    ("code.md", "`vaearr demo` runs it\n", "a Markdown text file beginning ''vaearr demo' runs it'"),
    ("blank.txt", "\n\n\n", "a text file of blank lines"),
    ("latin.csv", "x;y;Größe\n".encode("latin-1"), "a CSV text file beginning 'x;y;Größe'"),
    ("utf8.csv", "x,y,Größe\n", "a CSV text file beginning 'x,y,Größe'"),
    ("a.png", b"\x89PNG\r\n\x1a\n" + bytes(20), "a PNG image"),
    ("a.jpg", b"\xff\xd8\xff\xe0" + bytes(20), "a JPEG image"),
    ("a.npz", b"PK\x03\x04" + bytes(20), "a ZIP archive (.zip, .npz, .docx…)"),
    ("a.pdf", b"%PDF-1.7\n", "a PDF document"),
    ("empty", b"", "an empty file (0 bytes)"),
    ("noise", bytes(range(256)), "binary data (256 bytes) of no format vaearr knows"),
])
def test_what_a_file_is(tmp_path: Path, name: str, content: str | bytes, said: str) -> None:
    path = tmp_path / name
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content, encoding="utf-8")
    assert what_file(path) == said


def test_what_a_folder_an_absent_path_and_hdf5_are(tmp_path: Path) -> None:
    """HDF5 is found at the start and after a user block (512 bytes and more), as h5py finds it."""
    assert what_file(tmp_path) == "a folder" and what_file(tmp_path / "gone") == "no such file"
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["x"] = np.arange(3)
    with h5py.File(tmp_path / "user.h5", "w", userblock_size=1024) as f:
        f["x"] = np.arange(3)
    assert h5py.is_hdf5(tmp_path / "user.h5") and (tmp_path / "user.h5").read_bytes()[:8] != b"\x89HDF\r\n\x1a\n"
    assert what_file(tmp_path / "plain.h5") == what_file(tmp_path / "user.h5") == "an HDF5 file"


def test_a_library_error_keeps_only_what_it_says_about_the_file() -> None:
    path = "/data/scan.md"
    assert reason(OSError(f"Could not read '{path}'. If the file format is supported, please report this error."),
                  path) is None
    assert reason(ValueError(f'Cannot work out file type of "{path}"'), path) is None
    assert reason(ValueError("header announces 12 columns, found 10\nTraceback details"), path) == \
        "header announces 12 columns, found 10"
    assert reason(AttributeError("'NoneType' object has no attribute 'file_reader'"), path) is None
    assert reason(None) is None


def test_the_line_of_a_reader_that_cannot_read_a_file(tmp_path: Path) -> None:
    """What the file is when it is another format; truncated or corrupt when it is binary data under the reader's own
    suffix; the library's reason and the way on after it."""
    md = tmp_path / "README.md"
    md.write_text("# vaearr\n")
    err = unreadable(md, "a crystal map", ValueError("Could not read 'x'. If the file format is supported, please "
                                                     "report this error."), then="give a .ang")
    assert isinstance(err, InputError) and err.path == str(md)
    assert str(err) == f"{md}: a Markdown text file beginning '# vaearr', not a crystal map; give a .ang"
    cut = tmp_path / "cut.nii"
    cut.write_bytes(bytes(range(256)) * 3)
    assert str(unreadable(cut, "a NIfTI image", EOFError("file ends at 768 bytes"), suffixes=(".nii",))) == \
        f"{cut}: cannot be read as a NIfTI image: truncated or corrupt? (file ends at 768 bytes)"


def test_did_you_mean_the_closest_names() -> None:
    assert did_you_mean("rois", ["roi", "patterns", "latent"]) == "did you mean 'roi'?"
    assert did_you_mean("--datset", ["--dataset", "--x-dataset", "--y-dataset"], quote="") == \
        "did you mean --dataset?"
    assert did_you_mean("latnt_dim", ["latent_dim", "latent_dims"]) == "did you mean 'latent_dim' or 'latent_dims'?"
    assert did_you_mean("roi", ["roi"]) is None and did_you_mean("qqq", ["roi", "latent"]) is None


def test_vaearrs_own_warnings_are_errors_in_the_suite_and_lines_on_the_command_line(
        capsys: pytest.CaptureFixture[str]) -> None:
    """pyproject's ``filterwarnings`` (issue 62): one of vaearr's warnings met in a test is an error unless the test
    says it expects it (``pytest.warns``, ``pytest.deprecated_call``); the command line prints it as one line."""
    import warnings

    from vaearr.cli import execute
    from vaearr.errors import VaearrDeprecationWarning, VaearrWarning
    from vaearr.options import take_renamed

    with pytest.raises(VaearrWarning):
        warnings.warn("grid nodes without a row", VaearrWarning, stacklevel=1)
    with pytest.raises(VaearrDeprecationWarning):
        take_renamed({"features": "latent"}, {"features": "var"}, "vaearr.segment")
    with pytest.deprecated_call(match="use var="):
        assert take_renamed({"features": "latent"}, {"features": "var"}, "vaearr.segment") == {"var": "latent"}
    assert issubclass(VaearrWarning, UserWarning) and issubclass(VaearrDeprecationWarning, DeprecationWarning)

    import vaearr.cli as cli_module

    def warns(args: list[str]) -> None:  # a command that warns, run by execute
        warnings.warn(f"{args[0]}: a warning of vaearr's", VaearrWarning, stacklevel=1)
        raise SystemExit(0)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli_module, "_execute", warns)
        with pytest.raises(SystemExit):
            execute(["m.zarr"])
    assert capsys.readouterr().err == "warning: m.zarr: a warning of vaearr's\n"
