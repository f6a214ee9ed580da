"""Fixed-slice views of 3D previews (``--slices z,y,x``) and the slice-wise perceptual distance over three axes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vaearr.analysis.quality import check_slices, ortho_slices
from vaearr.errors import InputError
from vaearr.viz.quality import reconstruction_grid, slice_views


def _volume(seed: int = 0, shape=(6, 7, 8)) -> np.ndarray:
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def _panels(layout) -> list[np.ndarray]:
    """Each image of a layout, rows top to bottom as built (hv.Image keeps the array it was given)."""
    return [np.asarray(el.data) for el in layout]


def test_ortho_slices_and_checks() -> None:
    v = _volume()
    axial, coronal, sagittal = ortho_slices(v, (1, 2, 3))
    np.testing.assert_array_equal(axial, v[1])
    np.testing.assert_array_equal(coronal, v[:, 2])
    np.testing.assert_array_equal(sagittal, v[:, :, 3])
    assert [a.shape for a in ortho_slices(v)] == [(7, 8), (6, 8), (6, 7)]
    np.testing.assert_array_equal(ortho_slices(v)[0], v[3])
    with pytest.raises(InputError, match=r"out of range .*6×7×8.*y=7 \(0..6\)") as err:
        check_slices((0, 7, 2), v.shape)
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="three indices"):
        check_slices((1, 2), v.shape)
    with pytest.raises(InputError, match="x=-1"):
        check_slices((0, 0, -1), v.shape)


def test_slice_views_show_the_chosen_slices() -> None:
    x, r = _volume(1), _volume(2)
    panels = _panels(slice_views(x, r, (4, 0, 6), clim=(0.0, 1.0)))
    want = [x[4], x[:, 0], x[:, :, 6], r[4], r[:, 0], r[:, :, 6]]
    assert len(panels) == 6
    for got, exp in zip(panels, want, strict=True):
        np.testing.assert_array_equal(got, exp)
    mid = _panels(slice_views(x, r, None))
    np.testing.assert_array_equal(mid[1], x[:, 3])
    with pytest.raises(InputError, match="z=6"):
        slice_views(x, r, (6, 0, 0))


def test_reconstruction_grid_axial_slice() -> None:
    x = np.stack([_volume(s)[None] for s in range(3)])  # (N, C, D, H, W)
    r = x[:, :, ::-1].copy()
    fig, idx = reconstruction_grid(x, r, n=3, threshold=None, clim=(0.0, 1.0), slices=(5, 0, 0))
    mosaic = np.asarray(fig.data)
    h, w = 7, 8
    for k, i in enumerate(idx):
        np.testing.assert_array_equal(mosaic[:h, k * (w + 1):k * (w + 1) + w], x[i, 0, 5])
        np.testing.assert_array_equal(mosaic[h + 1:2 * h + 1, k * (w + 1):k * (w + 1) + w], r[i, 0, 5])
    with pytest.raises(InputError, match="z=9"):
        reconstruction_grid(x, r, n=3, slices=(9, 0, 0))


def test_volume_reconstructions_fixed_slices(tmp_path: Path) -> None:
    nib = pytest.importorskip("nibabel", reason="needs the 'nifti' extra")
    pytest.importorskip("monai", reason="needs the 'models' extra (MONAI)")
    from tests.test_explore import make_run
    from vaearr.io.nifti import ingest_nifti
    from vaearr.viz.quality import volume_reconstructions

    anat = Path(nib.__file__).parent / "tests" / "data" / "anatomical.nii"
    store = tmp_path / "vol.zarr"
    ingest_nifti([anat], store)
    model = {"name": "vae3d", "input_shape": [1, 16, 16, 16], "channels": [8, 16], "norm_num_groups": 8,
             "backbone": "monai"}
    make_run(tmp_path / "run", store, model=model, var="volumes", sample_dims=("subject",),
             feature_dims=("z", "y", "x"), crop=16)
    with pytest.raises(InputError, match=r"x=16 \(0..15\)"):
        volume_reconstructions(store, tmp_path / "run", tmp_path / "bad", slices=(1, 2, 16))
    assert not (tmp_path / "bad").exists()
    written = volume_reconstructions(store, tmp_path / "run", tmp_path / "vols", slices=(3, 9, 12))
    assert "anatomical_slices.html" in {p.name for p in written}
    inp = np.asarray(nib.load(tmp_path / "vols" / "anatomical_input.nii.gz").dataobj).transpose(2, 1, 0)
    rec = np.asarray(nib.load(tmp_path / "vols" / "anatomical_recon.nii.gz").dataobj).transpose(2, 1, 0)
    panels = _panels(slice_views(inp, rec, (3, 9, 12)))
    np.testing.assert_allclose(panels[0], inp[3])
    np.testing.assert_allclose(panels[4], rec[:, 9])
    np.testing.assert_allclose(panels[2], inp[:, :, 12])
    # explore --slices: checked before anything is written; recorded in summary.json
    from vaearr.viz.explore import explore

    with pytest.raises(InputError, match=r"z=40 \(0..15\)"):
        explore(store, tmp_path / "run", tmp_path / "ex_bad", parts=["quality"], label=None, slices=(40, 0, 0))
    assert not (tmp_path / "ex_bad").exists()
    res = explore(store, tmp_path / "run", tmp_path / "ex", parts=["quality"], label=None, slices=(3, 9, 12))
    assert res.summary["slices_zyx"] == [3, 9, 12]
    assert (tmp_path / "ex" / "volumes" / "anatomical_slices.html").is_file()
