"""Tests for vaearr.maps.roi.roi (and vaearr.viz.roi): masks from thresholds and ranges, written into a store, exported, drawn.

Data: ``skimage.data.coins()`` (a real micrograph: bright coins on a darker background, so Otsu
has two real populations) downsampled to a 76×96 "band contrast" map at 0.5 µm steps, with a
block of NaN (no data).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from tests.helpers import coins_bandcontrast, tree_hash
from vaearr.errors import InputError, StoreError
from vaearr.maps.roi.roi import RoiResult, make_roi
from vaearr.options import parse_range
from vaearr.maps.roi.roi import create_roi as make_mask
from vaearr.store import open_store, write_variables

STEP = 0.5


def create_roi(store, *, figures=None, **kwargs) -> RoiResult:
    """The mask (:func:`vaearr.maps.roi.roi.create_roi`) and, into ``figures``, its figures (as ``vaearr roi`` draws them)."""
    from vaearr.viz.roi import roi_figures

    result = make_mask(store, **kwargs)
    if figures is not None:
        result.files.update(roi_figures(open_store(store), result.mask, result.info, figures, result.name,
                                        kwargs.get("var", "bandcontrast")))
    return result


@pytest.fixture(scope="module")
def bc() -> xr.DataArray:
    # coordinates as stored after a float step: 0.1-style noise makes "inclusive" matter
    return coins_bandcontrast(4, (slice(5, 9), slice(10, 20)), step=STEP, y0=2.0)


@pytest.fixture
def store(tmp_path, bc):
    path = tmp_path / "s.zarr"
    write_variables(path, {"bandcontrast": bc}, source="coins")
    return path


def test_parse_range():
    assert parse_range("10:20") == (10.0, 20.0)
    assert parse_range("10:") == (10.0, None)
    assert parse_range(":20") == (None, 20.0)
    assert parse_range(" -1.5 : 2e1 ") == (-1.5, 20.0)
    assert parse_range(":") == (None, None)
    for bad, msg in [("10", "A:B"), ("a:3", "'a' is not a number"), ("1:2:3", "A:B"), ("5:1", "empty"),
                     ("nan:1", "finite")]:
        with pytest.raises(InputError, match=msg):
            parse_range(bad)


def test_each_criterion_against_numpy(bc):
    ds = bc.to_dataset()
    v = bc.values
    m, info = make_roi(ds, min=100)
    np.testing.assert_array_equal(m.values, np.isfinite(v) & (v >= 100))
    assert m.dtype == bool and m.dims == ("y", "x")
    assert info["thresholds"] == {"bc_min": 100.0} and info["counts"]["kept"] == int(m.sum())

    from skimage.filters import threshold_otsu

    m, info = make_roi(ds, otsu=True)
    t = threshold_otsu(v[np.isfinite(v)])
    assert info["thresholds"]["otsu"] == pytest.approx(float(t), abs=0)
    np.testing.assert_array_equal(m.values, np.isfinite(v) & (v >= t))
    assert 0.1 < m.values.mean() < 0.9  # two real populations
    assert not m.values[5:9, 10:20].any()  # NaN is never kept

    # ranges are inclusive at both ends, on the stored coordinates
    xs, ys = bc.x.values, bc.y.values
    m, info = make_roi(ds, x=(xs[10], xs[30]))
    assert m.values.all(axis=0).sum() == 21 and m.values[:, 10].all() and m.values[:, 30].all()
    m, _ = make_roi(ds, y=(None, ys[4]))
    np.testing.assert_array_equal(m.values, np.broadcast_to((ys <= ys[4])[:, None], m.shape))
    m, _ = make_roi(ds, y="12.5:")  # text works too
    np.testing.assert_array_equal(m.values.any(axis=1), ys >= 12.5)
    # range-only masks do not need the value variable
    m, info = make_roi(xr.Dataset(coords={"y": ys, "x": xs}), x=(1, 3))
    assert info["counts"]["kept"] == 5 * len(ys)


def test_combination_is_and(bc):
    ds = bc.to_dataset()
    v, xs, ys = bc.values, bc.x.values, bc.y.values
    m, info = make_roi(ds, min=60, otsu=True, x=(5.0, 30.0), y=(3, None))
    from skimage.filters import threshold_otsu

    t = threshold_otsu(v[np.isfinite(v)])
    expect = (np.isfinite(v) & (v >= 60) & (v >= t)
              & ((xs >= 5) & (xs <= 30))[None, :] & (ys >= 3)[:, None])
    np.testing.assert_array_equal(m.values, expect)
    assert info["criteria"] == {"var": "bandcontrast", "bc_min": 60.0, "otsu": True, "x": [5.0, 30.0], "y": [3.0, None]}
    c = info["counts"]
    assert c["kept"] == expect.sum() and c["total"] == v.size and c["finite"] == np.isfinite(v).sum()
    assert c["kept"] <= min(c["bc_min"], c["otsu"], c["x"], c["y"])


def test_clear_errors(store, bc):
    ds = open_store(store)
    with pytest.raises(InputError, match="at least one ROI criterion"):
        make_roi(ds)
    with pytest.raises(InputError, match="at least one ROI criterion"):
        make_roi(ds, x=(None, None))
    empty = xr.Dataset(coords={"y": bc.y.values, "x": bc.x.values})
    with pytest.raises(StoreError, match="no variable 'bandcontrast' in the store; ingest a band-contrast CSV first"):
        make_roi(empty, otsu=True, store="here.zarr")
    before = tree_hash(store)
    with pytest.raises(StoreError, match="no variable 'iq'"):
        create_roi(store, var="iq", min=3)
    with pytest.raises(InputError):
        create_roi(store, x="1-3")
    assert tree_hash(store) == before


def test_create_roi_writes_exports_and_figures(store, bc, tmp_path):
    res = create_roi(store, otsu=True, x=(1.0, None), export=tmp_path / "exp", figures=tmp_path / "fig")
    ds = open_store(store)
    mask = ds["roi"]
    assert mask.dtype == bool
    np.testing.assert_array_equal(mask.values, res.mask.values)
    assert json.loads(mask.attrs["criteria"]) == {"var": "bandcontrast", "otsu": True, "x": [1.0, None]}
    assert json.loads(mask.attrs["thresholds"])["otsu"] == res.info["thresholds"]["otsu"]
    assert json.loads(mask.attrs["counts"])["kept"] == int(mask.values.sum()) == res.kept
    assert json.loads(mask.attrs["source"]) == ["bandcontrast"]
    assert json.loads(mask.attrs["config"])["otsu"] is True

    # exports match the mask
    m = res.mask.values
    iy, ix = np.nonzero(m)
    xy = np.load(tmp_path / "exp" / "roi_keep_xy.npy")
    assert xy.shape == (m.sum(), 2) and xy.dtype == np.float64
    np.testing.assert_array_equal(xy, np.column_stack([bc.x.values[ix], bc.y.values[iy]]))
    csv = np.loadtxt(tmp_path / "exp" / "roi_keep_xy.csv", delimiter=",", skiprows=1)
    np.testing.assert_array_equal(csv, xy)
    assert (tmp_path / "exp" / "roi_keep_xy.csv").read_text().splitlines()[0] == "x,y"
    np.testing.assert_array_equal(np.load(tmp_path / "exp" / "roi_mask.npy"), m)

    assert sorted(p.name for p in res.figures) == sorted(
        f"roi_bandcontrast_{k}.{e}" for k in ("histogram", "map") for e in ("html", "png"))
    text = res.summary()
    assert f"kept {res.kept} of {m.size} pixels" in text and "otsu threshold" in text and "x range: 1:" in text

    # figures: self-contained HTML and a real PNG each
    from PIL import Image

    for kind in ("histogram", "map"):
        html = res.files[f"{kind}_html"].read_text()
        assert "cdn.bokeh.org" not in html and "cdn.holoviz.org" not in html
        assert "BEGIN bokeh.min.js" in html
        with Image.open(res.files[f"{kind}_png"]) as im:
            assert im.width > 300 and im.height > 200
            assert len(set(im.convert("RGB").getdata())) > 20  # not a blank image


def test_refuses_to_overwrite_a_mask(store):
    create_roi(store, min=50)
    before = tree_hash(store)
    with pytest.raises(StoreError, match="'roi' exists; pass `overwrite=True` to replace it"):
        create_roi(store, min=120)
    assert tree_hash(store) == before
    res = create_roi(store, min=120, overwrite=True)
    assert int(open_store(store).roi.sum()) == res.kept
    create_roi(store, name="left", x=":10")
    assert {"roi", "left"} <= set(open_store(store).data_vars)


def test_old_threshold_keywords_still_work_with_a_notice(store, bc):
    """``bc_min``/``bc_max``, the thresholds' old names, are ``min``/``max`` until vaearr 0.3: the same mask, one
    :class:`DeprecationWarning` naming the new name; ``roi_store`` and ``vaearr.roi`` take the options' names."""
    import warnings

    import vaearr
    from vaearr.maps.options import RoiOptions

    ds = bc.to_dataset()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        old, _ = make_roi(ds, bc_min=80, bc_max=150)
    new, _ = make_roi(ds, min=80, max=150)
    np.testing.assert_array_equal(old.values, new.values)
    said = [str(w.message) for w in seen if issubclass(w.category, DeprecationWarning)]
    assert said == ["make_roi: bc_min= is deprecated, use min= (the old spelling goes in vaearr 0.3)",
                    "make_roi: bc_max= is deprecated, use max= (the old spelling goes in vaearr 0.3)"]
    kept = create_roi(store, options=RoiOptions(store=str(store), min=80, max=150, name="new")).kept
    with pytest.warns(DeprecationWarning, match=r"vaearr\.roi: bc_m(in|ax)= is deprecated, use m(in|ax)="):
        written = vaearr.roi(store, bc_min=80, bc_max=150, name="old", quiet=True)
    assert int(written["old"].sum()) == kept > 0
    with pytest.raises(InputError, match="give min= \\(or the deprecated bc_min=\\), not both"):
        make_roi(ds, min=80, bc_min=80)
