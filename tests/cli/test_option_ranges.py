"""Every numeric option of every command, driven out of its range (hypothesis): exit 2, one line naming the
option, no traceback, the store byte-identical. The ranges are read from the options dataclasses' declarations
(:class:`vaearr.options.Option`) and, for the commands without one, from :data:`HAND_WRITTEN`."""

from __future__ import annotations

import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import make_places, tree_hash, vaearr_cli
from vaearr.analysis.options import ClusterOptions, ExploreOptions, RankOptions
from vaearr.maps.options import DecomposeOptions, IndexOptions, SegmentOptions
from vaearr.options import flag, options
from vaearr.train.config import TrainConfig

#: command → (its options dataclass, the arguments it needs besides the store)
COMMANDS = {
    "rank": (RankOptions, []), "cluster": (ClusterOptions, []), "decompose": (DecomposeOptions, []),
    "index": (IndexOptions, ["--tilt", "70", "--pc", "0.4,0.2,0.5"]), "segment": (SegmentOptions, []),
    "explore": (ExploreOptions, ["--run", "RUN"]), "train": (TrainConfig, ["--run", "RUN"]),
}

#: (command, flag, bounds) of the commands whose options are typer parameters (checked by check_values)
HAND_WRITTEN = [
    ("boundaries", "--sigma", {"min": 0}), ("boundaries", "--lagb-min-length", {"min": 1}),
    ("boundaries", "--lagb-low", {"min": 0}), ("boundaries", "--lagb-threshold", {"min": 0}),
    ("boundaries", "--gb-threshold", {"min": 0}), ("roi", "--top-percent", {"above": 0, "max": 100}),
    ("encode", "--batch-size", {"min": 1}), ("orientation-maps", "--grain-angle", {"above": 0, "max": 180}),
]


def numeric_options() -> list[tuple[str, str, dict, bool]]:
    """(command, flag, bounds, whole numbers) of every bounded numeric option."""
    out = []
    for command, (cls, _) in COMMANDS.items():
        for f, o in options(cls):
            bounds = {k: getattr(o, k) for k in ("min", "max", "above", "below") if getattr(o, k) is not None}
            if bounds and o.flags != ():
                out.append((command, flag(f, o).split("/")[0], bounds, "int" in str(f.type)))
    out += [(c, fl, b, fl in ("--lagb-min-length", "--batch-size")) for c, fl, b in HAND_WRITTEN]
    return out


def outside(bounds: dict, whole: bool) -> st.SearchStrategy:
    """Values just and far outside ``bounds``."""
    parts = []
    lo = bounds.get("min", bounds.get("above"))
    hi = bounds.get("max", bounds.get("below"))
    if lo is not None:
        top = lo - 1 if "min" in bounds or whole else lo
        parts.append(st.integers(-10**6, int(top)) if whole else st.floats(-1e6, top, allow_nan=False))
    if hi is not None:
        bottom = hi + 1 if "max" in bounds or whole else hi
        parts.append(st.integers(int(bottom), 10**12) if whole else st.floats(bottom, 1e6, allow_nan=False))
    return st.one_of(*parts)


@pytest.mark.parametrize("command, option, bounds, whole", numeric_options(),
                         ids=[f"{c} {fl}" for c, fl, _, _ in numeric_options()])
def test_every_numeric_option_out_of_range_is_refused(capsys, places, command, option, bounds, whole) -> None:
    store = places["map"]
    before = tree_hash(store)
    extra = [places["run"] if a == "RUN" else a for a in COMMANDS.get(command, (None, []))[1]]
    if command == "encode":
        extra = ["--run", places["run"]]

    @settings(max_examples=2, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(value=outside(bounds, whole))
    def refused(value) -> None:
        code, _, err = vaearr_cli(command, store, *extra, option, str(value))
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and option in lines[0], (value, err)
        assert "Traceback" not in err

    refused()
    assert tree_hash(store) == before
    shutil.rmtree(places["tmp"], ignore_errors=True)


@pytest.fixture(scope="module")
def places(tmp_path_factory, kikuchipy_data_dir) -> dict[str, str]:
    return make_places(tmp_path_factory.mktemp("option_ranges"), kikuchipy_data_dir)
