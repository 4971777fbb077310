"""Progress of long stages (embedding, model grids, per-year fits), reported to whoever listens.

The library calls :func:`advance` as work gets done; it prints nothing itself.  The application
(the Prefect flow) installs a listener with :func:`listening` that draws a terminal progress bar and
moves the Prefect progress artifact, so both show the same thing.  Without a listener, nothing happens.
Progress reports are also where work stops once the application asked it to (:func:`stop_work`).
"""
from __future__ import annotations

import contextlib
import logging
import threading
from typing import Callable, Iterator

log = logging.getLogger("textmine.core.progress")
Listener = Callable[[str, int, int], None]  # (stage, done, total)
_listeners: list[Listener] = []
_lock = threading.Lock()


_stop = threading.Event()


def stop_work() -> None:
    """Ask every long loop of the library to stop at its next progress report (the application does this
    on Ctrl-C): work running in other threads (per-year fits on a thread pool) does not see the main
    thread's KeyboardInterrupt, and the process would wait for it before exiting."""
    _stop.set()


def allow_work() -> None:
    """Undo :func:`stop_work` (a new run in the same process)."""
    _stop.clear()


def check_stop(what: str = "") -> None:
    """Raise KeyboardInterrupt once :func:`stop_work` was called (a loop's stop point that reports nothing)."""
    if _stop.is_set():
        raise KeyboardInterrupt(f"stopped during {what}" if what else "stopped")


def advance(stage: str, done: int, total: int) -> None:
    """``done`` of ``total`` units of ``stage`` are finished.  Raises KeyboardInterrupt once
    :func:`stop_work` was called: every progress report is a point where work can be stopped."""
    check_stop(stage)
    log.debug("%s: %d/%d", stage, done, total)
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener(stage, done, total)


def add_listener(listener: Listener) -> None:
    """Send progress to ``listener`` for the life of the process (a worker process forwarding its
    progress to the process that started it: textmine.core.parallel)."""
    with _lock:
        _listeners.append(listener)


@contextlib.contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Send progress to ``listener`` for the duration of the block."""
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)


class PeakMemory:
    """Peak resident memory (RSS) of this process and its children, sampled by a daemon thread while
    running: ``with PeakMemory() as peak: ...`` then ``peak.bytes``.  Sampling (every ``interval``
    seconds) can miss a spike shorter than that; the kernel's own high-water mark for this process
    (``ru_maxrss``) covers the lifetime, not one stage, hence the sampler."""

    def __init__(self, interval: float = 0.2):
        self.interval, self.bytes = interval, 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> int:
        import psutil

        try:
            me = psutil.Process()
            total = me.memory_info().rss
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:  # the child ended between listing and reading
                    pass
        except psutil.Error:
            return self.bytes
        self.bytes = max(self.bytes, total)
        return total

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> "PeakMemory":
        self.sample()
        self._thread = threading.Thread(target=self._run, name="textmine-peak-memory", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()
