"""The local backend's workers: trials side by side in processes of this machine, one torch thread
each (see :mod:`hepopt.runtime.cpus`), as many as the cores this process is given.

Each worker is a spawned process holding the prepared data, received once when it starts (torch
moves the tensors to shared memory instead of copying them), and a pipe to the driver. It ignores
Ctrl-C: the driver marks the trials in flight as interrupted and stops the workers. A worker that
dies is seen through its process sentinel; its trial fails with the reason and a new worker
takes its place.
"""

from __future__ import annotations

import signal
from multiprocessing import connection, get_context
from typing import TYPE_CHECKING, Any

from hepopt.search.parallel_trials import execute_for_driver

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

    from hepopt.scoring.trial import TrialRunner
    from hepopt.search.execution import TrialRecord


def _serve(conn: Connection, runner: TrialRunner, threads: int) -> None:
    """A worker's life: run the trials the driver sends until it sends None or goes away."""
    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C and stops us
    torch.set_num_threads(threads)
    while True:
        try:
            job = conn.recv()
        except EOFError:  # the driver is gone
            return
        if job is None:
            return
        conn.send(execute_for_driver(runner, *job))


class ProcessPool:
    """``size`` worker processes (spawned: no fork of a process whose torch threads run)."""

    def __init__(self, runner: TrialRunner, size: int, threads: int) -> None:
        self.size, self._runner, self._threads = size, runner, threads
        self._context = get_context("spawn")
        self._workers: list[tuple[BaseProcess, Connection]] = [self._start() for _ in range(size)]
        self._busy: set[int] = set()

    def _start(self) -> tuple[BaseProcess, Connection]:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=_serve, args=(theirs, self._runner, self._threads), daemon=True, name="hepopt-trial-worker"
        )
        process.start()
        theirs.close()
        return process, ours

    def submit(self, slot: int, params: dict[str, Any], overtraining: Any, pruning: dict[str, Any] | None) -> None:
        self._workers[slot][1].send((params, overtraining, pruning))
        self._busy.add(slot)

    def wait(self) -> tuple[int, TrialRecord | None]:
        watched: dict[Any, int] = {}
        for slot in self._busy:
            process, conn = self._workers[slot]
            watched[conn] = watched[process.sentinel] = slot
        ready = connection.wait(list(watched))
        slot = watched[ready[0]]
        self._busy.discard(slot)
        process, conn = self._workers[slot]
        try:
            if conn.poll():
                return slot, conn.recv()
        except (EOFError, OSError):
            pass
        # The worker died mid-trial: a new one takes its place.
        process.join(timeout=5)
        conn.close()
        self._workers[slot] = self._start()
        return slot, None

    def close(self) -> None:
        for slot, (process, conn) in enumerate(self._workers):
            if slot in self._busy:  # stopped mid-trial (Ctrl-C, an error): no need to wait for it
                process.terminate()
            else:
                try:
                    conn.send(None)
                except OSError:
                    process.terminate()
        for process, conn in self._workers:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()
            conn.close()
        self._busy.clear()
