"""One reader per corpus file format (``READERS``): csv/tsv (delimiter sniffed), xlsx/xls, jsonl/json, parquet,
txt and the Korean word-processor documents (hwpx/hwp), each returning a table of rows and what it read."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from textmine.core.errors import CorpusError
from textmine.io.columns import TEXT_NAMES, _dedupe_names, _norm_name, locate_header
from textmine.io.decode import Limits, _check_zip, _decode, read_bytes
from textmine.io.officedocs import OLE_MAGIC, read_document
from textmine.text.normalize import _is_missing


DELIMITERS = ",;\t|"  # what a .csv may be separated by (a .tsv is always tab-separated)


_FILENAME_YEAR_RE = re.compile(r"(?<!\d)(19\d{2}|20\d{2})(?!\d)")


@dataclass
class _Read:
    """What a reader got from a file: its tables (sheet or table name, frame) and how."""

    tables: list[tuple[str, pd.DataFrame]]
    encoding: str | None = None
    delimiter: str | None = None
    notes: list[str] = field(default_factory=list)
    year_from_name_only: bool = False  # .txt and paragraph documents: the year must be in the file name


@dataclass
class _Context:
    limits: Limits
    overrides: dict[str, str | None]


def file_format(path: Path) -> str:
    """The data format of a file: its suffix, looking through a .gz (opinions.csv.gz -> .csv)."""
    suffixes = [x.lower() for x in path.suffixes]
    if suffixes and suffixes[-1] == ".gz" and len(suffixes) >= 2:
        return suffixes[-2]
    return path.suffix.lower()


def _file_year(path: Path) -> int | None:
    years = _FILENAME_YEAR_RE.findall(path.name.split(".")[0])
    return int(years[-1]) if len(set(years)) == 1 else None


def sniff_delimiter(text: str) -> str:
    """The delimiter of a CSV text: csv.Sniffer on its first lines, among , ; tab |; comma when unsure."""
    sample = text[:65536]
    if len(text) > len(sample) and "\n" in sample:
        sample = sample[: sample.rfind("\n")]  # whole lines only
    lines = [line for line in sample.splitlines() if line.strip()][:50]
    if not lines:
        return ","
    try:
        delimiter = csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","
    # The header decides: a delimiter that the first line with any delimiter (the header, or a
    # note above it) lacks, where that line has commas, is a misreading of the texts' own ; or |.
    header = next((line for line in lines if any(d in line for d in DELIMITERS)), "")
    if delimiter != "," and delimiter not in header and "," in header:
        return ","
    return delimiter


def _read_delimited(path: Path, ctx: _Context, sep: str | None) -> _Read:
    text, encoding, notes = _decode(read_bytes(path, ctx.limits.max_bytes), path)
    if not text.strip():
        raise CorpusError("the file is empty", file=path, fix="remove it or add opinions to it")
    sep = sep or sniff_delimiter(text)
    name = {",": "CSV", "\t": "tab-separated", ";": "semicolon-separated", "|": "pipe-separated"}[sep]
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, skip_blank_lines=True)
    except pd.errors.ParserError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise CorpusError(
            f"cannot be parsed as {'TSV' if path.suffix.lower() == '.tsv' else name} ({exc})",
            file=path,
            row=int(line.group(1)) if line else None,
            fix="check the quoting and the number of fields on that line",
        ) from None
    except pd.errors.EmptyDataError:
        raise CorpusError("the file is empty", file=path, fix="remove it or add opinions to it") from None
    return _Read([("", frame)], encoding=encoding, delimiter=sep, notes=notes)


def _blank(value: Any) -> bool:
    return _is_missing(value) or (isinstance(value, str) and not value.strip())


def _frame_from_rows(rows: list[list[Any]]) -> pd.DataFrame | None:
    """A sheet or document table as a frame: first row the header, trailing empty rows and columns cut.

    Empty rows in between are kept, so that frame row i is still spreadsheet row i + 2.
    """
    rows = [list(r) for r in rows]
    while rows and all(_blank(v) for v in rows[-1]):
        rows.pop()
    if not rows:
        return None
    width = max(len(r) for r in rows)
    rows = [r + [None] * (width - len(r)) for r in rows]
    while width and all(_blank(r[width - 1]) for r in rows):
        width -= 1
    rows = [[None if _blank(v) else v for v in r[:width]] for r in rows]
    header = _dedupe_names([f"Unnamed: {i}" if v is None else v for i, v in enumerate(rows[0])])
    return pd.DataFrame(rows[1:], columns=header, dtype=object)


def _cell_value(value: Any) -> Any:
    """A spreadsheet value as pandas would give it: 2019.0 -> 2019, '' -> None."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value == "":
        return None
    return value


