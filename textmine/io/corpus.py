"""Corpus ingestion: files in, one normalised table of opinions out (docs/contract.md §1).

``load_corpus`` reads a file or a folder of csv/tsv/xlsx/xls/jsonl/json/parquet/txt/hwpx/hwp
files (and their .gz), detects each text file's encoding (UTF-8 with or without BOM,
UTF-16 with or without BOM, CP949/EUC-KR) and a .csv's delimiter (``,`` ``;`` tab ``|``),
maps Korean or English column names to id/year/text, carries the other columns through
as metadata, normalises the text and flags empty, duplicate, too-short and non-Korean
opinions.  Anything it cannot read raises a :class:`~textmine.core.errors.CorpusError` naming
the file, row and column and the fix.

Nothing is skipped silently.  Every file under a corpus folder is either read (listed in
``Corpus.files`` with its format, encoding, rows and opinions), not read (listed in
``Corpus.skipped`` with the reason: an unsupported format, a symlink that leads outside the
folder...), or ignored as not being opinions (``Corpus.ignored``: the metadata beside the
data -- ``truth.json``, ``corpus.toml``, ``profile.toml`` and the dictionary it names,
``README*`` -- hidden files and folders, and Office lock files ``~$...``).
``Corpus.files_report()`` (the manifest, ``textmine validate``) lists the read and the
unread files, each with a ``status``; the ignored ones are listed by ``validate`` only.

Texts are kept as written apart from normalisation (NFC, control and zero-width
characters including NUL removed, whitespace collapsed).  A text with too little Hangul --
Hanja-only, emoji-only, English -- is kept but flagged ``is_non_korean`` (its share of
Hangul among letters is below ``korean_min_ratio``; emoji are not letters, so an emoji-only
text has a share of 0).

Resource limits: every file's data (after decompressing a .gz, or inside an .xlsx/.hwpx
zip or an .hwp) is capped at ``MAX_DECOMPRESSED_MB``, a cell at ``MAX_CELL_CHARS``
characters and a sheet, document table or Parquet file at ``MAX_SHEET_CELLS`` cells; past a cap the
file is refused with a message naming the limit.  A corpus config object may override
them with attributes of the same names in lower case (``max_decompressed_mb``,
``max_cell_chars``, ``max_sheet_cells``).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from textmine.core.config import CorpusConfig
from textmine.core.errors import CorpusError
from textmine.core.files import file_digest
from textmine.io.columns import ColumnMapping, locate_header, map_columns
from textmine.io.decode import Limits
from textmine.io.readers import _TOO_DEEP, READERS, _Context, _file_year, file_format
from textmine.io.scan import FileReport, _no_files_error, read_corpus_toml, scan_corpus
from textmine.text.normalize import _is_missing, _text_or, hangul_ratios, normalize_text


YEAR_MIN, YEAR_MAX = 1900, 2100


# What parse_year accepts (after NFKC): a year, or a real date (all of it is checked).
_PLAIN_YEAR_RE = re.compile(r"^(\d{4})(?:\.0+)?\s*(?:년도?)?$")


_DECIMAL_YEAR_RE = re.compile(r"^(\d{4})\.(\d+)$")


_RANGE_RE = re.compile(r"^(\d{4})\s*(?:년도?)?\s*([-~–—/])\s*(\d{4}|\d{2})\s*(?:년도?)?$")


_SEP_DATE_RE = re.compile(r"^(\d{4})\s*([-./])\s*(\d{1,2})\s*(?:\2\s*(\d{1,2}))?\s*\.?(?:[\sT]\d.*)?$")


_KO_DATE_RE = re.compile(r"^(\d{4})\s*년\s*(\d{1,2})\s*월(?:\s*(\d{1,2})\s*일)?(?:\s.*)?$")


_COMPACT_DATE_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:[\sT]\d.*)?$")


@dataclass
class Corpus:
    """All opinions of a corpus, one row each, with quality flags.

    ``docs`` columns: doc_id, year, text, source_file, source_row, the flags
    is_empty / is_duplicate / is_too_short / is_non_korean, and any metadata.
    ``files`` are the files read; ``skipped`` the files found but not read (status
    "unread", with the reason); ``ignored`` the metadata, hidden and lock files
    (``{"path", "reason"}``) that are not opinions.
    """

    root: Path
    docs: pd.DataFrame
    files: list[FileReport]
    metadata_columns: list[str]
    skipped: list[FileReport] = field(default_factory=list)
    ignored: list[dict[str, str]] = field(default_factory=list)
    cache: str = "off"  # how it was read: "hit" (from run.cache_dir), "miss" (read and stored) or "off"

    def modelling_docs(self) -> pd.DataFrame:
        """The opinions that go into the models: not empty and not an exact duplicate."""
        keep = ~(self.docs["is_empty"] | self.docs["is_duplicate"])
        return self.docs.loc[keep].reset_index(drop=True)

    def counts(self) -> dict[str, Any]:
        d = self.docs
        return {
            "rows_read": int(len(d)),
            "empty_dropped": int(d["is_empty"].sum()),
            "duplicates_dropped": int(d["is_duplicate"].sum()),
            "too_short": int(d["is_too_short"].sum()),
            "non_korean": int(d["is_non_korean"].sum()),
            "modelled": int((~(d["is_empty"] | d["is_duplicate"])).sum()),
        }

    def files_report(self) -> list[dict[str, Any]]:
        """Every data file found: the read ones, then the unread ones, each with its ``status``."""
        return [asdict(f) for f in self.files + self.skipped]

    def skipped_files(self) -> list[dict[str, Any]]:
        """The files found but not read, with ``path``, ``format`` and ``reason`` (to warn about)."""
        return [asdict(f) for f in self.skipped]


class YearError(ValueError):
    """A year or date cell that does not hold exactly one year: what is wrong and the fix."""

    def __init__(self, problem: str, fix: str = "write a four-digit year such as 2019 (or a date such as 2019-05-31)"):
        super().__init__(problem)
        self.problem = problem
        self.fix = fix


def _checked_year(year: int) -> int:
    if not YEAR_MIN <= year <= YEAR_MAX:
        raise YearError(f"is not a year between {YEAR_MIN} and {YEAR_MAX}")
    return year


def _checked_date(year: int, month: int, day: int | None) -> int:
    try:
        dt.date(year, month, day or 1)
    except ValueError:
        what = f"month {month}" if not 1 <= month <= 12 else f"day {day}"
        raise YearError(f"is not a valid date ({what})",
                        fix="write a real date such as 2019-05-31, or the year alone") from None
    return _checked_year(year)


def parse_year(value: Any, *, from_date: bool) -> int | None:
    """The one year a year cell (2019, '2019년', 2019.0) or a date cell holds; None for an empty cell.

    Raises :class:`YearError` (a ValueError) for anything else, saying what is wrong: not a
    year ('2O19'), a range of years ('2019-2020', '2020-21'), not a whole year ('2019.5' in
    a year column; 2019.5 as a number anywhere), not a real date ('2019-13-45').  Dates keep
    working: 2019-05-31, 2019.05.31, 2019/5/31, 2019년 5월 31일, 20190531, 2019-05.
    """
    if _is_missing(value):
        return None
    if isinstance(value, (dt.date, pd.Timestamp)) or (hasattr(value, "year") and not isinstance(value, str)):
        return _checked_year(int(value.year))  # datetime/Timestamp from Excel
    if isinstance(value, bool):
        raise YearError("is not a year")
    if isinstance(value, float) and not value.is_integer():
        raise YearError("is not a whole year")
    if isinstance(value, (int, float)):
        return _checked_year(int(value))
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if not text:
        return None
    if match := _PLAIN_YEAR_RE.match(text):
        return _checked_year(int(match.group(1)))
    if match := _RANGE_RE.match(text):
        first, sep, second = int(match.group(1)), match.group(2), match.group(3)
        # 2019-2020, 2019~20, 2020-21 are ranges; 2019-05 is a month and 2019-13 a bad one (below)
        if len(second) == 4 or sep not in "-/" or int(second) > max(12, first % 100):
            raise YearError("is a range of years; write one year",
                            fix="write the one year the opinion belongs to, e.g. 2019")
    if not from_date and _DECIMAL_YEAR_RE.match(text):
        raise YearError("is not a whole year")
    if match := _SEP_DATE_RE.match(text):
        day = match.group(4)
        return _checked_date(int(match.group(1)), int(match.group(3)), int(day) if day else None)
    if match := _KO_DATE_RE.match(text):
        day = match.group(3)
        return _checked_date(int(match.group(1)), int(match.group(2)), int(day) if day else None)
    if match := _COMPACT_DATE_RE.match(text):
        return _checked_date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    raise YearError("is not a year" + (" or a date with a year" if from_date else ""))


def _checked_cell(value: Any, where: str, row: int, column: str, limits: Limits) -> Any:
    if isinstance(value, str) and len(value) > limits.max_cell_chars:
        raise CorpusError(f"the cell holds {len(value):,} characters, more than the limit of "
                          f"{limits.max_cell_chars:,}", file=where, row=row, column=column,
                          fix="check that the file is split into cells correctly (quoting), shorten the text, "
                              "or raise corpus.max_cell_chars")
    return value


def _table_rows(frame: pd.DataFrame, mapping: ColumnMapping, where: str, fallback_year: tuple[int, str] | None,
                line_numbers: pd.Series | None, limits: Limits | None = None) -> pd.DataFrame:
    limits = limits or Limits.from_config(None)
    n = len(frame)
    # Spreadsheet-style row numbers: the header is row 1; line-based formats use line numbers.
    rows = line_numbers.tolist() if line_numbers is not None else list(range(2, n + 2))
    texts = []
    for value, row in zip(frame[mapping.text].tolist(), rows):
        if isinstance(value, (dict, list)):
            raise CorpusError(f"the opinion is a JSON {'object' if isinstance(value, dict) else 'list'}, not text",
                              file=where, row=row, column=mapping.text, fix=_TOO_DEEP)
        texts.append(normalize_text(_checked_cell(value, where, row, mapping.text, limits)))
    years: list[int | None] = []
    source_col = mapping.year if mapping.year is not None else mapping.date
    for value, row, text in zip(frame[source_col].tolist() if source_col else [None] * n, rows, texts):
        if source_col is None:
            years.append(fallback_year[0])
            continue
        try:
            year = parse_year(value, from_date=mapping.year is None)
        except YearError as exc:
            raise CorpusError(f"'{value}' {exc.problem}", file=where, row=row, column=source_col,
                              fix=exc.fix) from None
        if year is None:
            if text:
                raise CorpusError(
                    "the year is missing for this opinion", file=where, row=row, column=source_col,
                    fix="fill in the year, or delete the row",
                )
            year = -1  # a blank row: flagged empty below and dropped
        years.append(year)
    columns = {
        "source_id": [_text_or(v, "").strip() for v in frame[mapping.id].tolist()] if mapping.id else [""] * n,
        "year": years,
        "text": texts,
        "source_file": [where] * n,
        "source_row": rows,
    }
    if mapping.date is not None:
        columns["date"] = [_text_or(v, None) for v in frame[mapping.date].tolist()]
    for col in mapping.metadata:
        columns[col] = [_text_or(_checked_cell(v, where, row, col, limits), None)
                        for v, row in zip(frame[col].tolist(), rows)]
    # One frame from all the columns at once: inserting them one by one is quadratic in the columns
    # (a 2,000-column table took 17 s, 10,000 columns minutes).
    return pd.DataFrame(columns)


def load_corpus(path: str | Path, config: CorpusConfig | None = None) -> Corpus:
    """Read every opinion of a corpus; flags (not drops) empty/duplicate/short/non-Korean texts."""
    config = config or CorpusConfig()
    root = Path(path)
    found = scan_corpus(root)
    if not found.readable:
        raise _no_files_error(found)
    files = found.readable
    overrides = read_corpus_toml(root)
    for key in ("id_col", "year_col", "text_col", "date_col"):
        if getattr(config, key):
            overrides[key] = getattr(config, key)  # command line beats corpus.toml
    ctx = _Context(limits=Limits.from_config(config), overrides=overrides)

    frames: list[pd.DataFrame] = []
    reports: list[FileReport] = []
    for file in files:
        # Errors name the file as the user can open it (the corpus path they gave + the file);
        # tables and ids use the path inside the corpus.
        display = str(file)
        relative = file.relative_to(root).as_posix() if root.is_dir() else file.name
        fmt = file_format(file)
        result = READERS[fmt](file, ctx)
        report = FileReport(path=relative, format=fmt.lstrip("."), encoding=result.encoding, rows=0,
                            sha256=file_digest(file), delimiter=result.delimiter, notes=list(result.notes))
        for sheet, frame in result.tables:
            where = f"{display}[{sheet}]" if sheet else display
            fallback = None
            if sheet and (y := _file_year(Path(sheet))) is not None:
                fallback = (y, "sheet name")
            elif (y := _file_year(file)) is not None:
                fallback = (y, "file name")
            if frame.empty:
                raise CorpusError("the file has a header but no rows", file=where,
                                  fix="remove it or add opinions to it")
            line_numbers = frame.pop("__line") if "__line" in frame.columns else None
            if line_numbers is None:
                frame, line_numbers = locate_header(frame, overrides)
            if result.year_from_name_only and fallback is None:
                if fmt == ".txt":
                    problem, fix = ("a .txt corpus file takes its year from its name, and this name has no year",
                                    "rename it after its year, e.g. 2019.txt")
                else:
                    problem = ("the document has no opinion table with a year column, so its year must come from "
                               "its name, and this name has no year")
                    fix = (f"put the year in the file name (e.g. 개선조치의견서_2019{fmt}), or give the opinions a "
                           "table with a header row holding a year column (연도)")
                raise CorpusError(problem, file=display, fix=fix)
            mapping = map_columns(frame, overrides, where, fallback, example=f"2019{fmt}")
            rows = _table_rows(frame, mapping, where, fallback, line_numbers, ctx.limits)
            rows["source_file"] = f"{relative}[{sheet}]" if sheet else relative
            frames.append(rows)
            report.tables[sheet or "-"] = mapping
            report.rows += len(frame)
            report.opinions += int((rows["text"] != "").sum())
        reports.append(report)

    docs = pd.concat(frames, ignore_index=True)
    if docs.empty:
        raise CorpusError("the corpus has no rows", file=root, fix="add opinions to the files")
    docs["doc_id"] = _unique_ids(docs)
    docs["is_empty"] = docs["text"] == ""
    docs["is_duplicate"] = docs.duplicated(subset=["year", "text"], keep="first") & ~docs["is_empty"]
    docs["is_too_short"] = ~docs["is_empty"] & (docs["text"].str.len() < config.min_chars)
    docs["is_non_korean"] = ~docs["is_empty"] & (hangul_ratios(docs["text"].tolist()) < config.korean_min_ratio)
    if not (~docs["is_empty"]).any():
        raise CorpusError("every opinion in the corpus is empty", file=root,
                          fix="check that the text column holds the opinions (--text-col)")
    docs["year"] = docs["year"].astype(int)
    metadata = [c for c in docs.columns if c not in CORE_COLUMNS]
    docs = docs[CORE_COLUMNS + metadata]
    return Corpus(root=root, docs=docs, files=reports, metadata_columns=metadata,
                  skipped=found.unread, ignored=found.ignored)


CORE_COLUMNS = ["doc_id", "year", "text", "source_file", "source_row", "source_id",
                "is_empty", "is_duplicate", "is_too_short", "is_non_korean"]


def _unique_ids(docs: pd.DataFrame) -> list[str]:
    """Source ids where they are unique across the corpus, else prefixed by file.

    Yearly files often number their rows from 1 (연번), so ids collide across
    files; ``file/id`` keeps them traceable to the row a user can open.
    """
    ids = docs["source_id"].where(docs["source_id"] != "", None)
    fallback = docs["source_file"] + ":" + docs["source_row"].astype(str)
    ids = ids.fillna(fallback)
    if ids.duplicated().any():
        ids = docs["source_file"] + "/" + ids
        ids = ids.where(~ids.duplicated(keep=False), fallback)
    return ids.tolist()


def yearly_quality_table(corpus: Corpus) -> pd.DataFrame:
    """Per-year counts for ``textmine validate``."""
    d = corpus.docs[corpus.docs["year"] >= 0]
    nonempty_chars = d["text"].str.len()
    table = d.assign(chars=nonempty_chars).groupby("year").agg(
        documents=("doc_id", "size"),
        characters=("chars", "sum"),
        mean_chars=("chars", "mean"),
        empty=("is_empty", "sum"),
        duplicate=("is_duplicate", "sum"),
        too_short=("is_too_short", "sum"),
        non_korean=("is_non_korean", "sum"),
    )
    table["mean_chars"] = table["mean_chars"].round(0).astype(int)
    table.loc["total"] = table.sum(numeric_only=True)
    table.loc["total", "mean_chars"] = int(round(d["text"].str.len().mean()))
    return table.astype(int)
