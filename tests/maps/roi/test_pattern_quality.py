"""A ROI from the patterns alone: ``vaearr quality`` (image quality and the average neighbour dot product, kikuchipy) and
``vaearr roi`` on any variable, keeping values above or below an Otsu threshold or a value."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.helpers import cli, tree_hash
from vaearr.errors import InputError, StoreError
from vaearr.store import open_store, write_variables

pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")


def test_quality_block_by_block_is_kikuchipy_on_the_whole_map(two_phase_store: Path) -> None:
    """Blocks of two rows with a row of neighbours each side give kikuchipy's own maps of the whole map."""
    import kikuchipy as kp

    from vaearr.maps.roi.pattern_quality import quality_store

    res = quality_store(two_phase_store, block_patterns=64, progress=False)  # 2 rows of 32 per block
    assert "iq: image quality" in res.summary() and "vaearr roi STORE --var iq --otsu" in res.summary()
    ds = open_store(two_phase_store)
    pats = ds.patterns.values.astype(np.float32)
    s = kp.signals.EBSD(pats.copy())
    s.remove_static_background(operation="subtract", static_bg=pats.reshape(-1, 60, 60).mean(0), show_progressbar=False)
    s.remove_dynamic_background(operation="subtract", show_progressbar=False)
    np.testing.assert_allclose(ds.iq.values, s.get_image_quality(show_progressbar=False), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ds.adp.values, s.get_average_neighbour_dot_product_map(show_progressbar=False),
                               rtol=1e-4, atol=1e-6)
    assert ds.iq.attrs["kind"].startswith("image quality") and ds.adp.dtype == np.float32
    # grain boundaries: lower dot products with the neighbours than grain interiors
    g = ds.grain_id.values
    edge = np.zeros(g.shape, bool)
    edge[:, :-1] |= g[:, :-1] != g[:, 1:]
    edge[:-1] |= g[:-1] != g[1:]
    assert np.median(ds.adp.values[edge]) < np.median(ds.adp.values[~edge])


def test_roi_thresholds_any_variable_above_or_below(two_phase_store: Path) -> None:
    from vaearr.maps.roi.pattern_quality import quality_store
    from vaearr.maps.roi.roi import create_roi

    quality_store(two_phase_store, progress=False)
    adp = open_store(two_phase_store).adp.values
    proc = cli("roi", two_phase_store, "--var", "adp", "--otsu", "--keep", "below", "--name", "low", check=True)
    assert "keep ≤" in proc.stdout
    low = open_store(two_phase_store).low.values
    t = float(__import__("skimage.filters", fromlist=["threshold_otsu"]).threshold_otsu(adp))
    assert (low == (adp <= t)).all() and 0 < low.sum() < low.size
    high = create_roi(two_phase_store, var="adp", otsu=True, name="high")
    assert (high.mask.values == (adp >= t)).all()
    cut = create_roi(two_phase_store, var="iq", threshold=float(np.median(open_store(two_phase_store).iq.values)),
                     keep="below", name="half")
    assert abs(cut.kept - adp.size / 2) <= 1
    lowest = create_roi(two_phase_store, var="adp", top_percent=10, keep="below", name="lowest10")
    assert lowest.kept == pytest.approx(0.1 * adp.size, abs=2) and "lowest 10 %" in lowest.summary()
    with pytest.raises(InputError, match="`threshold` with `keep='above'` is `min`"):
        create_roi(two_phase_store, var="adp", threshold=0.3, min=0.2, name="bad")
    with pytest.raises(InputError, match="`keep` must be above or below"):
        create_roi(two_phase_store, var="adp", otsu=True, keep="sideways", name="bad")


def test_roi_on_a_store_without_band_contrast_names_the_way(tmp_path: Path) -> None:
    store = tmp_path / "p.zarr"
    rng = np.random.default_rng(0)
    write_variables(store, {"patterns": xr.DataArray(rng.integers(0, 255, (4, 5, 20, 20), dtype=np.uint8),
                                                      dims=("y", "x", "py", "px"),
                                                      coords={"y": np.arange(4.0), "x": np.arange(5.0)})})
    before = tree_hash(store)
    proc = cli("roi", store, "--otsu")
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    assert "no variable 'bandcontrast'" in proc.stderr and "vaearr quality STORE" in proc.stderr
    assert "--var iq --otsu" in proc.stderr and tree_hash(store) == before
    proc = cli("roi", store, "--var", "nope", "--otsu")
    assert "no variable 'nope'" in proc.stderr and tree_hash(store) == before