def _too_many_cells(path: Path, sheet: str, limits: Limits) -> CorpusError:
    return CorpusError(f"sheet '{sheet}' has more than {limits.max_sheet_cells:,} cells", file=path,
                       fix="split the workbook, delete empty formatted rows and columns, "
                           "or raise corpus.max_sheet_cells")


def _read_xlsx(path: Path, ctx: _Context) -> _Read:
    data = read_bytes(path, ctx.limits.max_bytes)
    if not data[:4] == b"PK\x03\x04":
        raise CorpusError(
            "this is not an Excel workbook (.xlsx files are zip archives)",
            file=path,
            fix="open it in Excel and save as .xlsx, or give it the extension of what it really is (e.g. .csv)",
        )
    _check_zip(data, path, ctx.limits, "workbook")
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    except Exception as exc:  # openpyxl raises many types for damaged workbooks
        raise CorpusError(f"the workbook cannot be read ({exc})", file=path, fix="re-save it from Excel as .xlsx") from None
    tables, notes = [], []
    try:
        for sheet in book.worksheets:
            sheet.reset_dimensions()  # the stored dimension is often wrong; read what is there
            rows: list[list[Any]] = []
            width = 0
            try:
                for row in sheet.iter_rows(values_only=True):
                    width = max(width, len(row))
                    if (len(rows) + 1) * width > ctx.limits.max_sheet_cells:
                        raise _too_many_cells(path, sheet.title, ctx.limits)
                    rows.append([_cell_value(v) for v in row])
            except CorpusError:
                raise
            except Exception as exc:
                raise CorpusError(f"sheet '{sheet.title}' cannot be read ({exc})", file=path,
                                  fix="re-save it from Excel as .xlsx") from None
            frame = _frame_from_rows(rows)
            if frame is None or frame.dropna(how="all").empty:
                notes.append(f"sheet '{sheet.title}' has no rows: nothing read from it")
                continue
            tables.append((str(sheet.title), frame))
        others = [s.title for s in book.chartsheets]
        if others:
            notes.append(f"chart sheet(s) {', '.join(others)}: no cells to read")
    finally:
        book.close()
    if not tables:
        raise CorpusError("the workbook has no rows in any sheet", file=path, fix="remove it or add opinions to it")
    return _Read(tables, notes=notes)


def _read_xls(path: Path, ctx: _Context) -> _Read:
    data = read_bytes(path, ctx.limits.max_bytes)
    if data[:8] != OLE_MAGIC:
        head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
        if data[:4] == b"PK\x03\x04":
            problem, fix = "this is an .xlsx workbook with an .xls name", "rename it to .xlsx"
        elif head.startswith((b"<", b"\xff\xfe<", b"\xfe\xff\x00<")):
            problem = "this is a web page (HTML/XML) saved with an .xls name, as some systems export tables"
            fix = "open it in Excel and save it as .xlsx (or export it as CSV)"
        else:
            problem = "this is not a legacy Excel workbook (.xls files are OLE compound files)"
            fix = "open it in Excel and save as .xlsx, or give it the extension of what it really is (e.g. .csv)"
        raise CorpusError(problem, file=path, fix=fix)
    from python_calamine import CalamineWorkbook, PasswordError

    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    except PasswordError:
        raise CorpusError("the workbook is password-protected", file=path,
                          fix="open it in Excel, remove the password and save it again") from None
    except Exception as exc:  # calamine raises its own errors for damaged files
        raise CorpusError(f"the workbook cannot be read ({exc})", file=path,
                          fix="open it in Excel and save it as .xlsx") from None
    tables, notes = [], []
    try:
        for name in book.sheet_names:
            try:
                sheet = book.get_sheet_by_name(name)
                end = sheet.end
                n_rows, n_cols = (end[0] + 1, end[1] + 1) if end else (0, 0)
                if n_rows * n_cols > ctx.limits.max_sheet_cells:
                    raise _too_many_cells(path, name, ctx.limits)
                rows = sheet.to_python(skip_empty_area=False)
            except CorpusError:
                raise
            except Exception as exc:
                raise CorpusError(f"sheet '{name}' cannot be read ({exc})", file=path,
                                  fix="open it in Excel and save it as .xlsx") from None
            frame = _frame_from_rows([[_cell_value(v) for v in row] for row in rows])
            if frame is None or frame.dropna(how="all").empty:
                notes.append(f"sheet '{name}' has no rows: nothing read from it")
                continue
            tables.append((str(name), frame))
    finally:
        book.close()
    if not tables:
        raise CorpusError("the workbook has no rows in any sheet", file=path, fix="remove it or add opinions to it")
    return _Read(tables, notes=notes)


