"""vaearr spread (vaearr.maps.deformation.spread): kernel and domain spreads of a feature map or of orientations, the recrystallised regions, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.helpers import cli, tree_hash
from vaearr.errors import StoreError
from vaearr.maps.deformation.measures import feature_spreads, orientation_spreads
from vaearr.maps.deformation.spread import spread_store
from vaearr.store import write_variables

NY, NX, D = 30, 40, 6


def planted(seed: int = 0, gradient: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Two regions side by side (x < 20, x ≥ 20), unit Gaussian noise; the right one's features drift along x by
    ``gradient`` noise σ a pixel in one dim (a bent grain), the left one's do not (a recrystallised grain)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:NY, 0:NX]
    regions = (xx >= 20).astype(int)
    f = rng.normal(size=(NY, NX, D))
    f[..., 0] += 30.0 * regions  # far apart: two grains
    f[..., 1] += gradient * np.where(regions == 1, xx - 30, 0)
    return f, regions


def test_a_bent_region_reads_a_higher_kernel_spread_than_a_flat_one() -> None:
    f, regions = planted()
    s = feature_spreads(f, regions)
    flat, bent = regions == 0, regions == 1
    assert np.nanmedian(s.kernel[bent]) > 1.5 * np.nanmedian(s.kernel[flat])
    # the domain spread is in units of the noise: about 1 on the flat region, far above it on the bent one
    assert s.region_domain[0] == pytest.approx(1.0, abs=0.25) and s.region_domain[1] > 5
    assert s.recrystallised[flat].all() and not s.recrystallised[bent].any()
    assert s.recrystallised_fraction == pytest.approx(0.5)
    assert "second differences" in s.info["noise_estimator"]  # a gradient is not taken for noise
    # a steeper bend reads higher still; none reads as the flat region
    steep = feature_spreads(*planted(gradient=6.0))
    assert np.nanmedian(steep.kernel[bent]) > np.nanmedian(s.kernel[bent])


def test_the_kernel_spread_reads_the_gradient_in_units_of_the_noise() -> None:
    """The kernel spread is 1 + |∇z|²/d with the noise's part taken out: about 1 on the flat region (noise alone),
    about 1 + g²/d on a region drifting g noise σ a pixel in one of its d features, at every pixel, the region's
    rim (fewer pixels in the window) included."""
    for gradient in (1.0, 3.0):
        s = feature_spreads(*planted(seed=5, gradient=gradient))
        _, regions = planted(seed=5, gradient=gradient)
        flat, bent = s.kernel[regions == 0], s.kernel[regions == 1]
        assert np.median(flat) == pytest.approx(1.0, abs=0.1), np.median(flat)
        assert np.median(bent) == pytest.approx(1 + gradient**2 / D, rel=0.15), (gradient, np.median(bent))
        rim = s.kernel[:, 20] if gradient == 3.0 else None  # the bent region's first column: half a window
        if rim is not None:
            assert np.median(rim) == pytest.approx(1 + gradient**2 / D, rel=0.25), np.median(rim)


def test_the_noise_floor_does_not_depend_on_the_bending() -> None:
    """The noise is read from second differences, which a linear gradient does not reach: the flat region's domain
    spread stays near 1 however bent its neighbour is."""
    for gradient in (1.0, 3.0, 8.0):
        s = feature_spreads(*planted(seed=2, gradient=gradient))
        assert s.region_domain[0] == pytest.approx(1.0, abs=0.25), (gradient, s.region_domain)


def test_a_few_pixels_of_a_neighbour_do_not_make_a_flat_region_deformed() -> None:
    """The segmentation gave the flat region a few pixels of its bent neighbour (2 % of it, far out in features): its
    mean squared spread rises well above the noise, but the recrystallised call reads the median and keeps it."""
    f, regions = planted(seed=4)
    stray = np.zeros(regions.shape, bool)
    stray[10:14, 6:9] = True  # 12 of its 600 pixels, inside (where the domain spread is read)
    f[stray, 0] += 30.0
    f[stray, 1] += 40.0
    s = feature_spreads(f, regions)
    assert s.region_domain[0] > 2.0, s.region_domain  # the mean reads it as deformed
    assert s.recrystallised[regions == 0].all() and not s.recrystallised[regions == 1].any(), s.info
    assert "median" in s.info["recrystallised_rule"]


def test_orientation_spreads_are_kam_and_gos_in_degrees() -> None:
    """Rotation vectors (degrees) from each region's mean: a region turning 0.4° a pixel along x reads a KAM of
    half that plus half its noise (two of its four neighbours are 0.4° away, two only the noise's 0.068°), a flat
    one reads its noise; GOS is the mean angle from the mean."""
    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[0:NY, 0:NX]
    regions = (xx >= 20).astype(int)
    v = rng.normal(scale=0.03, size=(NY, NX, 3))
    v[..., 2] += np.where(regions == 1, 0.4 * (xx - 29.5), 0.0)
    s = orientation_spreads(v, regions)
    noise = 0.03 * np.sqrt(2) * 1.596  # mean length of the difference of two rotation vectors of noise
    inner = (yy > 0) & (yy < NY - 1) & (xx > 20) & (xx < NX - 1)
    assert np.nanmedian(s.kernel[inner]) == pytest.approx(0.5 * (0.4 + noise), abs=0.02)
    assert np.nanmedian(s.kernel[regions == 0]) == pytest.approx(noise, abs=0.015)
    assert s.region_domain[1] == pytest.approx(0.4 * np.mean(np.abs(np.arange(20) - 9.5)), rel=0.1)
    assert s.recrystallised[regions == 0].all() and not s.recrystallised[regions == 1].any()
    assert s.info["units"] == "degrees" and 0.02 < s.info["orientation_noise_deg"] < 0.05


def _store(path: Path, f: np.ndarray, regions: np.ndarray, **extra: xr.DataArray) -> Path:
    coords = {"y": np.arange(NY, dtype=float) * 0.5, "x": np.arange(NX, dtype=float) * 0.5}
    grid = ("y", "x")
    seg = xr.DataArray((regions * 2 + (np.arange(NY)[:, None] >= 15)).astype(np.int32), dims=grid, coords=coords,
                       attrs={"n_regions": 4, "n_grains": 2})
    write_variables(path, {"latent": xr.DataArray(f.astype(np.float32), dims=(*grid, "latent_dim"), coords=coords),
                           "seg": seg, "seg_grains": xr.DataArray(regions.astype(np.int32), dims=grid, coords=coords),
                           **extra}, source=["test"])
    return path


def test_spread_store_writes_three_variables_and_its_figure(tmp_path: Path) -> None:
    f, regions = planted()
    store = _store(tmp_path / "s.zarr", f, regions)
    figs = tmp_path / "figs"
    proc = cli("spread", store, "--var", "latent", "--regions", "seg", "--out", figs)
    assert proc.returncode == 0, proc.stderr
    assert "the grains of the segmentation 'seg' (seg_grains)" in proc.stdout
    assert "recrystallised: 1 of 2 regions, 50.0 % of the pixels" in proc.stdout
    ds = xr.open_zarr(store)
    for name in ("latent_kernel_spread", "latent_domain_spread"):
        assert ds[name].dtype == np.float32 and ds[name].attrs["units"] == "noise variance"
        assert ds[name].attrs["regions"] == "seg_grains" and ds[name].attrs["features"] == "latent"
    assert ds.recrystallised.dtype == bool and ds.recrystallised.values[:, :20].all()
    assert "recrystallised_rule" in ds.recrystallised.attrs and ds.recrystallised.attrs["recrystallised_fraction"] == 0.5
    assert (figs / "latent_spread.html").stat().st_size > 0 and (figs / "latent_spread.png").stat().st_size > 0
    # --level regions measures over the sub-grains: four regions
    r = spread_store(store, var="latent", regions="seg", level="regions", name="sub", recrystallised="rex_sub")
    assert r.spread.info["regions_measured"] == 4 and r.regions == "seg"
    # rank takes a spread as a reference like any (y, x) map
    proc = cli("rank", store, "--against", "latent_kernel_spread", "--out", tmp_path / "rank", "--mask", "none")
    assert proc.returncode == 0, proc.stderr
    assert "latent_kernel_spread" in (tmp_path / "rank" / "association.csv").read_text()


def test_a_grain_the_mask_leaves_as_speckle_is_measured_in_its_own_noise(tmp_path: Path) -> None:
    """Latents of a run that averaged each pattern with its 3 × 3 neighbours in its mask are noisier where fewer
    neighbours counted. A recrystallised grain the mask leaves as speckle (a pixel in four kept) read deformed when
    every pixel's noise was taken as the interior's; measured in its pixels' own noise (the run's ``config`` attr says
    how they were averaged) it is recrystallised, and the bent grain stays deformed."""
    import json

    from scipy import ndimage as ndi

    from vaearr.maps.deformation.spread import averaged_counts

    rng = np.random.default_rng(3)
    f, regions = planted(seed=3)
    roi = np.ones((NY, NX), bool)
    roi[:, :20] = rng.random((NY, 20)) < 0.25  # the left grain: speckle
    n = np.where(roi, ndi.convolve(roi.astype(float), np.ones((3, 3)), mode="constant"), 1.0)
    f = f * np.sqrt(9 / np.maximum(n, 1))[..., None]  # noise of a mean of n patterns (9: a full window)
    store = _store(tmp_path / "speckle.zarr", f, regions, roi=xr.DataArray(roi, dims=("y", "x")))
    config = {"train": {"average_neighbours": 3}, "data": {"mask": "roi"}}
    ds = xr.open_zarr(store)
    precision, line = averaged_counts(ds.assign(latent=ds.latent.assign_attrs(config=json.dumps(config))), "latent")
    assert line is not None and "3 × 3 in the run's mask 'roi'" in line
    np.testing.assert_allclose(precision, n / 9)
    assert averaged_counts(ds, "latent") == (None, None)  # no averaging recorded: every pixel alike
    plain = spread_store(store, var="latent", regions="seg", mask="roi", name="plain", recrystallised="rex_plain")
    assert not plain.spread.recrystallised[:, :20][roi[:, :20]].any()  # the speckle grain read deformed
    write_variables(store, {"latent": ds.latent}, source=["test"], config=config, overwrite=True)  # as encode writes it
    weighted = spread_store(store, var="latent", regions="seg", mask="roi", name="w", recrystallised="rex_w")
    rex = weighted.spread.recrystallised
    assert rex[:, :20][roi[:, :20]].all() and not rex[:, 20:].any()
    assert weighted.spread.region_domain[0] == pytest.approx(1.0, abs=0.3)
    assert "3 × 3" in xr.open_zarr(store).rex_w.attrs["noise_weights"]


def test_bad_inputs_change_nothing(tmp_path: Path) -> None:
    f, regions = planted()
    store = _store(tmp_path / "s.zarr", f, regions,
                   floats=xr.DataArray(np.zeros((NY, NX)), dims=("y", "x")),
                   nothing=xr.DataArray(np.full((NY, NX), -1, np.int32), dims=("y", "x")))
    before = tree_hash(store)
    cases = [
        (["--var", "latentz"], "no feature variable 'latentz'"),
        (["--regions", "segz"], "no region variable 'segz'"),
        (["--regions", "floats"], "--regions takes an integer (y, x) id map"),
        (["--regions", "nothing"], "no pixel of the regions has features"),
        (["--regions", "seg", "--level", "pixels"], "--level must be one of grains, regions"),
        (["--regions", "seg", "--radius", "0"], "--radius must be"),
        (["--regions", "seg", "--mask", "nope"], "no mask variable 'nope'"),
        (["--regions", "seg", "--name", "../x"], "--name '../x' is not a safe name"),
    ]
    for args, message in cases:
        proc = cli("spread", store, *args, "--out", tmp_path / "f")
        assert proc.returncode == 2 and message in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1 and tree_hash(store) == before
    spread_store(store, regions="seg")
    after = tree_hash(store)
    proc = cli("spread", store, "--regions", "seg")
    assert proc.returncode == 2 and "exist; pass --overwrite" in proc.stderr and tree_hash(store) == after
    with pytest.raises(StoreError, match="no region variable"):
        spread_store(store, regions="nope", overwrite=True)


def test_a_huge_region_id_is_measured_as_a_small_one(tmp_path: Path) -> None:
    """A region map whose ids are 10¹² and 3·10¹⁵ sized every per-region array by the id: `unexpected MemoryError`
    (7 TB), or a kill at 3 GB with no line (issue 63). The regions are numbered 0…R−1 in their order first: the same
    spreads as ids 0 and 1, in bounded memory."""
    import resource

    f, regions = planted()
    huge = np.where(regions == 1, 3 * 10**15, 10**12)
    store = _store(tmp_path / "s.zarr", f, regions, big=xr.DataArray(huge, dims=("y", "x")))
    small = spread_store(store, var="latent", regions="seg_grains", name="small", recrystallised="rex_small")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    big = spread_store(store, var="latent", regions="big", name="big", recrystallised="rex_big")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 500_000  # kB: no array sized by the id
    for a, b in zip((small.spread.kernel, small.spread.domain, small.spread.recrystallised),
                    (big.spread.kernel, big.spread.domain, big.spread.recrystallised)):
        np.testing.assert_array_equal(a, b)
    assert big.spread.info["regions_measured"] == 2


def test_an_all_nan_feature_map_is_refused_naming_it(tmp_path: Path) -> None:
    """All-NaN latents (an encode inside a mask the regions lie outside of): spread and segment name the variable, in
    one line, the store unchanged (phases, which read them as zeros: tests/cli/test_bad_input.py)."""
    f, regions = planted()
    store = _store(tmp_path / "s.zarr", np.full_like(f, np.nan), regions)
    before = tree_hash(store)
    for command in (["spread", store, "--regions", "seg"], ["segment", store, "--name", "s2"]):
        proc = cli(*command)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert f"error: {store}: variable 'latent' is NaN at every pixel" in proc.stderr, proc.stderr
        assert tree_hash(store) == before
