"""Which columns of a table hold the id, year, date and text: recognised from Korean or English headers
(or named by the user), the header row found when a sheet starts with a title."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import pandas as pd

from textmine.core.errors import CorpusError
from textmine.text.normalize import _is_missing, _text_or


# Column names recognised without flags, in order of preference.  Names are
# compared after lower-casing and removing spaces, underscores and hyphens.
ID_NAMES = ["연번", "번호", "순번", "일련번호", "문서번호", "의견번호", "id", "docid", "no", "number"]


YEAR_NAMES = ["연도", "년도", "평가연도", "평가년도", "사업연도", "year"]


DATE_NAMES = ["날짜", "일자", "평가일", "평가일자", "작성일", "작성일자", "등록일", "date", "startdate"]


TEXT_NAMES = [
    "평가의견", "개선의견", "개선조치의견", "개선조치의견서", "의견", "의견내용", "내용", "본문",
    "텍스트", "text", "opinion", "content", "body",
]


_MANGLED_RE = re.compile(r"^(.*)\.(\d+)$")  # pandas' name for a repeated header: 의견, 의견.1


@dataclass
class ColumnMapping:
    id: str | None
    year: str | None
    text: str
    date: str | None
    metadata: list[str]
    year_from: str  # "column", "date", "file name" or "sheet name"


def _norm_name(name: Any) -> str:
    text = unicodedata.normalize("NFC", str(name)).replace("\ufeff", "")
    return re.sub(r"[\s_\-]+", "", text).lower()


def _dedupe_names(names: list[Any]) -> list[Any]:
    """Repeated header names made unique as pandas does: 의견, 의견.1, 의견.2."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        key = str(name)
        if key in seen:
            seen[key] += 1
            out.append(f"{key}.{seen[key]}")
        else:
            seen[key] = 0
            out.append(name)
    return out


def _pick(columns: list[Any], names: list[str]) -> Any | None:
    by_norm = {}
    for col in columns:
        by_norm.setdefault(_norm_name(col), col)
    for name in names:
        if name in by_norm:
            return by_norm[name]
    return None


def _recognised(columns: list[Any], names: list[str]) -> list[Any]:
    """Every column whose name is one of ``names``, a repeated header (의견.1 beside 의견) included."""
    wanted = set(names)
    plain = {str(c) for c in columns}
    out = []
    for col in columns:
        base = _MANGLED_RE.match(str(col))
        if _norm_name(col) in wanted or (base and base.group(1) in plain and _norm_name(base.group(1)) in wanted):
            out.append(col)
    return out


def _one(columns: list[Any], names: list[str], role: str, where: str) -> Any | None:
    """The recognised column for a role, or an error when two are recognised (no silent choice)."""
    found = _recognised(columns, names)
    if len(found) > 1:
        shown = " and ".join(f"'{c}'" for c in found)
        base = _MANGLED_RE.match(str(found[1]))
        if base and base.group(1) == str(found[0]):
            shown = f"'{found[0]}' (twice: the second is read as '{found[1]}')"
        raise CorpusError(
            f"two {role} columns are recognised: {shown}", file=where, column=str(found[1]),
            fix=f"pick one with --{role}-col NAME (or {role}_col in corpus.toml); the other is then kept as metadata",
        )
    return found[0] if found else None


def _explicit(columns: list[Any], wanted: str | None, role: str, where: str) -> Any | None:
    if wanted is None:
        return None
    for col in columns:
        if str(col) == wanted or _norm_name(col) == _norm_name(wanted):
            return col
    raise CorpusError(
        f"the {role} column '{wanted}' is not in the file",
        file=where, column=wanted,
        fix=f"the columns are: {', '.join(map(str, columns))}; pass the right one with --{role}-col or corpus.toml",
    )


def locate_header(frame: pd.DataFrame, overrides: dict[str, str | None],
                  max_rows: int = 10) -> tuple[pd.DataFrame, pd.Series | None]:
    """Find the header row of a sheet that opens with a title or notes above it.

    Government spreadsheets often start with a title row ("2019년 대학일자리플러스센터
    평가의견") or merged cells; when the first row has no recognised text column,
    the first of the next rows that has one becomes the header.  Returns the
    frame below that row and the spreadsheet row numbers of its rows.
    """
    wanted = {_norm_name(n) for n in TEXT_NAMES}
    if overrides.get("text_col"):
        wanted = {_norm_name(overrides["text_col"])}
    if any(_norm_name(c) in wanted for c in frame.columns):
        return frame, None
    for i in range(min(max_rows, len(frame))):
        values = [v for v in frame.iloc[i].tolist()]
        if any(_norm_name(v) in wanted for v in values if not _is_missing(v)):
            body = frame.iloc[i + 1:].copy()
            body.columns = _dedupe_names([_text_or(v, f"열{j + 1}") for j, v in enumerate(values)])
            body = body.dropna(how="all")
            # The file's header is row 1, so frame row i is spreadsheet row i + 2 and data starts below it.
            rows = pd.Series([int(k) + 2 for k in body.index], index=body.index)
            return body.reset_index(drop=True), rows.reset_index(drop=True)
    return frame, None


def map_columns(frame: pd.DataFrame, overrides: dict[str, str | None], where: str,
                fallback_year: tuple[int, str] | None, example: str = "2019.csv") -> ColumnMapping:
    columns = list(frame.columns)
    text_col = _explicit(columns, overrides.get("text_col"), "text", where) or _one(columns, TEXT_NAMES, "text", where)
    if text_col is None:
        lengths = {c: frame[c].astype(str).str.len().mean() for c in columns
                   if not pd.api.types.is_numeric_dtype(frame[c])}
        longest = max(lengths, key=lengths.get) if lengths else None
        hint = f" (the longest texts are in '{longest}')" if longest is not None else ""
        raise CorpusError(
            f"no opinion text column found among: {', '.join(map(str, columns))}{hint}",
            file=where,
            fix="name the text column with --text-col NAME or text_col in corpus.toml "
                "(recognised names: 평가의견, 의견, 개선의견, 내용, text...)",
        )
    id_col = _explicit(columns, overrides.get("id_col"), "id", where) or _pick(columns, ID_NAMES)
    year_col = _explicit(columns, overrides.get("year_col"), "year", where)
    date_col = _explicit(columns, overrides.get("date_col"), "date", where)
    if year_col is None and date_col is None:
        year_col = _one(columns, YEAR_NAMES, "year", where)
        if year_col is None:
            date_col = _one(columns, DATE_NAMES, "date", where)  # the year comes from it: no silent choice
        else:
            date_col = _pick(columns, DATE_NAMES)  # carried for finer time units only
    if year_col is not None:
        year_from = "column"
    elif date_col is not None:
        year_from = "date"
    elif fallback_year is not None:
        year_from = fallback_year[1]
    else:
        raise CorpusError(
            f"no year or date column found among: {', '.join(map(str, columns))}",
            file=where,
            fix=f"name it with --year-col/--date-col or corpus.toml, or put the year in the file name (e.g. {example})",
        )
    used = {c for c in (id_col, year_col, date_col, text_col) if c is not None}
    metadata = [str(c) for c in columns if c not in used and not str(c).startswith("__")]
    return ColumnMapping(
        id=None if id_col is None else str(id_col), year=None if year_col is None else str(year_col),
        text=str(text_col), date=None if date_col is None else str(date_col), metadata=metadata, year_from=year_from,
    )