def _json_object(path: Path, row: int | None) -> Callable[[list[tuple[str, Any]]], dict]:
    """An ``object_pairs_hook`` that refuses a key repeated in one object (json.loads keeps the last)."""

    def hook(pairs: list[tuple[str, Any]]) -> dict:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise CorpusError(f"the key '{key}' appears twice in one record", file=path, row=row, column=key,
                                  fix="keep one of them (JSON keeps only the last, silently)")
            out[key] = value
        return out

    return hook


_TOO_DEEP = "records must be flat objects such as {\"연도\": 2019, \"평가의견\": \"...\"}"


def _read_jsonl(path: Path, ctx: _Context) -> _Read:
    text, encoding, notes = _decode(read_bytes(path, ctx.limits.max_bytes), path)
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line, object_pairs_hook=_json_object(path, number))
        except json.JSONDecodeError as exc:
            raise CorpusError(
                f"line is not valid JSON ({exc.msg} at character {exc.colno})",
                file=path, row=number, fix="each line of a .jsonl file must be one JSON object",
            ) from None
        except RecursionError:
            raise CorpusError("the line is nested too deeply", file=path, row=number, fix=_TOO_DEEP) from None
        if not isinstance(record, dict):
            raise CorpusError("line is not a JSON object", file=path, row=number,
                              fix="each line of a .jsonl file must be an object such as {\"연도\": 2019, \"평가의견\": \"...\"}")
        records.append(record)
    if not records:
        raise CorpusError("the file is empty", file=path, fix="remove it or add opinions to it")
    return _Read([("", pd.DataFrame.from_records(records))], encoding=encoding, notes=notes)


def _read_json(path: Path, ctx: _Context) -> _Read:
    text, encoding, notes = _decode(read_bytes(path, ctx.limits.max_bytes), path)
    if not text.strip():
        raise CorpusError("the file is empty", file=path, fix="remove it or add opinions to it")
    try:
        data = json.loads(text, object_pairs_hook=_json_object(path, None))
    except json.JSONDecodeError as exc:
        raise CorpusError(
            f"not valid JSON ({exc.msg} at line {exc.lineno}, character {exc.colno})",
            file=path, row=exc.lineno, fix="fix the JSON, or use .jsonl with one record per line",
        ) from None
    except RecursionError:
        raise CorpusError("the JSON is nested too deeply", file=path, fix=_TOO_DEEP) from None
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        data = lists[0] if len(lists) == 1 else None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise CorpusError(
            "JSON must be a list of records (objects), or an object holding one such list",
            file=path, fix='write [{"연도": 2019, "평가의견": "..."}, ...]',
        )
    if not data:
        raise CorpusError("the file has no records", file=path, fix="remove it or add opinions to it")
    return _Read([("", pd.DataFrame.from_records(data))], encoding=encoding, notes=notes)


