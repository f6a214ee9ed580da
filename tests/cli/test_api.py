"""The Python surface (issue 41, point 3): the steps at the top level (``vaearr.open``, ``vaearr.train``…), each the
library call its command makes and returning what it wrote, and the ``ds.vaearr`` accessor drawing maps as
``image_map`` does (y downward, µm, not transposed), on kikuchipy's real Ni scan."""

from __future__ import annotations

import inspect
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import vaearr
from tests.helpers import cli, tree_hash
from vaearr.errors import InputError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_import_vaearr_is_light_and_registers_the_accessors() -> None:
    # a fresh interpreter: the steps and accessors are there, the heavy libraries are not imported yet
    code = ("import sys, xarray as xr, vaearr; "
            "heavy = [m in sys.modules for m in ('torch', 'matplotlib', 'holoviews', 'kikuchipy', 'vaearr.encoding')]; "
            "print(*heavy, hasattr(xr.Dataset, 'vaearr'), hasattr(xr.DataArray, 'vaearr'), "
            "all(callable(getattr(vaearr, s)) for s in vaearr.STEPS))")  # train and encode import torch when asked for
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False"] * 5 + ["True"] * 3


def test_the_steps_are_functions_where_names_meet() -> None:
    """``vaearr.train`` and ``vaearr.encode`` are functions of vaearr.api, as every step (no module made callable), and
    stay so whatever is imported after ``vaearr``; the package vaearr.train and the old module name vaearr.encode
    are still what ``from ... import`` reads (issue 62)."""
    import importlib

    import vaearr.train.trainer  # noqa: F401
    from vaearr import api
    from vaearr.train import TrainConfig

    importlib.import_module("vaearr.encoding")
    assert vaearr.train is api.train and vaearr.encode is api.encode
    assert all(inspect.isfunction(getattr(vaearr, s)) for s in vaearr.STEPS)
    assert sys.modules["vaearr.train"].TrainConfig is TrainConfig and sys.modules["vaearr.train.trainer"].fit
    with pytest.deprecated_call(match="vaearr.encoding.encode"):
        from vaearr.encode import encode
    assert encode is sys.modules["vaearr.encoding"].encode
    # the step takes the library function's keywords with its defaults (but progress: quiet), and out (the maps)
    lib = {p.name: p.default for p in inspect.signature(encode).parameters.values() if p.name != "progress"}
    step = {p.name: p.default for p in inspect.signature(vaearr.encode).parameters.values()}
    assert step == {**lib, "out": None, "quiet": False}
    # a module of vaearr that shares a step's name is imported by `import vaearr` first: its import cannot shadow it
    modules = {m.name for m in pkgutil.iter_modules(vaearr.__path__)}
    assert modules & set(vaearr.STEPS) == {"train", "encode"}
    assert {"train", "encode"} <= set(sys.modules["vaearr"].__dict__) and "vaearr.encode" in sys.modules
    # a step's signature lists its command's options (the options dataclass's fields), for help() and completion
    assert {"var", "mask", "name", "grain_angle", "out"} <= set(inspect.signature(vaearr.segment).parameters)
    assert {"epochs", "latent_dim", "model_options"} <= set(inspect.signature(vaearr.train).parameters)
    assert {"name", "checkpoint", "quiet"} <= set(inspect.signature(vaearr.encode).parameters)
    assert inspect.signature(vaearr.encode).return_annotation in ("xr.Dataset", xr.Dataset)


def test_a_step_writes_what_its_command_writes(demo_store: Path, tmp_path: Path, capsys) -> None:
    twin = tmp_path / "twin.zarr"
    shutil.copytree(demo_store, twin)
    pca = vaearr.decompose(demo_store, method="pca", components=3)
    assert sorted(pca.data_vars) == ["pca_components", "pca_weights"]
    seg = vaearr.segment(demo_store, var="pca_weights", name="seg")
    assert list(seg.data_vars) == ["seg", "seg_grains", "seg_boundaries", "seg_angle"]  # the angles: patterns
    assert "segmented 'pca_weights' into" in capsys.readouterr().out  # the lines the command prints
    cli("decompose", twin, "--method", "pca", "--components", "3", check=True)
    cli("segment", twin, "--var", "pca_weights", "--name", "seg", check=True)
    ours, theirs = vaearr.open(demo_store), vaearr.open(twin)
    for name in ("pca_weights", "seg", "seg_grains", "seg_boundaries"):
        xr.testing.assert_equal(ours[name].load(), theirs[name].load())
    # an option the command does not have: one line naming the options, the store untouched
    before = tree_hash(demo_store)
    with pytest.raises(InputError, match=r"no option 'feature'; the options are store, var"):
        vaearr.segment(demo_store, feature="pca_weights", name="seg2")
    with pytest.raises(InputError, match="kind must be one of ebsd"):
        vaearr.ingest(tmp_path / "x.h5", tmp_path / "x.zarr", kind="tiff")
    from vaearr.errors import StoreError

    with pytest.raises(StoreError, match="is a ebsd-map store; images data go into a store of their own"):
        vaearr.ingest(tmp_path, demo_store, kind="images")  # before the folder is read
    assert tree_hash(demo_store) == before


