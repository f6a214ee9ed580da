"""``vaearr phases``: a segmentation's regions grouped into phases from their mean patterns, no crystallography given;
the number of phases from the data (two on the FCC + BCC map, one on a single-phase map); the figure, the report
section, ``rank --against phases`` and ``cluster --with phases``.

The maps are simulated here (:mod:`benchmarks.data.multiphase`); the regions come from ``vaearr segment`` of the map's PCA
weights (no model needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from tests.helpers import cli, tree_hash
from vaearr.errors import InputError, StoreError
from vaearr.store import open_store, write_variables

pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")


def _segmented(store: Path) -> Path:
    from vaearr.maps.decomposition.decompose import write_decomposition
    from vaearr.maps.segmentation.segment import segment_store

    write_decomposition(store, method="pca")
    segment_store(store, var="pca_weights", name="seg")
    return store


@pytest.fixture(scope="module")
def single_phase_store(tmp_path_factory) -> Path:
    from benchmarks.data.multiphase import write_phase_map

    store = tmp_path_factory.mktemp("single") / "fcc.zarr"
    write_phase_map(store, "single", seed=1, shape=(24, 32), n_grains=12)
    return _segmented(store)


def test_two_phases_found_in_the_fcc_bcc_map(two_phase_store: Path, tmp_path: Path) -> None:
    _segmented(two_phase_store)
    proc = cli("phases", two_phase_store, "--regions", "seg", "--out", tmp_path / "fig", check=True)
    assert "2 phases (auto)" in proc.stdout and "bands: mean band-triangle distance" in proc.stdout
    ds = open_store(two_phase_store)
    ph = ds.phases
    assert ph.dtype == np.int16 and ph.attrs["n_phases"] == 2 and ph.attrs["method"] == "auto"
    assert "angles between their bands" in ph.attrs["rule"] and ph.attrs["regions"] == "seg"
    assert sum(p["fraction"] for p in ph.attrs["phase_list"]) == pytest.approx(1, abs=1e-3)
    accepted = [s for s in ph.attrs["splits"] if s["accepted"]]
    assert len(accepted) == 1 and accepted[0]["rule"].startswith("bands")
    ari = adjusted_rand_score(ds.phase_true.values.ravel(), ph.values.ravel())
    assert ari >= 0.9, ari
    # no region is split between two phases
    seg = ds.seg.values
    for r in np.unique(seg[seg >= 0]):
        assert len(np.unique(ph.values[seg == r])) == 1
    assert (tmp_path / "fig" / "phases.png").is_file() and (tmp_path / "fig" / "phases.html").is_file()


def test_one_phase_on_a_single_phase_map(single_phase_store: Path) -> None:
    from vaearr.maps.phases.phases import phases_store

    res = phases_store(single_phase_store, regions="seg", name="found", progress=False)
    assert res.variable.attrs["n_phases"] == 1 and "1 phase (auto)" in res.summary()
    assert (open_store(single_phase_store).found.values == 0).all()
    assert not any(s["accepted"] for s in res.grouping.splits)


def test_two_phases_of_one_structure_apart_by_sharpness(tmp_path: Path) -> None:
    """Two FCC phases, the second's patterns blurred 1.5 px, drawn with bands down to 0.5 Å (off the 0.7 Å the
    dictionary and the lattice fit read): `auto` finds no structure split and splits by sharpness, the regions'
    means' power at fine detail (the Radon peak height it read before found a third phase on three of twelve such
    maps)."""
    from benchmarks.data.multiphase import write_phase_map
    from vaearr.maps.phases.grouping import SHARPNESS_SPLIT
    from vaearr.maps.phases.phases import phases_store

    store = tmp_path / "sharpness.zarr"
    ds = write_phase_map(store, "sharpness", seed=4, shape=(24, 32), n_grains=12)
    _segmented(store)
    res = phases_store(store, regions="seg", progress=False)
    assert res.variable.attrs["n_phases"] == 2
    accepted = [s for s in res.grouping.splits if s["accepted"]]
    assert len(accepted) == 1 and accepted[0]["rule"].startswith("sharpness")
    assert accepted[0]["statistic"] >= SHARPNESS_SPLIT
    assert adjusted_rand_score(ds.phase_true.values.ravel(), res.variable.values.ravel()) >= 0.9
    assert "power at fine detail" in res.variable.attrs["rule"]


def test_methods_and_the_model_side(two_phase_store: Path) -> None:
    """bands alone finds the structures; sharpness alone finds no split on phases of equal sharpness; the features
    method (a mixture of the regions' mean PCA weights) is measured, not held to a result."""
    from vaearr.maps.phases.phases import phases_store

    _segmented(two_phase_store)
    truth = open_store(two_phase_store).phase_true.values.ravel()
    bands = phases_store(two_phase_store, regions="seg", method="bands", name="by_bands", progress=False)
    assert bands.variable.attrs["n_phases"] == 2
    assert adjusted_rand_score(truth, bands.variable.values.ravel()) >= 0.9
    sharp = phases_store(two_phase_store, regions="seg", method="sharpness", name="by_sharpness", progress=False)
    assert sharp.variable.attrs["n_phases"] == 1
    feats = phases_store(two_phase_store, regions="seg", method="features", var="pca_weights", name="by_features",
                         progress=False)
    assert 1 <= feats.variable.attrs["n_phases"] <= 4 and feats.variable.attrs["features"] == "pca_weights"


def test_rank_and_cluster_take_the_phases(two_phase_store: Path, tmp_path: Path) -> None:
    """A (y, x, latent_dim) map to rank: the PCA weights stand in for a trained model's latents here."""
    from vaearr.maps.phases.phases import phases_store

    _segmented(two_phase_store)
    phases_store(two_phase_store, regions="seg", progress=False)
    ds = open_store(two_phase_store)
    latent = ds.pca_weights.rename({"pca_component": "latent_dim"}).drop_vars("latent_dim", errors="ignore").load()
    latent.attrs = {}
    write_variables(two_phase_store, {"latent": latent})
    proc = cli("rank", two_phase_store, "--against", "phases", "--out", tmp_path / "rank", "--no-figures", check=True)
    assert "phases: best latent dim" in proc.stdout
    proc = cli("cluster", two_phase_store, "--with", "phases", "--dim", "0", "--out", tmp_path / "cl", check=True)
    assert (tmp_path / "cl" / "cluster_report__gmm_dim0.json").is_file()


def test_report_shows_phase_maps_with_fractions(two_phase_store: Path, tmp_path: Path) -> None:
    from vaearr.maps.indexing.indexing import index_store
    from vaearr.maps.phases.phases import phases_store
    from vaearr.viz.report import build_report

    _segmented(two_phase_store)
    phases_store(two_phase_store, regions="seg", progress=False)
    pc = open_store(two_phase_store).attrs["phase_map"]["pc"]
    index_store(two_phase_store, phase=["fcc", "bcc"], pc=pc, sample_tilt=70, progress=False)
    res = build_report(two_phase_store, out=tmp_path / "rep")
    assert "phases" in res.sections
    page = res.path.read_text()
    assert "Phases" in page and "IPF per phase: orientation" in page and "orientation_ipf: bcc only" in page
    assert "regions grouped by the angles between their bands" in page and "fcc" in page
    import holoviews as hv

    from vaearr.viz.report_media import Fig
    from vaearr.viz.report_sections import maps_section

    drawn = [hv.Store.lookup_options("bokeh", e, "plot").kwargs.get("title")
             for b in maps_section(open_store(two_phase_store)).blocks if isinstance(b, Fig) and b.obj is not None
             for e in b.obj.traverse(lambda e: e, [hv.Image])]
    assert "bandcontrast" in drawn and not {"phases", "phase_id"} & set(drawn), drawn  # drawn once: in Phases


def test_bad_input_is_one_line_and_leaves_the_store(two_phase_store: Path) -> None:
    from vaearr.maps.phases.phases import phases_store

    before = tree_hash(two_phase_store)
    with pytest.raises(StoreError, match="no region variable 'seg'.*vaearr segment"):
        phases_store(two_phase_store, regions="seg")
    with pytest.raises(StoreError, match="not a region map"):
        phases_store(two_phase_store, regions="bandcontrast")
    with pytest.raises(InputError, match="^max_phases "):  # the field (the command line: --max-phases)
        phases_store(two_phase_store, regions="grain_id", max_phases=0)
    with pytest.raises(InputError, match="^method must be one of"):
        phases_store(two_phase_store, regions="grain_id", method="magic")
    with pytest.raises(StoreError, match="no feature map 'latent' in the store; run 'vaearr encode"):
        phases_store(two_phase_store, regions="grain_id", method="features")
    with pytest.raises(StoreError, match="exists"):
        phases_store(two_phase_store, regions="grain_id", name="roi")
    assert tree_hash(two_phase_store) == before
    proc = cli("phases", two_phase_store, "--regions", "seg")
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "no region variable 'seg'" in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and tree_hash(two_phase_store) == before


def test_flows_take_the_commands_options(two_phase_store: Path, tmp_path: Path) -> None:
    """index-map, phases and pattern-quality: the options dataclasses' fields (and ``out``, ``format``, ``dpi``
    where they draw), run here through their bodies (``Flow.fn``: no Prefect server)."""
    pytest.importorskip("prefect", reason="needs the 'flows' extra")
    import inspect

    from flows import phases
    from flows.params import pinned
    from flows.serve import all_flows
    from vaearr.maps.options import IndexOptions, PhasesOptions, QualityOptions
    from vaearr.options import options

    assert set(phases.FLOWS) <= set(all_flows())
    for f, cls, extra in ((phases.index_map, IndexOptions, set()), (phases.phases, PhasesOptions, {"out", "format", "dpi"}),
                          (phases.pattern_quality, QualityOptions, set())):
        assert f.fn.__code__ is pinned(lambda: None).__code__
        assert set(inspect.signature(f.fn).parameters) == {fld.name for fld, _ in options(cls)} | extra, f.name
    _segmented(two_phase_store)
    pc = ",".join(map(str, open_store(two_phase_store).attrs["phase_map"]["pc"]))
    out = phases.index_map.fn(store=str(two_phase_store), phase=["fcc", "bcc"], pc=pc, sample_tilt=70.0)
    assert out["phases"] == ["fcc", "bcc"] and out["n_indexed"] == 24 * 32
    out = phases.phases.fn(store=str(two_phase_store), regions="seg", out=str(tmp_path / "f"))
    assert out["n_phases"] == 2 and Path(out["files"]["map_png"]).is_file()
    assert phases.pattern_quality.fn(store=str(two_phase_store))["variables"] == ["iq", "adp"]


def test_a_region_joins_the_lattice_its_curve_is_highest_at() -> None:
    """``--method lattice`` after its split: a region whose NCC curve peaks between the two lattices (two near-equal
    peaks, the higher one on the wrong side) joins the phase at whose lattice its curve is higher; the lattices are
    taken again from the large regions until nothing moves; a structure with one phase is left alone."""
    from vaearr.maps.phases.lattice_fit import SCALES
    from vaearr.maps.phases.lattice_grouping import curve_assignment

    grid = np.log(SCALES)

    def bump(*peaks: tuple[float, float]) -> np.ndarray:
        return sum(h * np.exp(-0.5 * ((grid - np.log(c)) / 0.02) ** 2) for c, h in peaks)

    curves = np.array([bump((1.0, 0.6)), bump((1.01, 0.6)), bump((1.15, 0.6)), bump((1.14, 0.6)),
                       bump((1.056, 0.50), (1.155, 0.499)),  # peaks at 1.056: by its peak, the 1.0 side
                       bump((0.99, 0.3)),  # small (not among the large regions), on the 1.0 side
                       bump((1.2, 0.5))])  # another structure's only phase: not moved, whatever its curve
    log_scale = np.log([1.0, 1.01, 1.15, 1.14, 1.056, 0.99, 1.2])
    structure = np.array([0, 0, 0, 0, 0, 0, 1])
    big = np.array([0, 1, 2, 3, 4, 6])
    groups = [(0, np.array([0, 1, 4, 5])), (0, np.array([2, 3])), (1, np.array([6]))]
    out = curve_assignment(groups, structure, curves, log_scale, big)
    assert [(p, g.tolist()) for p, g in out] == [(0, [0, 1, 5]), (0, [2, 3, 4]), (1, [6])]
    # a side every region leaves is dropped
    flat = np.array([bump((1.15, 0.6))] * 4)
    out = curve_assignment([(0, np.array([0, 1])), (0, np.array([2, 3]))], np.zeros(4, int), flat,
                           np.log([1.0, 1.0, 1.15, 1.15]), np.arange(4))
    assert [(p, g.tolist()) for p, g in out] == [(0, [0, 1, 2, 3])]


def test_the_phase_methods_are_a_registry_the_options_name() -> None:
    """The methods are :data:`~vaearr.maps.phases.phase_methods.PHASE_METHODS` (no string chain in ``phases_store``):
    its names are the choices ``method`` offers on every interface, in the same order, each with the rule written in
    attrs; only ``features`` reads without a projection centre, and only the pattern methods read the means in halves."""
    from vaearr.maps.options import PhasesOptions
    from vaearr.maps.phases.phase_methods import PHASE_METHODS
    from vaearr.maps.phases.phases import METHODS
    from vaearr.options import declared

    (method,) = [d for d in declared(PhasesOptions) if d.name == "method"]
    assert METHODS == PHASE_METHODS.names() == method.option.choices == ("auto", "bands", "sharpness", "lattice", "features")
    assert method.default == "auto"
    assert all(PHASE_METHODS[m].rule.startswith("regions ") for m in METHODS)
    assert [m for m in METHODS if not PHASE_METHODS[m].needs_geometry] == ["features"]
    assert [m for m in METHODS if PHASE_METHODS[m].halves] == ["auto", "bands", "sharpness"]
    assert [m for m in METHODS if PHASE_METHODS[m].reads_var] == ["lattice", "features"]
