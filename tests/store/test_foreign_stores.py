"""Zarr stores vaearr did not make (issue 30): written here with plain ``zarr`` — v3 arrays with and
without ``dimension_names``, and zarr v2 with ``_ARRAY_DIMENSIONS`` — through every command that opens
a store: read where the dims are named, else one line saying what is missing and how to add it; never
written (one line refusing); never a traceback; the store byte-identical afterwards."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import zarr

from tests.helpers import tree_hash, vaearr_cli
from vaearr.encoding import encode
from vaearr.store import open_store

pytest.importorskip("kikuchipy", reason="the small map is simulated with kikuchipy (the 'ebsd' extra)")


def _foreign(src: Path, dst: Path, kind: str) -> Path:
    """Every variable and coordinate of vaearr store ``src`` copied by plain zarr into ``dst``, no attrs:
    ``named`` (v3 ``dimension_names``), ``bare`` (v3 without them) or ``v2`` (``_ARRAY_DIMENSIONS``)."""
    ds = open_store(src).load()
    # another program's store: zarr's own warnings (fixed-width strings, consolidated metadata) are its own
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _copy(ds, zarr.open_group(str(dst), mode="w", zarr_format=2 if kind == "v2" else 3), kind)
        zarr.consolidate_metadata(str(dst))
    return dst


def _copy(ds, group: zarr.Group, kind: str) -> None:
    for name, var in ds.variables.items():
        values = np.asarray(var.values)
        if values.dtype.kind in "UT":
            values = values.astype("U")
        # zarr v2's default fill (0) would be read by xarray as missing: v2 writers (xarray) give none
        array = group.create_array(str(name), shape=values.shape, dtype=values.dtype,
                                   **({"fill_value": None} if kind == "v2" else {}),
                                   dimension_names=tuple(map(str, var.dims)) if kind == "named" else None)
        array[...] = values
        if kind == "v2":
            array.attrs["_ARRAY_DIMENSIONS"] = list(map(str, var.dims))


@pytest.fixture(scope="module")
def foreign(map_master, trained_run, small_map, tmp_path_factory):
    """The small map with a latent, as three foreign stores; an .ang on its grid; the run."""
    from orix.crystal_map import CrystalMap, Phase, PhaseList
    from orix.io import save
    from orix.quaternion import Rotation

    tmp = tmp_path_factory.mktemp("foreign")
    src = tmp / "ours.zarr"
    shutil.copytree(map_master, src)
    encode(src, trained_run, progress=False)
    stores = {kind: _foreign(src, tmp / f"{kind}.zarr", kind) for kind in ("named", "bare", "v2")}
    ds = open_store(src)
    y, x = (np.repeat(ds.y.values, ds.x.size), np.tile(ds.x.values, ds.y.size))
    ang = tmp / "map.ang"
    save(ang, CrystalMap(rotations=Rotation.random(x.size), x=x, y=y, phase_id=np.ones(x.size, int),
                         phase_list=PhaseList([Phase(name="ni", point_group="m-3m")], ids=[1]),
                         prop={"iq": np.ones(x.size), "ci": np.ones(x.size)}, scan_unit="um"))
    return stores, ang, tmp


def _commands(store: Path, small, ang: Path, run: Path, out: Path) -> dict[str, list]:
    return {
        "info": ["info", store],
        "verify": ["verify", store],
        "roi": ["roi", store, "--otsu", "--name", "roi2"],
        "ingest ebsd": ["ingest", "ebsd", small.patterns, "--dataset", "patterns", store],
        "ingest tables": ["ingest", "tables", store, "--bandcontrast", small.bandcontrast, "--overwrite"],
        "ingest orientations": ["ingest", "orientations", ang, store],
        "encode": ["encode", store, "--run", run, "--name", "latent2"],
        "decompose": ["decompose", store, "--method", "pca", "--components", "2"],
        "boundaries": ["boundaries", store],
        "rank": ["rank", store, "--against", "bandcontrast", "--out", out / "rank"],
        "index": ["index", store, "--phase", "ni", "--pc", "0.4,0.2,0.5", "--tilt", "70", "--method", "hough"],
        "train": ["train", store, "--run", out / "run", "--epochs", "1", "--resize", "24", "--latent-dim", "2"],
    }


@pytest.mark.parametrize("kind", ["bare", "named", "v2"])
def test_every_command_on_a_foreign_store_is_one_line_and_changes_nothing(foreign, small_map, trained_run, capsys,
                                                                            kind: str) -> None:
    stores, ang, tmp = foreign
    store = stores[kind]
    before = tree_hash(store)
    commands = _commands(store, small_map, ang, trained_run, tmp / kind)
    if kind != "bare":
        commands.pop("train")  # a store with named dims is read: training from it works (and takes a while)
    for what, args in commands.items():
        code, out, err = vaearr_cli(*args)
        lines = err.strip().splitlines()
        if kind != "bare" and what == "info":
            assert code == 0 and "latent(y, x, latent_dim)" in out, err
        elif what == "verify":  # reads chunks, needs no dims: whole, and says what it could not check
            assert code == 0 and "all whole" in out and "no crc32c checksum" in out, (out, err)
        else:
            assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (what, code, err)
            needle = "dimension_names" if kind == "bare" else "vaearr did not make"
            assert needle in lines[0], (what, lines[0])
        assert "Traceback" not in err
        assert tree_hash(store) == before, what
