"""Checks of a running Dask cluster's workers before a run sends them any work.

A worker that cannot import textmine (or the flows, or Prefect) fails every task it is given, and one
that does not see the run's cache folder (``run.cache_dir`` on shared storage) cannot read a shard's
input nor write its result where the flow reads it: either way the run would be lost after its first
sharded stage.  :func:`check_workers` asks every worker (``Client.run``) before the engine starts and
raises one :class:`TextmineError` naming the workers and what they miss.

The probe itself must run on a worker that lacks textmine, so this module is sent to the workers by
value (cloudpickle), and imports nothing of textmine at module level.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

# Modules a worker imports to run a textmine task: the flows' task functions (pickled by reference),
# the library they call, and the engine that wraps them (a folder named textmine without the package
# in it would import as an empty namespace package: a real module of it is imported).
NEEDED_MODULES = ("textmine.shards", "flows.pipeline", "prefect_dask")

# How long to wait for the scheduler (and for at least one worker) before giving up with an error.
CONNECT_SECONDS = 20


def probe(cache_dir: str, marker: str, token: str, modules: tuple[str, ...]) -> dict:
    """On a worker: which of ``modules`` fail to import, and whether ``cache_dir`` is the flow's own
    (the marker file the flow wrote there is read back, with its token) and writable."""
    import importlib
    import os
    import socket

    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - any failure to import is what the check reports
            missing.append(f"{name} ({exc.__class__.__name__}: {exc})")
    path = os.path.join(cache_dir, marker)
    try:
        with open(path, encoding="utf-8") as handle:
            shared = handle.read() == token
    except OSError:
        shared = False
    writable = os.access(cache_dir, os.W_OK | os.X_OK)
    return {"host": socket.gethostname(), "missing": missing, "cache_shared": shared, "cache_writable": writable}


def check_workers(address: str, cache_dir: str | Path) -> int:
    """Ask every worker of the scheduler at ``address``; returns how many there are, or raises one
    TextmineError naming each worker's problem."""
    import cloudpickle
    from distributed import Client

    import flows.workers as this
    from textmine.core.errors import TextmineError

    folder = Path(cache_dir).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    marker, token = f".worker-check-{uuid.uuid4().hex}", uuid.uuid4().hex
    (folder / marker).write_text(token, encoding="utf-8")
    cloudpickle.register_pickle_by_value(this)  # a worker without textmine has no flows.workers either
    try:
        try:
            client = Client(address, timeout=CONNECT_SECONDS, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise TextmineError(f"cannot reach the Dask scheduler at {address} ({exc.__class__.__name__})",
                                fix="start it (`dask scheduler`) or correct run.dask_address") from None
        with client:
            try:
                client.wait_for_workers(1, timeout=CONNECT_SECONDS)
            except TimeoutError:
                raise TextmineError(f"the Dask scheduler at {address} has no workers",
                                    fix=f"start some: `dask worker {address} --nthreads 1`") from None
            answers = client.run(probe, str(folder), marker, token, NEEDED_MODULES)
    finally:
        cloudpickle.unregister_pickle_by_value(this)
        (folder / marker).unlink(missing_ok=True)
    problems = []
    for worker, answer in sorted(answers.items()):
        lacks = []
        if answer["missing"]:
            lacks.append("cannot import " + ", ".join(answer["missing"]))
        if not answer["cache_shared"]:
            lacks.append(f"does not see the cache folder {folder}")
        elif not answer["cache_writable"]:
            lacks.append(f"cannot write to the cache folder {folder}")
        if lacks:
            problems.append(f"worker {worker} on {answer['host']} " + " and ".join(lacks))
    if problems:
        raise TextmineError(f"{len(problems)} of {len(answers)} Dask workers cannot run textmine: "
                            + "; ".join(problems),
                            fix="start every worker with textmine installed (same version as here) and "
                                "run.cache_dir on storage every machine mounts at the same path")
    return len(answers)


def worker_pids(address: str) -> dict[str, int]:
    """The process id of each worker of the scheduler at ``address`` (for tests that end a worker)."""
    from distributed import Client

    with Client(address, timeout=CONNECT_SECONDS, set_as_default=False) as client:
        return client.run(os.getpid)
