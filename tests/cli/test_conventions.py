"""The command line's conventions: ``--version``, and an unexpected error as one line unless ``--debug``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import vaearr

# ``vaearr info`` on a store, with the function that prints it broken the way a bug would break it
BROKEN_INFO = """
import sys
import vaearr.cli.store as s
def broken(*a, **k):
    raise RuntimeError("something vaearr did not foresee")
s.print_store = broken
from vaearr.cli import main
sys.argv = ["vaearr", *sys.argv[1:]]
main()
"""


def _run(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "VAEARR_DEBUG": "", **(env or {})})


def test_version_prints_the_installed_version() -> None:
    res = _run([sys.executable, "-m", "vaearr", "--version"])
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"vaearr {vaearr.__version__}"


def test_an_unexpected_error_is_one_line_with_where_and_how_to_see_more(demo_store: Path) -> None:
    res = _run([sys.executable, "-c", BROKEN_INFO, "info", str(demo_store)])
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert lines[0].startswith("error: ") and "RuntimeError: something vaearr did not foresee" in lines[0]
    assert "--debug" in lines[0] and "VAEARR_DEBUG=1" in lines[0]


def test_debug_shows_the_traceback(demo_store: Path) -> None:
    for args, env in ((["info", str(demo_store), "--debug"], None), (["info", str(demo_store)], {"VAEARR_DEBUG": "1"})):
        res = _run([sys.executable, "-c", BROKEN_INFO, *args], env)
        assert res.returncode == 1
        assert "Traceback (most recent call last)" in res.stderr
        assert "RuntimeError: something vaearr did not foresee" in res.stderr


def test_errors_a_user_can_act_on_stay_one_line_with_status_2(tmp_path: Path) -> None:
    res = _run([sys.executable, "-m", "vaearr", "info", str(tmp_path / "absent.zarr")])
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "absent.zarr" in res.stderr


def test_long_map_steps_show_progress_when_asked(demo_store: Path, tmp_path: Path) -> None:
    """decompose, boundaries, segment and rank draw bars (``VAEARR_PROGRESS=on``; off in logs by default)."""
    runs = [
        (["decompose", str(demo_store), "--method", "pca", "--components", "3"], ["fit sample: row blocks", "project: row blocks"]),
        (["boundaries", str(demo_store)], ["edges: row blocks", "segment: merge rounds"]),
        (["segment", str(demo_store), "--var", "pca_weights"], ["segment: merge rounds"]),
    ]
    for args, bars in runs:
        res = _run([sys.executable, "-m", "vaearr", *args], {"VAEARR_PROGRESS": "on"})
        assert res.returncode == 0, res.stderr
        for desc in bars:
            assert desc in res.stderr, (args[0], desc, res.stderr[-500:])
    quiet = _run([sys.executable, "-m", "vaearr", "segment", str(demo_store), "--var", "pca_weights",
                  "--name", "seg2"], {"VAEARR_PROGRESS": "off"})
    assert quiet.returncode == 0 and "merge rounds" not in quiet.stderr


# the 'viz' extra made absent in this process, as after a base ``pip install .``
WITHOUT_VIZ = """
import importlib.util
import sys
VIZ = ("holoviews", "hvplot", "bokeh", "panel")
FIND = importlib.util.find_spec
class NoViz:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in VIZ:
            raise ModuleNotFoundError(f"No module named {name!r}")
sys.meta_path.insert(0, NoViz())
importlib.util.find_spec = lambda name, package=None: None if name.split(".")[0] in VIZ else FIND(name, package)
from vaearr.cli import main
sys.argv = ["vaearr", *sys.argv[1:]]
main()
"""


def test_a_base_install_runs_what_needs_no_figures_and_names_the_extra_for_the_rest(demo_store: Path,
                                                                                     tmp_path: Path) -> None:
    from tests.helpers import tree_hash

    code = WITHOUT_VIZ
    res = _run([sys.executable, "-c", code, "info", str(demo_store)])
    assert res.returncode == 0, res.stderr
    before = tree_hash(demo_store)
    for command in (["segment", str(demo_store), "--out", str(tmp_path / "f")],
                    ["boundaries", str(demo_store), "--out", str(tmp_path / "f")]):
        res = _run([sys.executable, "-c", code, *command])
        assert res.returncode == 2, res.stderr
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "'viz' extra" in lines[0] and "pip install 'vaearr[viz]'" in lines[0], res.stderr
    assert tree_hash(demo_store) == before
    assert not (tmp_path / "f").exists()


def test_the_recorded_command_hides_credentials(demo_store: Path) -> None:
    """The command line written in the attrs of what a command writes (and in an icechunk commit's message) keeps
    every word but the values of credential-like ``--storage-option`` keys: a store is shared, its secrets are not."""
    from tests.helpers import cli
    from vaearr.cli import recorded_command
    from vaearr.store import open_store

    done = cli("roi", demo_store, "--otsu", "--name", "roi_cred", "--storage-option", "secret_access_key=abc123",
               "--storage-option=endpoint_url=http://127.0.0.1:9000", "--storage-option=token=t0k")
    assert done.returncode == 0, done.stderr
    command = open_store(demo_store)["roi_cred"].attrs["command"]
    assert "abc123" not in command and "t0k" not in command
    assert "'secret_access_key=<hidden>'" in command and "'--storage-option=token=<hidden>'" in command
    assert "--storage-option=endpoint_url=http://127.0.0.1:9000" in command and "--name roi_cred" in command
    assert recorded_command(["info", "s", "--debug", "--storage-option"]) == "vaearr info s --storage-option"
