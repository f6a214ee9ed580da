"""Running a command's dask work on a dask.distributed cluster (``--dask tcp://host:8786``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import dask

from vaearr.errors import InputError, require


@contextlib.contextmanager
def dask_client(scheduler: str | None) -> Iterator[Any]:
    """A ``distributed.Client`` of the scheduler at ``scheduler``, the default for dask while the block
    runs (None: nothing changes, the block gets None).

    Raises
    ------
    InputError
        No scheduler answers at that address.
    """
    if not scheduler:
        yield None
        return
    distributed = require("distributed", "flows")
    try:
        # not set_as_default: a Client that fails to connect has already made itself dask's scheduler by then, and
        # every later .compute() of the process would wait on it
        client = distributed.Client(scheduler, timeout="10s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(scheduler, f"no dask scheduler answers here ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    try:
        with client.as_current(), dask.config.set(scheduler=client.get):
            yield client
    finally:
        client.close()
