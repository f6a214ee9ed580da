"""One vocabulary on the command line, in the flows and in the Python steps (docs/vocabulary.md): the new names
everywhere, the old spellings taken with one notice, ``--help`` in the order of the path, errors naming the way out."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import typer
import xarray as xr

from tests.helpers import cli

#: Spellings that are no command's primary name any more (they live on as deprecated aliases).
OLD = {"--features", "--latent", "--scheduler", "--schedule", "--figures", "--to", "--orientation", "--store",
       "--bc-otsu", "--bc-min", "--bc-max", "--bc-top-percent"}
#: ``vaearr --help``'s commands, in the order of the path.
PATH = ["ingest", "roi", "quality", "info", "verify", "train", "import-weights", "encode", "segment", "spread",
        "boundaries", "index", "orientation-maps", "master-pattern", "phases", "cluster", "rank", "decompose",
        "export", "report", "explore", "explore-map", "layers", "demo"]
NOTICE = re.compile(r"^warning: vaearr [\w -]+: (\S+) is deprecated, (use \S+|give STORE as an argument) "
                    r"\(the old spelling goes in vaearr 0\.3\)$")


def commands() -> dict[str, typer.core.TyperCommand]:
    """Every command of the app by the words a user types (``ingest ebsd``, ``segment``…)."""
    from vaearr.cli import app

    root = typer.main.get_command(app)
    out = {}
    for name, cmd in root.commands.items():
        for sub, leaf in (getattr(cmd, "commands", None) or {"": cmd}).items():
            out[f"{name} {sub}".strip()] = leaf
    return out


def notices(err: str) -> list[str]:
    return [line for line in err.splitlines() if "deprecated" in line]


def test_every_command_holds_to_the_vocabulary() -> None:
    """Walking the app: no old spelling is a primary name (rank's --figures/--no-figures is a switch, not a folder);
    the store is an argument wherever a command takes one; every old spelling a command takes names an option it has;
    encode has -r."""
    from typer.core import TyperArgument, TyperOption

    from vaearr.cli.common import ARGUMENT, Command

    found = commands()
    assert len(found) >= 28  # 24 commands, ingest's 6 kinds in place of ingest
    for name, cmd in found.items():
        flags = {o for p in cmd.params if isinstance(p, TyperOption) for o in p.opts}
        switch = {"--figures"} if name == "rank" else set()  # --figures/--no-figures: draw or not
        assert not (flags & (OLD - switch)), (name, flags & OLD)
        if name == "rank":
            assert next(p for p in cmd.params if "--figures" in p.opts).is_flag
        store = [p for p in cmd.params if p.name == "store"]
        assert all(isinstance(p, TyperArgument) for p in store), name
        assert isinstance(cmd, Command), name
        for old, new in cmd.renamed.items():
            assert new == ARGUMENT and store or new in flags, (name, old, new)
    assert "-r" in {o for p in found["encode"].params for o in getattr(p, "opts", ())}
    for name in ("segment", "spread", "phases", "cluster", "rank", "boundaries", "export", "orientation-maps",
                 "explore-map", "roi", "train", "import-weights"):
        assert any("--var" in getattr(p, "opts", ()) for p in found[name].params), name
    for name in ("roi", "encode", "segment", "spread", "boundaries", "phases", "orientation-maps", "export",
                 "cluster", "rank", "report", "explore", "layers", "demo"):
        assert any("--out" in getattr(p, "opts", ()) for p in found[name].params), name
    for name in ("encode", "cluster", "rank", "decompose"):
        assert any("--dask" in getattr(p, "opts", ()) for p in found[name].params), name


@pytest.mark.parametrize("command, shown", [
    (["segment"], ["--var", "--out", "STORE"]), (["train"], ["--lr-schedule", "--run", "-r"]),
    (["encode"], ["--dask", "--out", "-r"]), (["ingest", "ebsd"], ["SRC", "STORE"]),
    (["ingest", "nifti"], ["SRC...", "STORE"]), (["roi"], ["--min", "--max", "--otsu", "--top-percent", "--out"]),
    (["export"], ["--out", "--var"]), (["import-weights"], ["WEIGHTS", "STORE", "--from"]),
])
def test_help_shows_the_new_names(command: list[str], shown: list[str]) -> None:
    proc = cli(*command, "--help", env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
    assert proc.returncode == 0
    text = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout)
    for word in shown:  # arguments as typed: STORE, SRC...
        assert re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text), (command, word)
    for word in OLD - {"--figures"}:
        assert not re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text), (command, word)


def test_help_lists_the_commands_in_the_order_of_the_path() -> None:
    proc = cli("--help", env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
    listed = re.findall(r"^│ ([a-z][a-z-]*)\s{2,}", proc.stdout, flags=re.M)
    assert listed == PATH, listed


def test_old_spellings_still_work_with_one_notice(demo_store: Path, tmp_path: Path, demo_files) -> None:
    """ingest --store, roi --bc-otsu, segment --features run to the end as before; train --scheduler and encode
    --scheduler reach the option they alias (the values' own errors prove it). Each prints exactly one notice."""
    from vaearr.store import open_store

    new = tmp_path / "new.zarr"
    proc = cli("ingest", "ebsd", demo_files.patterns, "--dataset", "patterns", "--store", new)
    assert proc.returncode == 0, proc.stderr
    assert notices(proc.stderr) == ["warning: vaearr ingest ebsd: --store is deprecated, give STORE as an argument "
                                    "(the old spelling goes in vaearr 0.3)"]
    assert "patterns" in open_store(new).data_vars

    proc = cli("roi", demo_store, "--bc-otsu", "--name", "roi_old")
    assert proc.returncode == 0, proc.stderr
    assert notices(proc.stderr) == ["warning: vaearr roi: --bc-otsu is deprecated, use --otsu (the old spelling "
                                    "goes in vaearr 0.3)"]
    assert open_store(demo_store)["roi_old"].attrs["command"].endswith("--bc-otsu --name roi_old")

    proc = cli("segment", demo_store, "--features", "bandcontrast", "--name", "seg_old", "--figures", tmp_path / "f")
    assert proc.returncode == 0, proc.stderr
    lines = notices(proc.stderr)
    assert len(lines) == 2 and all(NOTICE.match(line) for line in lines), lines  # --features and --figures
    assert lines[0] == ("warning: vaearr segment: --features is deprecated, use --var (the old spelling goes in "
                        "vaearr 0.3)")
    assert open_store(demo_store)["seg_old"].attrs["features"] == "bandcontrast"
    assert any((tmp_path / "f").iterdir())

    proc = cli("train", demo_store, "-r", tmp_path / "r", "--scheduler", "linear")
    assert proc.returncode == 2 and "--lr-schedule must be one of cosine, cosine-restarts, none, got 'linear'" in proc.stderr
    assert notices(proc.stderr) == ["warning: vaearr train: --scheduler is deprecated, use --lr-schedule (the old "
                                    "spelling goes in vaearr 0.3)"]
    proc = cli("encode", demo_store, "-r", tmp_path / "nothing", "--scheduler", "tcp://127.0.0.1:9")
    assert proc.returncode == 2
    assert notices(proc.stderr) == ["warning: vaearr encode: --scheduler is deprecated, use --dask (the old "
                                    "spelling goes in vaearr 0.3)"]


def test_the_new_spellings_print_no_notice(demo_store: Path) -> None:
    proc = cli("roi", demo_store, "--otsu", "--name", "roi_new", "--var", "bandcontrast")
    assert proc.returncode == 0 and not notices(proc.stderr), proc.stderr


def test_a_python_step_takes_an_old_keyword_with_a_warning(demo_store: Path) -> None:
    """vaearr.segment(store, features=...) works and warns, pointing at the caller's line; the library functions
    and a run's stored config take the old names too."""
    import vaearr
    from vaearr.analysis.options import ClusterOptions
    from vaearr.options import from_fields
    from vaearr.train import TrainConfig

    with pytest.warns(DeprecationWarning, match=r"vaearr\.segment: features= is deprecated, use var= "
                                                r"\(the old spelling goes in vaearr 0\.3\)") as seen:
        got = vaearr.segment(demo_store, features="bandcontrast", name="seg_py", quiet=True)
    assert seen[0].filename == __file__
    assert got["seg_py"].attrs["features"] == "bandcontrast"
    with pytest.warns(DeprecationWarning, match="schedule= is deprecated, use lr_schedule="):
        cfg = from_fields(TrainConfig, {"store": "s.zarr", "run": "r", "schedule": "none"})
    assert cfg.lr_schedule == "none"
    with pytest.warns(DeprecationWarning, match="latent= is deprecated, use var="):
        assert from_fields(ClusterOptions, {"store": "s.zarr", "latent": "z"}).var == "z"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a stored config is read silently
        assert TrainConfig.from_dict({"store": "s", "run": "r", "schedule": "none"}).lr_schedule == "none"
    with pytest.raises(vaearr.InputError, match="give var= .or the deprecated features=., not both"):
        vaearr.segment(demo_store, features="a", var="b")


def test_out_defaults_to_one_rule(tmp_path: Path) -> None:
    from vaearr.analysis.options import ClusterOptions, ExploreOptions, RankOptions
    from vaearr.files import beside_store

    assert beside_store(tmp_path / "ni.zarr", "rank") == tmp_path / "ni_rank"
    assert beside_store("s3://bucket/maps/ni.zarr", "report") == Path("ni_report")
    assert RankOptions(store=str(tmp_path / "ni.zarr")).out == tmp_path / "ni_rank"
    assert ClusterOptions(store=str(tmp_path / "ni.zarr")).out == tmp_path / "ni_cluster"
    assert ExploreOptions(store=str(tmp_path / "ni.zarr"), run="r").out == tmp_path / "ni_explore"
    assert ExploreOptions(run="r").out is None  # image files: out/explore, chosen by the command


def test_cluster_without_band_contrast_names_with_none(tmp_path: Path) -> None:
    from vaearr.store import open_store, write_variables

    store = tmp_path / "z.zarr"
    coords = {"y": np.arange(8) * 0.5, "x": np.arange(10) * 0.5}
    rng = np.random.default_rng(0)
    write_variables(store, {"latent": xr.DataArray(rng.normal(size=(8, 10, 2)).astype(np.float32),
                                                   dims=("y", "x", "latent_dim"),
                                                   coords={**coords, "latent_dim": [0, 1]})},
                    source=["test"], group_attrs={"kind": "ebsd-map"})
    proc = cli("cluster", store, "--method", "kmeans", "--k", "2", "--out", tmp_path / "c")
    assert proc.returncode == 2
    assert "no variable 'bandcontrast' in the store; run 'vaearr ingest tables STORE --bandcontrast FILE'" in proc.stderr
    assert "; --with none clusters the latent alone" in proc.stderr
    assert "cluster_kmeans_dim0" not in open_store(store).data_vars
    proc = cli("cluster", store, "--method", "kmeans", "--k", "2", "--with", "none", "--out", tmp_path / "c")
    assert proc.returncode == 0, proc.stderr
    assert "cluster_kmeans_dim0" in open_store(store).data_vars


def test_segment_without_a_latent_names_encode(tmp_path: Path) -> None:
    from vaearr.store import write_variables

    store = tmp_path / "p.zarr"
    coords = {"y": np.arange(6) * 0.5, "x": np.arange(6) * 0.5}
    write_variables(store, {"bandcontrast": xr.DataArray(np.ones((6, 6), np.float32), dims=("y", "x"), coords=coords)},
                    source=["test"], group_attrs={"kind": "ebsd-map"})
    proc = cli("segment", store)
    assert proc.returncode == 2 and "no feature variable 'latent' in the store" in proc.stderr
    assert "run 'vaearr encode STORE --run RUN' first, or give --var another map" in proc.stderr

