"""Running a command's dask work on a dask.distributed cluster (``--dask tcp://host:8786``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

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
        client = distributed.Client(scheduler, timeout="10s", set_as_default=True)
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(scheduler, f"no dask scheduler answers here ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    try:
        with client.as_current():
            yield client
    finally:
        client.close()