def _read_parquet(path: Path, ctx: _Context) -> _Read:
    data = read_bytes(path, ctx.limits.max_bytes)
    if data[:4] != b"PAR1":
        raise CorpusError(
            "this is not a Parquet file",
            file=path, fix="give the file the extension of what it really is, or re-export it as Parquet",
        )
    try:
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(io.BytesIO(data)).metadata
        if meta.num_rows * meta.num_columns > ctx.limits.max_sheet_cells:
            raise CorpusError(f"the file has {meta.num_rows:,} rows x {meta.num_columns} columns, more than "
                              f"{ctx.limits.max_sheet_cells:,} cells", file=path,
                              fix="split the file, or raise corpus.max_sheet_cells")
        frame = pd.read_parquet(io.BytesIO(data))
    except CorpusError:
        raise
    except Exception as exc:  # pyarrow raises ArrowInvalid/OSError for damaged files
        raise CorpusError(f"the Parquet file cannot be read ({exc})", file=path, fix="re-export it") from None
    if frame.empty:
        raise CorpusError("the file has no rows", file=path, fix="remove it or add opinions to it")
    return _Read([("", frame)])


def _read_txt(path: Path, ctx: _Context) -> _Read:
    text, encoding, notes = _decode(read_bytes(path, ctx.limits.max_bytes), path)
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        raise CorpusError("the file is empty", file=path, fix="remove it or add opinions to it, one per line")
    frame = pd.DataFrame({"text": lines, "__line": range(1, len(lines) + 1)})
    frame = frame[frame["text"].str.strip() != ""]
    return _Read([("", frame)], encoding=encoding, notes=notes, year_from_name_only=True)


def _has_text_column(frame: pd.DataFrame, overrides: dict[str, str | None]) -> bool:
    wanted = {_norm_name(overrides["text_col"])} if overrides.get("text_col") else {_norm_name(n) for n in TEXT_NAMES}
    return any(_norm_name(c) in wanted for c in frame.columns)


def _read_document(path: Path, ctx: _Context) -> _Read:
    """An .hwpx/.hwp document: its tables that have an opinion header, else one opinion per paragraph."""
    fmt = file_format(path)
    doc = read_document(read_bytes(path, ctx.limits.max_bytes), fmt, path,
                        max_bytes=ctx.limits.max_bytes, max_cells=ctx.limits.max_sheet_cells)
    used, other_tables = [], 0
    for number, table in enumerate(doc.tables, start=1):
        frame = _frame_from_rows(table.rows)
        if frame is None:
            continue
        located, _ = locate_header(frame, ctx.overrides)
        if _has_text_column(located, ctx.overrides):
            used.append((f"table {number}", frame))
        else:
            other_tables += 1
    paragraphs = doc.paragraphs
    texts = [p for p in paragraphs if p.strip()]
    notes = []
    if used:
        if texts:
            notes.append(f"{len(texts)} paragraph(s) outside the opinion table(s) not read as opinions "
                         "(title, notes)")
        if other_tables:
            notes.append(f"{other_tables} table(s) without an opinion header row not read")
        return _Read(used, notes=notes)
    if not texts:
        raise CorpusError(
            "the document has no text" + (" outside tables, and no table has an opinion header row"
                                          if doc.tables else ""),
            file=path, fix="give the opinion table a header row (연번, 평가의견...), or name the text column "
                           "with --text-col",
        )
    notes.append("no table with an opinion header row (평가의견, 의견, 내용...): each paragraph read as one opinion")
    if other_tables:
        notes.append(f"{other_tables} table(s) without an opinion header row not read")
    frame = pd.DataFrame({"text": paragraphs, "__line": range(1, len(paragraphs) + 1)})
    frame = frame[frame["text"].str.strip() != ""]
    return _Read([("", frame)], notes=notes, year_from_name_only=True)


READERS: dict[str, Callable[[Path, _Context], _Read]] = {
    ".csv": lambda p, ctx: _read_delimited(p, ctx, None),
    ".tsv": lambda p, ctx: _read_delimited(p, ctx, "\t"),
    ".xlsx": _read_xlsx,
    ".xls": _read_xls,
    ".jsonl": _read_jsonl,
    ".json": _read_json,
    ".parquet": _read_parquet,
    ".txt": _read_txt,
    ".hwpx": _read_document,
    ".hwp": _read_document,
}
