"""Worker processes that decode groups into reused shared-memory slots."""

from __future__ import annotations

import dataclasses
import pickle
import queue
import sys
import traceback
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from vaearr.batches.plan import Plan, PlanConfig, group_cuts, group_rows, make_plan
from vaearr.batches.read import Source, read_group


def _worker_main(w: int, source: Source, cfg: PlanConfig, counts: np.ndarray, blocks: np.ndarray, tasks, results) -> None:
    """A worker process: decode the groups it is sent into the shared-memory slot named."""

    torch.set_num_threads(1)
    slots: dict[int, tuple] = {}
    plan = None
    while True:
        msg = tasks.get()
        if msg is None:
            return
        run, epoch, g, k, new_slot = msg
        try:
            if new_slot is not None:  # a slot this worker has not seen: map it once, keep it
                slots[k] = (*new_slot, new_slot[0].numpy(), new_slot[1].numpy())
            if plan is None or plan.epoch != epoch:
                plan = make_plan(cfg, counts, blocks, epoch)
            read_group(source, plan, g, dest=slots[k][2:])
            results.put((run, w, g, k, None))
        except BaseException as exc:  # noqa: BLE001 - reported to the main process, raised there
            try:
                pickle.loads(pickle.dumps(exc))  # some exceptions pickle but do not unpickle
                err: Any = exc
            except Exception:  # noqa: BLE001 - an exception that cannot travel: send its text
                err = RuntimeError("".join(traceback.format_exception(exc)))
            results.put((run, w, g, k, err))


class Workers:
    """``n`` worker processes that decode groups into reused shared-memory *slots*.

    Groups go, in order, to the least busy worker, at most two per worker at a time. A slot
    holds one group, already shuffled, cast and laid out; the batches cut from it are views of
    it, and it is reused once none of them is referenced any more (its numpy array's reference
    count says so). Nothing is copied between processes and, slots being reused, no page is
    faulted in twice: a DataLoader would move every batch through fresh shared memory.
    """

    IN_FLIGHT = 2  # groups queued per worker

    def __init__(self, source: Source, cfg: PlanConfig, counts: np.ndarray, blocks: np.ndarray, n: int,
                 method: str | None):
        ctx = torch.multiprocessing.get_context(method)
        self.n = n
        self.source = source
        self.slot_rows = group_rows(cfg, counts, blocks)
        self.tasks = [ctx.SimpleQueue() for _ in range(n)]
        self.results = ctx.Queue()
        wsource = dataclasses.replace(source, _array=None, _recycler=None)
        self.procs = [ctx.Process(target=_worker_main, args=(w, wsource, cfg, counts, blocks, self.tasks[w], self.results),
                                  daemon=True, name=f"vaearr-worker-{w}") for w in range(n)]
        for p in self.procs:
            p.start()
        self.slots: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.views: list[np.ndarray] = []  # numpy views of the slots' data: their refcounts tell
        self.id_views: list[np.ndarray] = []
        self.seen = [set() for _ in range(n)]
        self.busy: set[int] = set()
        self.in_flight = [0] * n
        self.run = 0
        self._finalizer = weakref.finalize(self, Workers._stop, self.procs, self.tasks)

    @staticmethod
    def _stop(procs, tasks) -> None:
        for q in tasks:
            try:
                q.put(None)
            except (OSError, ValueError):
                pass
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()

    def close(self) -> None:
        self._finalizer()

    def _free_slot(self) -> int:
        for k in range(len(self.slots)):
            # referents of an unused view: the list and getrefcount's argument
            if k not in self.busy and sys.getrefcount(self.views[k]) <= 2 and sys.getrefcount(self.id_views[k]) <= 2:
                return k
        dtype = self.source.out_dtype or self.source.dtype
        data = torch.from_numpy(np.empty((self.slot_rows, *self.source.out_shape), dtype=dtype)).share_memory_()
        ids = torch.empty(self.slot_rows, dtype=torch.int64).share_memory_()
        self.slots.append((data, ids))
        self.views.append(data.numpy())
        self.id_views.append(ids.numpy())
        return len(self.slots) - 1

    def epoch(self, plan: Plan) -> Iterator[list[tuple[torch.Tensor, torch.Tensor]]]:
        """The pieces of each group of ``plan``, in group order."""
        self.run += 1
        run, n_groups = self.run, len(plan.groups)
        ready: dict[int, int] = {}
        try:
            yield from self._epoch(plan, run, n_groups, ready)
        finally:
            for k in ready.values():  # decoded for an epoch the consumer left early
                self.busy.discard(k)

    def _epoch(self, plan: Plan, run: int, n_groups: int, ready: dict[int, int]) -> Iterator[list]:
        sent = done = 0
        while done < n_groups:
            while sent < n_groups and min(self.in_flight) < self.IN_FLIGHT:
                # the next group to the least busy worker: one descheduled worker holds up
                # nobody else (which worker decodes a group does not change the group)
                w = self.in_flight.index(min(self.in_flight))
                k = self._free_slot()
                new = None if k in self.seen[w] else self.slots[k]
                self.seen[w].add(k)
                self.busy.add(k)
                self.in_flight[w] += 1
                self.tasks[w].put((run, plan.epoch, sent, k, new))
                sent += 1
            r, w, g, k, err = self._get()
            self.in_flight[w] -= 1
            if r != run:  # left over from an epoch the consumer abandoned
                self.busy.discard(k)
                continue
            if err is not None:
                self.busy.discard(k)
                raise err
            ready[g] = k
            while done in ready:
                k = ready.pop(done)
                cuts = group_cuts(plan, done)
                data, ids = self.views[k], self.id_views[k]
                pieces = [(torch.from_numpy(data[a:b]), torch.from_numpy(ids[a:b])) for a, b in zip(cuts[:-1], cuts[1:])]
                self.busy.discard(k)  # from now on the pieces' references keep it
                done += 1
                yield pieces

    def _get(self) -> tuple:
        while True:
            try:
                return self.results.get(timeout=1.0)
            except queue.Empty:
                dead = [p.name for p in self.procs if not p.is_alive()]
                if dead:
                    raise RuntimeError(f"worker process {', '.join(dead)} exited unexpectedly") from None
