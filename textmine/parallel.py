"""Process pools whose workers never outlive the process that started them.

joblib's loky pool keeps idle workers for minutes and, when its parent is killed outright (SIGKILL),
they and their resource trackers were found still running long after (a hostile test's "orphan"
finding).  Here each worker asks the kernel for a parent-death signal as it starts (Linux
``prctl(PR_SET_PDEATHSIG)``; elsewhere the pool is an ordinary one), and the pool is shut down as
soon as its jobs are done.  Nothing of the calling process changes.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterable

PR_SET_PDEATHSIG = 1


def load_libc():
    """The C library, for ``prctl`` (None where there is none: not Linux)."""
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc if hasattr(libc, "prctl") else None
    except (OSError, AttributeError):
        return None


def die_with_parent(libc, parent: int, signum: int) -> None:
    """Ask the kernel to send ``signum`` to this process when its parent ends (only async-signal-safe
    calls: usable between fork and exec when ``libc`` was loaded before the fork)."""
    if libc is None:
        return
    libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the signal was set up
        os._exit(1)


def _die_with_parent(parent: int) -> None:
    """Worker initializer (a fresh interpreter: the spawn start method)."""
    die_with_parent(load_libc(), parent, int(signal.SIGTERM))


def map_in_processes(function: Callable, argument_lists: Iterable[tuple], n_jobs: int, stage: str = "") -> list:
    """``[function(*args) for args in argument_lists]`` in ``n_jobs`` worker processes, in order
    (progress reported as jobs finish, under ``stage``)."""
    from concurrent.futures import as_completed

    from textmine.progress import advance

    jobs = list(argument_lists)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(n_jobs, len(jobs)), mp_context=context, initializer=_die_with_parent,
                             initargs=(os.getpid(),)) as pool:
        futures = [pool.submit(function, *args) for args in jobs]
        for done, _ in enumerate(as_completed(futures), start=1):
            if stage:
                advance(stage, done, len(jobs))
        return [f.result() for f in futures]
