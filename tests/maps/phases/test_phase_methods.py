"""The phase methods by name (:mod:`vaearr.maps.phases.phase_methods`): what each reads, where its small regions go,
the feature method on region means worked by hand (the pattern methods on simulated maps: ``test_phases.py``)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from vaearr.errors import StoreError
from vaearr.maps.options import PhasesOptions
from vaearr.maps.phases.grouping import Grouping
from vaearr.maps.phases.phase_methods import PHASE_METHODS, Auto, Features, RegionMeans, feature_means


def test_the_registered_methods_and_what_they_read() -> None:
    assert set(PHASE_METHODS.names()) == {"auto", "bands", "sharpness", "lattice", "features"}
    lattice, features = PHASE_METHODS["lattice"], PHASE_METHODS["features"]
    assert lattice.reads_var and lattice.geometry_from_var and not lattice.var_is_source
    assert features.reads_var and features.var_is_source and not features.needs_geometry
    assert PHASE_METHODS["auto"].halves and not PHASE_METHODS["bands"].by_sharpness
    assert not PHASE_METHODS["sharpness"].by_bands and all(PHASE_METHODS[m].rule for m in PHASE_METHODS.names())


def test_where_the_small_regions_go() -> None:
    def split(*rules_accepted: tuple[str, bool]) -> Grouping:
        return Grouping(np.zeros(2, int), [{"rule": f"{r}: …", "accepted": a} for r, a in rules_accepted])

    assert Auto().joins_by_sharpness(split(("sharpness", True), ("bands", False)))
    assert not Auto().joins_by_sharpness(split(("sharpness", True), ("bands", True)))
    assert not Auto().joins_by_sharpness(split())
    assert PHASE_METHODS["sharpness"]().joins_by_sharpness(split())
    assert not PHASE_METHODS["bands"]().joins_by_sharpness(split(("sharpness", True)))


def _feature_map() -> tuple[xr.Dataset, np.ndarray]:
    regions = np.array([[0, 0, 1], [2, 2, 1]])
    lat = np.zeros((2, 3, 2))
    lat[0, :2] = [[1.0, 2.0], [3.0, np.nan]]
    lat[:, 2] = [5.0, 5.0]
    lat[1, :2] = [[-1.0, -1.0], [-3.0, -3.0]]
    return xr.Dataset({"latent": xr.DataArray(lat, dims=("y", "x", "latent_dim"))}), regions


def test_region_means_of_a_feature_map() -> None:
    ds, regions = _feature_map()
    means = feature_means(ds, "latent", regions, 3, "s.zarr")
    assert means.tolist() == [[2.0, 2.0], [5.0, 5.0], [-2.0, -2.0]]  # a NaN left out of its region's mean
    one = feature_means(ds.isel(latent_dim=0), "latent", regions, 3, "s.zarr")
    assert one.tolist() == [[2.0], [5.0], [-2.0]]
    with pytest.raises(StoreError, match=r"^s\.zarr: no feature map 'latents' in the store; did you mean 'latent'\? "
                                         r"\(`method='features'` reads a \(y, x\[, dim\]\) map: give `var`\)$"):
        feature_means(ds, "latents", regions, 3, "s.zarr")


def test_the_features_method_groups_two_clouds_of_means() -> None:
    rng = np.random.default_rng(0)
    means = np.concatenate([rng.normal(0, 0.1, (10, 3)), rng.normal(4, 0.1, (10, 3))])
    options = PhasesOptions(store="s.zarr", method="features")
    r = RegionMeans(store="s.zarr", options=options, regions=np.zeros((1, 1), int), n=20, means=np.zeros((20, 1, 1)),
                    counts=np.ones(20), big=np.arange(18), mask=None, geometry=None, inputs=means)
    out = Features().group(r)
    assert out.grouping.n_phases == 2 and len(set(out.labels[:10])) == 1 and len(set(out.labels[10:])) == 1
    assert out.labels[18] == out.labels[10] and out.labels[0] != out.labels[10]  # the small ones joined the nearest
    assert out.attrs == {"features": "latent"} and out.sources == ["latent"]
