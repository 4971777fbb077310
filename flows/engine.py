"""Prefect's local (ephemeral) API server, started so that it never outlives textmine.

``textmine run`` without ``PREFECT_API_URL`` runs on a temporary Prefect server that Prefect starts
as a child process.  Two things went wrong with Prefect's defaults (both found by a hostile test):

- Ctrl-C in a terminal sends SIGINT to the whole process group: the server died first and the flow
  retried the dead API for ~2.5 minutes before failing with tracebacks.  The server now runs in its
  own session, so the terminal's SIGINT reaches textmine only, which stops within seconds.
- SIGKILL of textmine left the server listening on 127.0.0.1 forever.  The server now gets a
  parent-death signal (Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)``), so the kernel ends it with us.

This is application-layer wiring (it adjusts how Prefect starts a process); the library never
touches it.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
from urllib.parse import urlparse
from contextlib import contextmanager
from typing import Iterator

from textmine.core.parallel import die_with_parent, load_libc

_installed = False


_libc = None


def _detach_and_die_with_parent(parent_pid: int) -> None:
    """Runs in the server's process between fork and exec (libc is loaded beforehand, in the parent)."""
    os.setsid()  # own session and process group: a terminal's Ctrl-C is not delivered to it
    die_with_parent(_libc, parent_pid, int(signal.SIGKILL))


def guard_ephemeral_server() -> None:
    """Make every temporary Prefect server this process starts detach from the terminal's signals
    and die with this process (idempotent).

    The parent-death signal fires when the *thread* that started the server ends, so the server is
    started from the main thread: Prefect starts it lazily from whichever thread first needs the
    API, and this wrapper pins that to the main thread when it can (the run's own thread otherwise).
    """
    global _installed, _libc
    if _installed or not hasattr(os, "setsid"):
        return
    from prefect.server.api import server

    _libc = load_libc()
    original = server.SubprocessASGIServer._run_uvicorn_command
    lock = threading.Lock()

    def run_uvicorn(self):
        parent = os.getpid()
        real_popen = subprocess.Popen

        def popen(*args, **kwargs):
            return real_popen(*args, preexec_fn=lambda: _detach_and_die_with_parent(parent), **kwargs)

        with lock:
            subprocess.Popen = popen
            try:
                return original(self)
            finally:
                subprocess.Popen = real_popen

    server.SubprocessASGIServer._run_uvicorn_command = run_uvicorn
    _installed = True


def start_ephemeral_server():
    """Start the temporary server now, from the calling (main) thread, unless a server is configured;
    returns it (None when one is configured).  Prefect keeps one per port: a second call returns it."""
    from prefect.settings import get_current_settings

    if get_current_settings().api.url:
        return None
    from prefect.server.api.server import SubprocessASGIServer

    guard_ephemeral_server()
    server = SubprocessASGIServer()
    server.start()
    return server


def _on_this_machine(address: str | None) -> bool:
    """A Dask scheduler address on this machine (none: a local cluster the run starts)."""
    if not address:
        return True
    host = urlparse(address if "://" in address else f"tcp://{address}").hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


@contextmanager
def api_for_workers(task_runner: str, dask_address: str | None) -> Iterator[None]:
    """Worker processes on this machine report to this process's temporary Prefect server.

    Without an API URL every process that runs a task starts a temporary server of its own: each worker
    of the process pool or of a local Dask cluster paid ~15 s (under load) on its first shard, a fixed
    cost that hid the shards' speed-up.  The temporary server is started here and its URL handed to the
    run's settings, which the runners send with each task.  Workers on other machines cannot reach
    127.0.0.1: they keep their own unless PREFECT_API_URL names a server they all reach."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    server = None
    if task_runner != "local" and (task_runner != "dask" or _on_this_machine(dask_address)):
        server = start_ephemeral_server()
    if server is None:
        yield
        return
    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        yield
