"""Tests of vaearr.cli.allocator: the ``vaearr`` process's allocator thresholds, set with glibc's ``mallopt``."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vaearr.cli import allocator
from vaearr.cli.allocator import SETTINGS, tune_allocator

glibc = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")


@glibc
def test_the_thresholds_are_set_where_the_environment_leaves_them() -> None:
    # in a process of its own: the setting is process-wide, and the test process keeps its allocator as it is
    code = "from vaearr.cli.allocator import tune_allocator; print(sorted(tune_allocator({}).items()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(sorted((k, v) for k, (_, v) in SETTINGS.items()))
    assert SETTINGS["M_MMAP_THRESHOLD"][1] == 32 * 1024 * 1024  # glibc's most for a fixed threshold


@pytest.mark.parametrize("variable", ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES"])
def test_a_users_own_setting_in_the_environment_is_kept(variable: str) -> None:
    assert tune_allocator({variable: "1048576"}) == {}


def test_nothing_is_set_off_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert tune_allocator({}) == {}


def test_the_command_tunes_its_process_before_it_runs() -> None:
    code = ("import vaearr.cli as c, vaearr.cli.allocator as a; seen = []; "
            "c.tune_allocator = lambda: seen.append('tuned'); c.execute = lambda args: seen.append(args); "
            "import sys; sys.argv = ['vaearr', '--version']; c.main(); print(seen)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['tuned', ['--version']]"
