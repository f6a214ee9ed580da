"""The report's store and run parts: which command made each variable, the provenance chain, the store's tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from vaearr.viz.report_run import made_by, store_section


@pytest.mark.parametrize(("name", "attrs", "step"), [
    ("spread", {"level": 1, "recrystallised_rule": "x"}, "vaearr spread"),
    ("seg", {"n_regions": 3}, "vaearr segment"),
    ("roi", {"criteria": "bc"}, "vaearr roi"),
    ("grain_boundaries", {}, "vaearr boundaries"),
    ("orientation_kam", {}, "vaearr index / orientation-maps"),
    ("cluster_a", {"tag": "a", "noise": -1}, "vaearr cluster"),
    ("rank_x", {"config": json.dumps({"against": ["pca"]})}, "vaearr rank"),
    ("pca_weights", {"config": json.dumps({"methods": ["pca"]})}, "vaearr rank (references)"),
    ("nmf_weights", {"method": "nmf"}, "vaearr decompose"),
    ("patterns", {"source": json.dumps(["/data/map.h5"])}, "vaearr ingest"),
    ("other", {"source": "[broken"}, "—"),
])
def test_made_by_reads_the_step_from_name_and_attrs(name: str, attrs: dict, step: str) -> None:
    assert made_by(name, attrs) == step


def test_made_by_prefers_the_command_line() -> None:
    assert made_by("roi", {"criteria": "bc", "command": "vaearr roi s.zarr --bc 0.3"}) == "vaearr roi s.zarr --bc 0.3"
    assert made_by("roi", {"criteria": "bc", "command": "vaearr demo out"}) == "vaearr roi (in vaearr demo out)"
    assert made_by("x", {"command": "vaearr demo out"}) == "vaearr demo out"


def test_store_section_lists_variables_and_their_provenance(tmp_path: Path) -> None:
    ds = xr.Dataset({
        "bandcontrast": (("y", "x"), np.zeros((2, 3), np.float32),
                         {"vaearr_version": "1", "source": json.dumps(["/data/map.ctf"]), "created": "today"}),
        "roi": (("y", "x"), np.ones((2, 3), bool),
                {"vaearr_version": "1", "source": json.dumps(["bandcontrast"]), "criteria": "bc", "mask": "none"}),
        "raw": (("y",), np.zeros(2)),
    }, attrs={"title": "a <map>"})
    html = "".join(b for b in store_section(ds, tmp_path / "s.zarr").blocks)
    assert "a &lt;map&gt;" in html and "<td>y</td><td data-v=\"2.0\">2</td>" in html
    assert "<td>roi</td><td>y, x</td><td>2 × 3</td><td>bool</td>" in html and "<td>mask</td>" in html
    assert "<b>roi</b>: vaearr roi, " in html and "roi ← bandcontrast ← map.ctf" in html
    assert "<b>raw</b>" not in html and "inside mask" not in html
