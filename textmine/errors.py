"""Errors a user can act on.

Every failure caused by the user's input is a :class:`TextmineError` that names
where the problem is (file, row, column) and what to do about it.  The CLI
prints ``str(error)`` and exits non-zero without a traceback.
"""
from __future__ import annotations

from pathlib import Path


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
        where = []
        if self.file:
            where.append(self.file)
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        text = (": ".join([", ".join(where), self.problem]) if where else self.problem)
        if self.fix:
            text += f"\n  what to do: {self.fix}"
        return text

    def __reduce__(self):  # keep the fields when Prefect pickles the exception
        return (_rebuild, (type(self), self.problem, self.file, self.row, self.column, self.fix))


def _rebuild(cls, problem, file, row, column, fix):
    return cls(problem, file=file, row=row, column=column, fix=fix)


class CorpusError(TextmineError):
    """The corpus cannot be read as given."""


class ConfigError(TextmineError):
    """The configuration or profile is invalid."""