def test_quality_bad_input_leaves_the_store(two_phase_store: Path, tmp_path: Path) -> None:
    from vaearr.maps.roi.pattern_quality import quality_store

    before = tree_hash(two_phase_store)
    with pytest.raises(InputError, match="^adp names the variable iq names"):
        quality_store(two_phase_store, iq="q", adp="q")
    with pytest.raises(StoreError, match="'bandcontrast' is an input"):  # the map's input: never replaced
        quality_store(two_phase_store, iq="bandcontrast", overwrite=True)
    assert tree_hash(two_phase_store) == before
    quality_store(two_phase_store, iq="q", adp="a", progress=False)
    before = tree_hash(two_phase_store)
    with pytest.raises(StoreError, match="exist"):
        quality_store(two_phase_store, iq="q", adp="a2")
    with pytest.raises(StoreError, match="no mask variable 'nope'"):
        quality_store(two_phase_store, mask="nope")
    other = tmp_path / "maps.zarr"
    write_variables(other, {"bandcontrast": xr.DataArray(np.ones((2, 3), np.float32), dims=("y", "x"))})
    with pytest.raises(StoreError, match="no pattern variable 'patterns' in the store; run 'vaearr ingest ebsd FILE STORE' first"):
        quality_store(other)
    assert tree_hash(two_phase_store) == before


def _patterns_store(path: Path, patterns: np.ndarray, mask: np.ndarray) -> Path:
    ny, nx = mask.shape
    coords = {"y": np.arange(float(ny)), "x": np.arange(float(nx))}
    write_variables(path, {"patterns": xr.DataArray(patterns, dims=("y", "x", "py", "px"), coords=coords),
                           "m": xr.DataArray(mask, dims=("y", "x"), coords=coords)})
    return path


def test_a_pattern_nothing_is_left_of_has_no_image_quality_and_the_others_theirs(tmp_path: Path) -> None:
    """A pattern equal to the background (the mean over the mask) is zero once it is removed: kikuchipy's image
    quality divided by its power (`unexpected ZeroDivisionError`, issue 63). It is NaN; every other pattern gets
    kikuchipy's own image quality."""
    import kikuchipy as kp

    from vaearr.maps.roi.pattern_quality import quality_store

    rng = np.random.default_rng(3)
    a = 2 * rng.integers(0, 100, (20, 20))
    b = 2 * rng.integers(0, 100, (20, 20))
    pats = rng.integers(0, 255, (3, 4, 20, 20)).astype(np.uint8)
    pats[0] = np.stack([a, b, a, b]).astype(np.uint8)  # the mask: its mean pattern is (a + b) / 2, exactly
    pats[2, 3] = ((a + b) // 2).astype(np.uint8)  # outside the mask, the background itself
    mask = np.zeros((3, 4), bool)
    mask[0] = True
    store = _patterns_store(tmp_path / "p.zarr", pats, mask)
    quality_store(store, mask="m", progress=False)
    iq = open_store(store).iq.values
    s = kp.signals.EBSD(pats[0:1].astype(np.float32))
    s.remove_static_background(operation="subtract", static_bg=((a + b) / 2).astype(np.float32), show_progressbar=False)
    s.remove_dynamic_background(operation="subtract", show_progressbar=False)
    np.testing.assert_allclose(iq[0], s.get_image_quality(show_progressbar=False)[0], rtol=1e-5)
    assert np.isnan(iq[1:]).all()


@pytest.mark.parametrize("case", ["one pixel", "identical patterns", "NaN patterns"])
def test_quality_with_nothing_to_measure_is_one_line(tmp_path: Path, case: str) -> None:
    """A one-pixel mask (its pattern is its own background: `unexpected ZeroDivisionError`), a mask of identical
    patterns, float patterns all NaN: one line naming what, exit 2, the store as it was."""
    rng = np.random.default_rng(4)
    pats = rng.integers(0, 255, (3, 4, 20, 20)).astype(np.float32)
    mask = np.zeros((3, 4), bool)
    mask[1, 1:3 if case != "one pixel" else 2] = True
    if case == "identical patterns":
        pats[1, 2] = pats[1, 1]
    if case == "NaN patterns":
        pats[:] = np.nan
    store = _patterns_store(tmp_path / "p.zarr", pats, mask)
    before = tree_hash(store)
    proc = cli("quality", store, "--mask", "m")
    words = ("mask 'm' holds 1 pixel" if case == "one pixel" else
             "variable 'patterns' has no pattern in mask 'm' that is not flat or NaN")
    assert proc.returncode == 2 and proc.stderr.startswith(f"error: {store}: "), proc.stderr
    assert proc.stderr.count("\n") == 1 and words in proc.stderr, proc.stderr
    assert tree_hash(store) == before
