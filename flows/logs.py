"""Logging of the flows: an input error (or a full disk) is its one-line message, not a traceback, in the
command's output and in Prefect's run logs alike."""
from __future__ import annotations

import errno
import logging
from pathlib import Path

from textmine.core.errors import TextmineError, escape

DISK_ERRORS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
                errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
                errno.EPERM: "permission denied"}


class _NoTracebackForUserErrors(logging.Filter):
    """Prefect logs a failed task's traceback; for input errors and a full disk the message is enough.  The values a
    message interpolates (file names, columns, values read from the corpus) are shown with their
    control characters escaped: a file named with a newline or an ANSI escape cannot forge a line or
    drive the terminal."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        # an input error, or a full disk (main() prints its one line): the message is enough
        if isinstance(exc, TextmineError) or (isinstance(exc, OSError) and exc.errno in DISK_ERRORS):
            record.exc_info = None
            record.exc_text = None
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(escape(a) if isinstance(a, (str, Path)) else a for a in record.args)
        return True


def quiet_user_error_tracebacks() -> None:
    flt = _NoTracebackForUserErrors()
    loggers = [logging.getLogger()] + [logging.getLogger(n) for n in list(logging.root.manager.loggerDict)]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            if flt not in handler.filters:
                handler.addFilter(flt)
