"""The notebooks in notebooks/ run top to bottom on small settings (VAEARR_NOTEBOOK_SMALL=1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers import REPO

nbformat = pytest.importorskip("nbformat", reason="needs the 'dev' extra (nbformat)")
nbclient = pytest.importorskip("nbclient", reason="needs the 'dev' extra (nbclient)")
pytest.importorskip("ipykernel", reason="needs the 'dev' extra (ipykernel)")


def _run(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    monkeypatch.setenv("VAEARR_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("VAEARR_NOTEBOOK_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("VAEARR_PROGRESS", "off")
    nb = nbformat.read(REPO / "notebooks" / name, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    return nb


def _html_outputs(nb) -> int:
    return sum(1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
               if o.output_type in ("display_data", "execute_result")
               and ("text/html" in o.get("data", {}) or "application/vnd.holoviews_exec.v0+json" in o.get("data", {})))


def test_fashion_mnist_explorer_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("panel", reason="needs the 'viz' extra")
    if not Path("/usr/share/datasets/fashion-mnist").is_dir():
        pytest.skip("needs the Debian dataset-fashion-mnist package (make sysdeps)")
    nb = _run("fashion_mnist_explorer.ipynb", tmp_path, monkeypatch)
    assert _html_outputs(nb) >= 5  # prototypes (heatmap, decoded), traversal, embedding, explorer
    assert (tmp_path / "out" / "fashion_run" / "best" / "model.safetensors").exists()


def _pictures(nb) -> list[int]:
    """The number of PNG outputs of each code cell."""
    return [sum("image/png" in o.get("data", {}) for o in c.get("outputs", [])) for c in nb.cells if c.cell_type == "code"]


def test_ebsd_walkthrough_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kikuchipy's real Ni scan through the top-level steps; the maps drawn by ds.vaearr, each figure once."""
    pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")
    pytest.importorskip("holoviews", reason="needs the 'viz' extra")
    import vaearr

    nb = _run("ebsd_walkthrough.ipynb", tmp_path, monkeypatch)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for step in ("vaearr.ingest(", "vaearr.train(", "vaearr.encode(", "vaearr.index(", "vaearr.segment(",
                 "vaearr.export(", "ds.vaearr.figure(", "ds.vaearr.pattern(", "ds.vaearr.latent_at(", "ds.vaearr.report("):
        assert step in code, step
    # the pattern, the latent maps, the IPF map (its key an inset, not a figure of its own beside it), KAM
    assert sum(_pictures(nb)) == 4 and max(_pictures(nb)) == 1
    out = tmp_path / "out"
    ds = vaearr.open(out / "ni.zarr")
    assert ds.patterns.shape == (3, 3, 60, 60)  # the real scan, not a simulation
    assert {"latent", "orientation_ipf", "orientation_kam", "segments"} <= set(ds.data_vars)
    assert (out / "report" / "report.html").stat().st_size > 100_000 and (out / "ni.ang").stat().st_size > 0
    assert (out / "figures" / "latent_0.html").exists() and (out / "figures" / "latent_0.png").exists()


def test_the_ebsd_walkthrough_is_stored_with_its_outputs() -> None:
    """notebooks/ebsd_walkthrough.ipynb as ``make notebooks`` stores it: every code cell run once, in order, without
    an error, its figures kept."""
    nb = nbformat.read(REPO / "notebooks" / "ebsd_walkthrough.ipynb", as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in cells] == list(range(1, len(cells) + 1))
    assert not [o for c in cells for o in c.outputs if o.output_type == "error"]
    assert sum(_pictures(nb)) == 4
    text = "".join(o.get("text", "") for c in cells for o in c.outputs)
    assert "patterns: 3 × 3 scan of 60 × 60 px" in text and "indexed 9 patterns" in text


def test_mri_reconstruction_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nib = pytest.importorskip("nibabel", reason="needs the 'nifti' extra")
    pytest.importorskip("monai", reason="needs the 'models' extra")
    pytest.importorskip("panel", reason="needs the 'viz' extra")
    nb = _run("mri_reconstruction.ipynb", tmp_path, monkeypatch)
    recon_dir = tmp_path / "out" / "brain_recon"
    inp, rec = nib.load(recon_dir / "anatomical_input.nii.gz"), nib.load(recon_dir / "anatomical_recon.nii.gz")
    assert inp.shape == rec.shape == (16, 16, 16)  # the small crop
    assert np.allclose(inp.affine, rec.affine)
    assert np.isfinite(np.asarray(rec.dataobj)).all() and np.asarray(rec.dataobj).std() > 0
    assert (recon_dir / "anatomical_mid_slices.html").exists() and (recon_dir / "volume_quality.json").exists()
    assert _html_outputs(nb) >= 1  # the input | reconstruction mid-slices
