"""Errors a user can act on.

Every failure caused by the user's input is a :class:`TextmineError` that names
where the problem is (file, row, column) and what to do about it.  The CLI
prints ``str(error)`` and exits non-zero without a traceback.
"""
from __future__ import annotations

import re
from pathlib import Path

# Control characters (C0, DEL, C1) and the line and paragraph separators: a file name holding one (a
# newline, an ANSI escape) must not break a message's line or drive the terminal.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape(text: str) -> str:
    """``text`` with every control character shown as an escape (\\n, \\x1b): safe in one line."""
    return _CONTROL.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), str(text))


class TextmineError(Exception):
    """An input or configuration problem the user can fix."""

    def __init__(
        self,
        problem: str,
        *,
        file: str | Path | None = None,
        row: int | None = None,
        column: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.problem = problem
        self.file = str(file) if file is not None else None
        self.row = row
        self.column = column
        self.fix = fix
        super().__init__(self._render())

    def _render(self) -> str:
        """One line of problem (its place first) and one of what to do; whatever the parts hold (a file
        name with a newline or an ANSI escape), control characters are shown escaped."""
        where = []
        if self.file:
            where.append(escape(self.file))
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{escape(self.column)}'")
        problem = escape(self.problem)
        text = (": ".join([", ".join(where), problem]) if where else problem)
        if self.fix:
            text += f"\n  what to do: {escape(self.fix)}"
        return text

    def __reduce__(self):  # keep the fields when Prefect pickles the exception
        return (_rebuild, (type(self), self.problem, self.file, self.row, self.column, self.fix))


def _rebuild(cls, problem, file, row, column, fix):
    return cls(problem, file=file, row=row, column=column, fix=fix)


class CorpusError(TextmineError):
    """The corpus cannot be read as given."""


class ConfigError(TextmineError):
    """The configuration or profile is invalid."""
