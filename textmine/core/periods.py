"""Periods, the time slices of trajectories and phases (``align.time_unit``): made from the opinions' years
and dates, parsed and ordered, in one place.

A period is a year (the int 2019) or a label of a finer unit: "2019-H1" (half), "2019-Q3" (quarter),
"2019-07" (month).  Labels of one unit sort as text in time order; years sort as numbers.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Sequence

import pandas as pd

from textmine.core.errors import CorpusError

# A date's year and month as the corpus writes them: 2019-05-31, 2019.5.31, 2019년 5월, 20190531.
_DATE_RE = re.compile(r"^\s*(\d{4})\s*(?:[-./년]\s*(\d{1,2})\s*(?:[-./월]\s*(\d{1,2}))?|(\d{2})(\d{2}))")
_HALF = re.compile(r"^(\d{4})-H([12])$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def period_labels(docs: pd.DataFrame, unit: str) -> list:
    """Each opinion's period: its year, or "2019-H1", "2019-Q3", "2019-07" from its date."""
    if unit == "year":
        return docs["year"].astype(int).tolist()
    if "date" not in docs.columns:
        raise CorpusError(
            f"the time unit '{unit}' needs a date for every opinion, and the corpus has no date column",
            fix="name the date column with --date-col (or date_col in corpus.toml), or use --time-unit year",
        )
    out = []
    for value, where, row in zip(docs["date"], docs["source_file"], docs["source_row"]):
        match = _DATE_RE.match(unicodedata.normalize("NFKC", str(value or "")))
        month = match and (match.group(2) or match.group(4))
        if not month or not 1 <= int(month) <= 12:
            raise CorpusError(f"'{value}' has no month, which the time unit '{unit}' needs",
                              file=where, row=row, column="date",
                              fix="give a full date such as 2019-05-31, or use --time-unit year")
        year, month = int(match.group(1)), int(month)
        out.append({"half": f"{year}-H{(month - 1) // 6 + 1}", "quarter": f"{year}-Q{(month - 1) // 3 + 1}",
                    "month": f"{year}-{month:02d}"}[unit])
    return out


def period_year(period) -> int:
    """The calendar year of a period (2019, "2019-H1", "2019-Q3", "2019-07")."""
    return int(str(period)[:4])


def period_parts(period) -> tuple[str, str | None, int | None]:
    """(year, unit within the year or None, its number): 2019 -> ("2019", None, None),
    "2019-H1" -> ("2019", "half", 1), "2019-Q3" -> ("2019", "quarter", 3), "2019-07" -> ("2019", "month", 7);
    anything else -> (its text, None, None)."""
    text = str(period).strip()
    for unit, pattern in (("half", _HALF), ("quarter", _QUARTER), ("month", _MONTH)):
        if m := pattern.match(text):
            return m.group(1), unit, int(m.group(2))
    if re.fullmatch(r"\d{4}(\.0)?", text):
        return text[:4], None, None
    return text, None, None


def period_sort_key(period) -> tuple:
    """Periods of any kind in one order: numbers (years) by value first, then labels as text."""
    text = str(period)
    return (0, float(text), "") if _NUMBER.fullmatch(text) else (1, 0.0, text)


def ordered_periods(periods: Sequence) -> list:
    """The distinct periods in time order (years as numbers; "2019-H1" style labels sort as text); labels
    of mixed kinds keep the documents' (year) order."""
    values = list(dict.fromkeys(periods))
    try:
        return sorted(values)
    except TypeError:
        return values
