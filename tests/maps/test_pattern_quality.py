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

    from vaearr.maps.pattern_quality import quality_store

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
    from vaearr.maps.pattern_quality import quality_store
    from vaearr.maps.roi import create_roi

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
    with pytest.raises(InputError, match="`threshold` with `keep='above'` is `bc_min`"):
        create_roi(two_phase_store, var="adp", threshold=0.3, bc_min=0.2, name="bad")
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
    from vaearr.maps.pattern_quality import quality_store

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
    with pytest.raises(StoreError, match="no 'patterns'"):
        quality_store(other)
    assert tree_hash(two_phase_store) == before
