"""The notebooks in notebooks/ run top to bottom on small settings (VAEARR_NOTEBOOK_SMALL=1)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
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


def test_ebsd_walkthrough_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")
    pytest.importorskip("panel", reason="needs the 'viz' extra")
    nb = _run("ebsd_walkthrough.ipynb", tmp_path, monkeypatch)
    out = tmp_path / "out"
    summary = json.loads((out / "ebsd_explore" / "summary.json").read_text())
    assert summary["n_samples"] > 100 and summary["latent_shape"] == [4]
    for name in ("reconstruction_grid", "latent_kl_per_dim", "traversal", "pca", "pca_samples"):
        assert f"{name}.html" in summary["figures"]
        assert (out / "ebsd_explore" / f"{name}.html").stat().st_size > 10_000
        assert (out / "ebsd_explore" / f"{name}.png").stat().st_size > 1_000
    assert (out / "ni_run" / "best" / "model.safetensors").exists()
    # band-contrast overlay, latent maps, the latent-stats table
    assert _html_outputs(nb) >= 3


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