@pytest.fixture(scope="module")
def ni(tmp_path_factory, kikuchipy_data_dir: Path) -> tuple[Path, Path]:
    """kikuchipy's real 3 × 3 Ni scan through the steps: ingest, train (2 epochs), encode."""
    root = tmp_path_factory.mktemp("api")
    store = root / "ni.zarr"
    ds = vaearr.ingest(kikuchipy_data_dir / "kikuchipy_h5ebsd" / "patterns.h5", store, quiet=True)
    assert ds.patterns.shape == (3, 3, 60, 60) and ds.encoding["source"] == str(store)
    run = vaearr.train(store, root / "run", epochs=2, latent_dim=4, batch_size=9, tensorboard=False, quiet=True)
    assert run == root / "run" and (run / "best" / "model.safetensors").exists()
    latent = vaearr.encode(store, run, quiet=True)
    assert sorted(latent.data_vars) == ["latent", "latent_recon_error"] and latent.latent.dims == ("y", "x", "latent_dim")
    return store, run


def test_the_accessor_draws_maps_as_image_map_does(ni: tuple[Path, Path]) -> None:
    from vaearr.viz.maps import latent_range

    store, _ = ni
    ds = vaearr.open(store)
    one = ds.vaearr.map("latent", dim=2)
    # x across, y downward, in µm: not the transposed map hvplot's image draws from (y, x, latent_dim)
    assert [d.name for d in one.kdims] == ["x", "y"] and [d.pprint_label for d in one.kdims] == ["x (µm)", "y (µm)"]
    from vaearr.viz import holoviews

    plot = holoviews().Store.lookup_options("bokeh", one, "plot").kwargs
    assert plot["invert_yaxis"] is True and plot["clim"] == latent_range(ds.latent)  # the report's range
    fig = ds.vaearr.figure("latent", dim=2)
    ax = fig.axes[0]
    image = ax.get_images()[0]
    shown = np.asarray(image.get_array())
    np.testing.assert_allclose(shown, ds.latent.sel(latent_dim=2).values)  # row 0 (y = 0) at the top
    left, right, bottom, top = image.get_extent()
    assert top < bottom and (left, right) == (-0.75, 3.75)  # y downward; x edges of three 1.5 µm pixels
    assert ax.get_title() == "latent latent_dim=2"
    # every dim at once: a grid on one range; a DataArray's accessor the same
    assert len(ds.vaearr.map("latent")) == 4 and type(ds.latent_recon_error.vaearr.map()).__name__ == "Image"
    with pytest.raises(InputError, match="no latent_dim 7"):
        ds.vaearr.map("latent", dim=7)
    with pytest.raises(InputError, match="pattern"):
        ds.vaearr.map("patterns")
    with pytest.raises(InputError, match="no variable 'latnt'"):
        ds.vaearr.map("latnt")


def test_the_accessor_reads_a_pixel_by_its_position_in_um(ni: tuple[Path, Path]) -> None:
    store, _ = ni
    ds = vaearr.open(store)
    pattern = ds.vaearr.pattern(x=1.4, y=3.1)  # nearest pixel: x = 1.5, y = 3 µm
    assert pattern.dims == ("py", "px") and (float(pattern.x), float(pattern.y)) == (1.5, 3.0)
    np.testing.assert_array_equal(pattern.values, ds.patterns.values[2, 1])
    z = ds.vaearr.latent_at(x=0, y=1.5)
    assert z.dims == ("latent_dim",)
    np.testing.assert_array_equal(z.values, ds.latent.values[1, 0])
    np.testing.assert_array_equal(ds.latent.vaearr.at(x=3, y=0).values, ds.latent.values[0, 2])
    with pytest.raises(InputError, match=r"x=5 is outside the scan \(x from 0 to 3\)"):
        ds.vaearr.pattern(x=5, y=0)


def test_the_accessor_writes_the_report_of_its_store(ni: tuple[Path, Path], tmp_path: Path) -> None:
    store, run = ni
    before = tree_hash(store)
    page = vaearr.open(store).vaearr.report(tmp_path / "rep", quiet=True)
    assert page == tmp_path / "rep" / "report.html" and page.stat().st_size > 100_000
    text = page.read_text()
    assert str(run) in text and "latent" in text  # the run found from the latents' provenance
    assert tree_hash(store) == before  # the report only reads
    with pytest.raises(InputError, match="not opened from a store"):
        xr.Dataset({"a": (("y", "x"), np.zeros((2, 2)))}).vaearr.report(tmp_path / "none")


def test_encode_checks_its_options_before_any_work(ni: tuple[Path, Path], tmp_path: Path) -> None:
    """``vaearr.encode`` holds its options to their declared ranges (:class:`~vaearr.encoding_options.EncodeOptions`),
    refuses an unknown keyword and ``dask=`` with its old name ``scheduler=``, and draws the latent maps with ``out``,
    the option the command line has."""
    from vaearr.errors import InputError, OptionError

    store, run = ni
    before = tree_hash(store)
    with pytest.raises(OptionError, match="batch_size must be at least 1, got 0"):
        vaearr.encode(store, run, batch_size=0)
    with pytest.raises(InputError, match="no option 'batchsize'"):
        vaearr.encode(store, run, batchsize=8)
    with pytest.raises(InputError, match=r"give dask= \(or the deprecated scheduler=\), not both"):
        vaearr.encode(store, run, scheduler="tcp://127.0.0.1:9", dask="tcp://127.0.0.1:9")
    assert tree_hash(store) == before
    with pytest.deprecated_call(match="vaearr.encode: figures= is deprecated, use out="):
        vaearr.encode(store, run, name="again", recon_error=False, figures=tmp_path / "maps", quiet=True)
    assert sorted(p.suffix for p in (tmp_path / "maps").iterdir()) >= [".html", ".png"]
