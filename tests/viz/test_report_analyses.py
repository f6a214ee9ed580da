"""Which output folders a report includes: rank, cluster and explore folders told apart by their files, and found
beside the store (another store's exploration left out)."""

from __future__ import annotations

import json
from pathlib import Path

from vaearr.viz.report_analyses import Analyses, find_analyses, kind_of


def folder(root: Path, name: str, files: dict[str, str]) -> Path:
    path = root / name
    path.mkdir(parents=True)
    for file, text in files.items():
        (path / file).write_text(text)
    return path


def explore_summary(store: Path) -> str:
    return json.dumps({"figures": [], "n_samples": 10, "store": str(store)})


def test_kind_of_reads_the_files(tmp_path: Path) -> None:
    assert kind_of(folder(tmp_path, "r", {"association.csv": ""})) == "rank"
    assert kind_of(folder(tmp_path, "c", {"cluster_report__gmm_dim0.json": "{}"})) == "cluster"
    assert kind_of(folder(tmp_path, "e", {"summary.json": explore_summary(tmp_path / "s.zarr")})) == "explore"
    assert kind_of(folder(tmp_path, "bad", {"summary.json": "{not json"})) is None
    assert kind_of(folder(tmp_path, "other", {"summary.json": json.dumps({"figures": []})})) is None
    assert kind_of(tmp_path / "missing") is None


def test_find_analyses_beside_the_store(tmp_path: Path) -> None:
    store = tmp_path / "s.zarr"
    store.mkdir()
    rank = folder(tmp_path, "s_rank", {"association.json": "{}"})
    mine = folder(tmp_path, "s_explore", {"summary.json": explore_summary(store)})
    folder(tmp_path, "t_explore", {"summary.json": explore_summary(tmp_path / "t.zarr")})  # another store's
    given = folder(tmp_path / "elsewhere", "g", {"summary.json": explore_summary(tmp_path / "t.zarr")})
    found = find_analyses([given, rank], [tmp_path, tmp_path / "missing"], store)
    assert found == Analyses(rank=[rank], cluster=[], explore=[given, mine])  # given: taken whatever its store
    assert found.all() == [rank, given, mine]
