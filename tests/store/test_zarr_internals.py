"""zarr's internals taken only on a tested release (:mod:`vaearr.store.zarr_internals`): the release parsed, the
switch, and a coroutine run to its end on either path."""

from __future__ import annotations

import asyncio

import pytest
import zarr

from vaearr.store import zarr_internals
from vaearr.store.zarr_internals import ENVIRONMENT, TESTED, enabled, event_loop, run, runner, zarr_release


@pytest.mark.parametrize(("version", "release"), [("3.1.6", (3, 1)), ("3.2.0rc1", (3, 2)), ("10.0", (10, 0)),
                                                   ("dev", (0, 0))])
def test_the_release_of_a_version(version, release) -> None:
    assert zarr_release(version) == release


def test_the_internals_on_a_tested_release_unless_switched_off(monkeypatch) -> None:
    monkeypatch.delenv(ENVIRONMENT, raising=False)
    assert enabled() is (zarr_release(zarr.__version__) in TESTED)
    for off in ("off", "0", "NO"):
        monkeypatch.setenv(ENVIRONMENT, off)
        assert not enabled() and runner() is None and event_loop() is None
    monkeypatch.setattr(zarr_internals, "TESTED", frozenset())  # a release vaearr has not been tested with
    monkeypatch.setenv(ENVIRONMENT, "on")
    assert not enabled()


@pytest.mark.parametrize("switch", ["on", "off"])
def test_a_coroutine_runs_to_its_end_on_either_path(monkeypatch, switch) -> None:
    monkeypatch.setenv(ENVIRONMENT, switch)

    async def work(x: int) -> int:
        await asyncio.sleep(0)
        return x * 2

    assert run(work(21)) == 42
    loop = event_loop()
    assert loop is None or loop.is_running()
