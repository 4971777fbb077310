"""Process pools whose workers never outlive the process that started them.

joblib's loky pool keeps idle workers for minutes and, when its parent is killed outright (SIGKILL),
they and their resource trackers were found still running long after (a hostile test's "orphan"
finding).  Here each worker asks the kernel for a parent-death signal as it starts (Linux
``prctl(PR_SET_PDEATHSIG)``; elsewhere the pool is an ordinary one), and the pool is shut down as
soon as its jobs are done.  Nothing of the calling process changes.

:class:`FitTasks` is how the flow lends its task runner (process pool or Dask cluster) to a model's
independent fits, so that they run as tasks there rather than in this process's pool.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable
from textmine.core import progress
from textmine.core.progress import advance

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


def start_worker(parent: int, messages) -> None:
    """Worker initializer (a fresh interpreter: the spawn start method): dies with its parent, leaves
    Ctrl-C to it (a terminal sends SIGINT to the whole process group: the parent ends the workers, and
    no worker prints a traceback of its own), and sends its progress to the parent."""
    die_with_parent(load_libc(), parent, int(signal.SIGTERM))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if messages is not None:
        progress.add_listener(lambda stage, done, total: messages.put((stage, done, total)))


# How long the parent waits for a job at a time before forwarding its workers' progress: the progress
# shown lags the work by at most this much.
PROGRESS_POLL_SECONDS = 0.5


def end_workers(pool: ProcessPoolExecutor) -> None:
    """Stop a pool at once: queued jobs cancelled, running ones ended (a fit in flight is not waited for:
    the LDA grid's took 37 s to stop on Ctrl-C when the pool was shut down the ordinary way)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # CPython's pool: no public handle
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)


def map_in_processes(function: Callable, argument_lists: Iterable[tuple], n_jobs: int, stage: str = "") -> list:
    """``[function(*args) for args in argument_lists]`` in ``n_jobs`` worker processes, in order
    (progress reported as jobs finish, under ``stage``, and the workers' own progress forwarded).
    An exception here (Ctrl-C included) ends the workers at once and is raised."""
    from concurrent.futures import FIRST_COMPLETED, wait

    jobs = list(argument_lists)
    context = multiprocessing.get_context("spawn")
    messages = context.SimpleQueue()
    pool = ProcessPoolExecutor(max_workers=min(n_jobs, len(jobs)), mp_context=context, initializer=start_worker,
                               initargs=(os.getpid(), messages))
    try:
        futures = [pool.submit(function, *args) for args in jobs]
        pending, finished = set(futures), 0
        while pending:
            done, pending = wait(pending, timeout=PROGRESS_POLL_SECONDS, return_when=FIRST_COMPLETED)
            while not messages.empty():  # this process is the queue's only reader
                advance(*messages.get())
            for future in done:
                future.result()  # a failed job fails the map now, not after the others
                finished += 1
                if stage:
                    advance(stage, finished, len(jobs))
        results = [f.result() for f in futures]
    except BaseException:
        end_workers(pool)
        raise
    pool.shutdown()
    return results


@dataclass
class FitTasks:
    """Where a model's independent fits (LDA's k grid candidates and its final seeds) run, as the flow
    sets it for one global fit; the library imports no Prefect, so the flow hands its runner in here.

    ``submit`` (None: the library's own way, in this process or its process pool) runs
    ``function(*arguments)`` for each argument list as a task on the run's runner and returns their
    results in order (small dicts, each with ``seconds``), recording the stage's tasks itself;
    ``record(stage, seconds, how)`` is told the fits' times when the library ran them its own way.
    ``folder``: shared by every worker (the fits' token lists and results are written there);
    ``documents``: the on-disk copy of the documents being fitted (textmine.text.documents.save_documents),
    whose token lists a worker reads from there instead of from a second copy."""

    folder: Path | None = None
    submit: Callable[[str, Callable, list[tuple]], list[dict]] | None = None
    record: Callable[[str, list[float], str], None] | None = None
    documents: str | None = None
