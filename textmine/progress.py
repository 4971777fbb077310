"""Progress of long stages (embedding, model grids, per-year fits), reported to whoever listens.

The library calls :func:`advance` as work gets done; it prints nothing itself.  The application
(the Prefect flow) installs a listener with :func:`listening` that draws a terminal progress bar and
moves the Prefect progress artifact, so both show the same thing.  Without a listener, nothing happens.
"""
from __future__ import annotations

import contextlib
import logging
import threading
from typing import Callable, Iterator

log = logging.getLogger("textmine.progress")
Listener = Callable[[str, int, int], None]  # (stage, done, total)
_listeners: list[Listener] = []
_lock = threading.Lock()


def advance(stage: str, done: int, total: int) -> None:
    """``done`` of ``total`` units of ``stage`` are finished."""
    log.debug("%s: %d/%d", stage, done, total)
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener(stage, done, total)


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
