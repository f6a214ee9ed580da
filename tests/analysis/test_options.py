"""The analyses' options: their parsers and checks, and the defaults that follow the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from vaearr.analysis.options import (
    DEFAULT_REFERENCES, PARTS, ClusterOptions, ExploreMapOptions, ExploreOptions, LayersOptions, RankOptions,
    ReportOptions, check_clip, parse_span,
)
from vaearr.errors import InputError, OptionError
from vaearr.options import parsed


def parse_field(cls: type, name: str, text: object) -> object:
    """A command line's value of one field, through the field's own parser."""
    return parsed(cls, {name: text})[name]


def test_parse_span() -> None:
    assert parse_span("-3:3", "`r`") == (-3.0, 3.0)
    assert parse_span(None, "`r`") is None
    with pytest.raises(InputError, match="`r` must look like -3:3 \\(low:high\\), got 'a:b'"):
        parse_span("a:b", "`r`")
    with pytest.raises(InputError, match="`r` 3:1: low must be below high"):
        parse_span("3:1", "`r`")


def test_check_clip() -> None:
    assert check_clip((2, 98)) == (2.0, 98.0)
    with pytest.raises(OptionError, match="shade_clip 98:2: need 0 ≤ low < high ≤ 100"):
        check_clip((98, 2))
    with pytest.raises(OptionError, match="shade_clip takes two percentiles like 2:98"):
        check_clip((1, 2, 3))


def test_cluster_options_tag_name_and_output_folder(tmp_path: Path) -> None:
    store = str(tmp_path / "map.zarr")
    opts = ClusterOptions(store=store, method="kmeans", dim=3)
    assert opts.tag_and_name() == ("kmeans_dim3", "cluster_kmeans_dim3")
    assert opts.out == tmp_path / "map_cluster"
    vec = ClusterOptions(store=store, latent_vector=Path("my latent.npy"), name="labels")
    assert vec.tag_and_name() == ("gmm_my_latent", "labels")
    with pytest.raises(OptionError, match="shade_clip"):
        ClusterOptions(store=store, shade_clip=(50, 50)).check()


def test_explore_options_check(tmp_path: Path) -> None:
    opts = ExploreOptions(store=str(tmp_path / "s.zarr"), run="r")
    assert opts.out == tmp_path / "s_explore" and tuple(opts.parts) == PARTS
    assert ExploreOptions(run="r").out is None
    with pytest.raises(InputError, match="unknown part\\(s\\) pirors; known: quality, prior"):
        ExploreOptions(run="r", parts=("quality", "pirors")).check()
    with pytest.raises(OptionError, match="traversal_range must be two finite values low:high with low < high"):
        ExploreOptions(run="r", traversal_range=(1.0, -1.0)).check()


def test_explore_options_parse_their_text() -> None:
    assert parse_field(ExploreOptions, "base", "0.5,") == [0.5]
    assert parse_field(ExploreOptions, "base", "mean") == "mean"
    assert parse_field(ExploreOptions, "manifold_dims", "2,5") == (2, 5)
    assert parse_field(ExploreOptions, "line", "0,1,2,3") == ((0.0, 1.0), (2.0, 3.0))
    assert parse_field(ExploreOptions, "n", 0) is None
    assert parse_field(ExploreOptions, "label", "none") is None
    with pytest.raises(InputError, match="`manifold_dims` takes two dims 'i,j', got '1,2,3'"):
        parse_field(ExploreOptions, "manifold_dims", "1,2,3")
    with pytest.raises(InputError, match="`line` takes four numbers 'x0,y0,x1,y1', got '1,2'"):
        parse_field(ExploreOptions, "line", "1,2")


def test_rank_options(tmp_path: Path) -> None:
    opts = RankOptions(store=str(tmp_path / "s.zarr"))
    assert opts.out == tmp_path / "s_rank" and tuple(opts.against) == DEFAULT_REFERENCES
    assert parse_field(RankOptions, "against", ["elements,pca", "bandcontrast"]) == ["elements", "pca", "bandcontrast"]
    assert parse_field(RankOptions, "dims", " ALL ") == "all"
    assert parse_field(RankOptions, "dims", "3,7") == [3, 7]
    with pytest.raises(OptionError, match="per_page"):
        RankOptions(store="s.zarr", per_page=0).check()


def test_report_options_take_folders(tmp_path: Path) -> None:
    opts = ReportOptions(store=str(tmp_path / "s.zarr"), analyses=["a", tmp_path / "b"])
    assert opts.analyses == (Path("a"), tmp_path / "b") and opts.out == tmp_path / "s_report"


@pytest.mark.parametrize(("fields", "message"), [
    ({}, "give either `run` or `weights`"),
    ({"run": Path("r"), "weights": Path("w")}, "give either `run` or `weights`"),
    ({"run": Path("r"), "size": 64}, "`size` goes with `weights`"),
    ({"run": Path("r"), "img1": Path("a.png")}, "give either `img1` and `img2`, or `folder`"),
    ({"run": Path("r"), "img1": Path("a.png"), "img2": Path("b.png"), "folder": Path("f")},
     "give either `img1` and `img2`, or `folder`"),
])
def test_layers_options_check(fields: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        LayersOptions(**fields).check()


def test_layers_and_explore_map_accept_good_options() -> None:
    LayersOptions(weights=Path("w"), size=64, folder=Path("f")).check()
    ExploreMapOptions(store="s", run=Path("r"), port=0).check()
    with pytest.raises(InputError, match="`port` 70000: not a port"):
        ExploreMapOptions(store="s", run=Path("r"), port=70000).check()
    with pytest.raises(InputError, match="`box_cap` 0: give at least 1"):
        ExploreMapOptions(store="s", run=Path("r"), box_cap=0).check()
