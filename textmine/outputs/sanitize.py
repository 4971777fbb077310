"""Spreadsheet-bound text made inert: CSV/formula injection (OWASP "CSV Injection").

Excel and LibreOffice treat a cell that begins with ``=``, ``+``, ``-`` or ``@`` as a
formula, also when it comes from a CSV file, and a leading tab or carriage return
can hide such a cell's start from a reader.  An opinion or petition that begins with
``=HYPERLINK("http://...","클릭")`` would be a live link (or worse, ``=cmd|...`` DDE
payloads in old Excel) in ``summary.xlsx`` and in every CSV of the run folder that an
analyst double-clicks.  The full-width forms (``＝ ＋ － ＠``) count too, on the safe side:
NFKC normalisation and East Asian input tools turn them into the ASCII ones.

:func:`neutralize_cell` prefixes such a text with a single quote ``'``: what OWASP
recommends, and what Excel itself uses to mark "this is text" (typed into a cell, the
quote is hidden and the rest is shown as plain text; in a CSV it stays visible, which
is the price of safety).  Every writer of a spreadsheet-bound file calls
:func:`neutralize_frame` (``RunFolder.write_csv``, ``report.write_xlsx``).

What is and is not changed:

- only strings: numbers stay numbers, so a share of ``-0.5`` or a topic ``-1`` in a
  numeric column is written as a number and is not a formula;
- only object/string columns of a frame (never numeric, boolean or datetime ones);
- a number *written as text* in a text column (``"-1"``, ``"+82 10 ..."``) is
  neutralized too: in a text column it is text, and the safe side is to keep it text;
- leading spaces are not relied on to protect a cell (programs differ in trimming
  them), so a formula character after leading spaces counts too;
- a text already starting with ``'`` is left alone, so neutralizing twice (a CSV
  written, read back and written into the xlsx) adds one quote, not two;
- for CSV only, a carriage return inside a text becomes a line feed (see
  :func:`neutralize_frame`), since an unquoted one would start a new row.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

# ASCII formula starters, the control characters OWASP lists (and the line feed a carriage
# return becomes in a CSV), and the full-width forms.
FORMULA_START = frozenset("=+-@\t\r\n" + "\uff1d\uff0b\uff0d\uff20")
QUOTE = "'"


def is_dangerous(value: Any) -> bool:
    """Whether ``value`` is a string a spreadsheet could read as a formula."""
    if not isinstance(value, str):
        return False
    stripped = value.lstrip(" \u00a0\u3000")  # "  =1+1": a program that trims spaces sees "=1+1"
    return bool(stripped) and stripped[0] in FORMULA_START


def neutralize_cell(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is a string starting with a formula character;
    anything else (numbers, None, NaN, other strings) unchanged."""
    return QUOTE + value if is_dangerous(value) else value


def _is_text_column(series: pd.Series) -> bool:
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _is_text_column(pd.Series(dtype.categories))
    return pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)


def _csv_cell(value: Any) -> Any:
    if isinstance(value, str) and "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return neutralize_cell(value)


def _needs_csv_change(value: Any) -> bool:
    return is_dangerous(value) or (isinstance(value, str) and "\r" in value)


def neutralize_frame(frame: pd.DataFrame | None, *, csv: bool = False) -> pd.DataFrame | None:
    """A copy of ``frame`` with every string cell of its text columns neutralized, and its
    column names too; numeric columns are never touched.  ``None`` passes through.

    ``csv``: also turn carriage returns inside text into line feeds.  Python's csv writer (and
    pandas' ``to_csv``) with ``\n`` line endings leaves a field holding a bare ``\r`` unquoted,
    and a spreadsheet starts a new row at it: ``"note\r=HYPERLINK(...)"`` would put a formula at
    the start of a line.  A field with ``\n`` is quoted, so the cell stays one cell."""
    if frame is None:
        return None
    needs, change = (_needs_csv_change, _csv_cell) if csv else (is_dangerous, neutralize_cell)
    out = frame.copy()
    for i in range(out.shape[1]):
        series = out.iloc[:, i]
        if not _is_text_column(series):
            continue
        if isinstance(series.dtype, pd.CategoricalDtype):
            series = series.astype(object)
        if series.map(needs, na_action="ignore").fillna(False).astype(bool).any():
            out.isetitem(i, series.map(change, na_action="ignore"))
    if any(is_dangerous(c) for c in out.columns):
        out.columns = [neutralize_cell(c) for c in out.columns]
    return out


def restore_cell(value: Any) -> Any:
    """The text before :func:`neutralize_cell`: for readers of the run folder's CSVs that are not
    spreadsheets (report.html, a later run reading topics.csv), so the quote is not shown or carried
    on.  Only a quote followed by a formula character is removed; a text that really began with
    ``'=`` loses its quote too, which is the one ambiguity of the OWASP prefix."""
    if isinstance(value, str) and value.startswith(QUOTE) and is_dangerous(value[1:]):
        return value[1:]
    return value


def restore_frame(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    """A copy of ``frame`` with :func:`restore_cell` applied to its text columns and column names."""
    if frame is None:
        return None
    out = frame.copy()
    for i in range(out.shape[1]):
        series = out.iloc[:, i]
        if _is_text_column(series):
            if isinstance(series.dtype, pd.CategoricalDtype):
                series = series.astype(object)
            out.isetitem(i, series.map(restore_cell, na_action="ignore"))
    out.columns = [restore_cell(c) for c in out.columns]
    return out
