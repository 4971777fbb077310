"""Corpus ingestion: files in, one normalised table of opinions out (docs/contract.md §1).

``load_corpus`` reads a file or a folder of csv/tsv/xlsx/jsonl/json/parquet/txt
files, detects each text file's encoding (UTF-8 with or without BOM, UTF-16,
CP949/EUC-KR), maps Korean or English column names to id/year/text, carries
the other columns through as metadata, normalises the text and flags empty,
duplicate, too-short and non-Korean opinions.  Anything it cannot read raises a
:class:`~textmine.errors.CorpusError` naming the file, row and column and the fix.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
import tomllib
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from textmine.config import CorpusConfig
from textmine.errors import CorpusError

SUPPORTED_SUFFIXES = (".csv", ".tsv", ".xlsx", ".jsonl", ".json", ".parquet", ".txt")
# Files that sit beside the data but are not opinions.
SIDECAR_FILES = {"truth.json", "corpus.toml", "profile.toml", "readme.txt"}

# Column names recognised without flags, in order of preference.  Names are
# compared after lower-casing and removing spaces, underscores and hyphens.
ID_NAMES = ["연번", "번호", "순번", "일련번호", "문서번호", "의견번호", "id", "docid", "no", "number"]
YEAR_NAMES = ["연도", "년도", "평가연도", "평가년도", "사업연도", "year"]
DATE_NAMES = ["날짜", "일자", "평가일", "평가일자", "작성일", "작성일자", "등록일", "date", "startdate"]
TEXT_NAMES = [
    "평가의견", "개선의견", "개선조치의견", "개선조치의견서", "의견", "의견내용", "내용", "본문",
    "텍스트", "text", "opinion", "content", "body",
]

YEAR_MIN, YEAR_MAX = 1900, 2100
_YEAR_RE = re.compile(r"^\s*(\d{4})(?:\.0+)?\s*(?:년도?|년)?\s*$")
_DATE_RE = re.compile(r"^\s*(\d{4})\s*(?:[-./년]\s*(\d{1,2})\s*(?:[-./월]\s*(\d{1,2}))?|(\d{2})(\d{2}))")
_FILENAME_YEAR_RE = re.compile(r"(?<!\d)(19\d{2}|20\d{2})(?!\d)")
_CONTROL_RE = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b-\u200f\u2028\u2029\ufeff]")
_SPACE_RE = re.compile(r"\s+")
_HANGUL_RE = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_LETTER_RE = re.compile(r"[^\W\d_]")


@dataclass
class ColumnMapping:
    id: str | None
    year: str | None
    text: str
    date: str | None
    metadata: list[str]
    year_from: str  # "column", "date", "file name" or "sheet name"


@dataclass
class FileReport:
    path: str
    format: str
    encoding: str | None
    rows: int
    sha256: str
    tables: dict[str, ColumnMapping] = field(default_factory=dict)


@dataclass
class Corpus:
    """All opinions of a corpus, one row each, with quality flags.

    ``docs`` columns: doc_id, year, text, source_file, source_row, the flags
    is_empty / is_duplicate / is_too_short / is_non_korean, and any metadata.
    """

    root: Path
    docs: pd.DataFrame
    files: list[FileReport]
    metadata_columns: list[str]

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
        return [asdict(f) for f in self.files]


# --------------------------------------------------------------------------- text


def _is_missing(value: Any) -> bool:
    """An empty cell, as any reader gives it: None, NaN (csv/xlsx), pd.NA (nullable Parquet columns), NaT.

    Only scalars can be missing: a list or dict cell (from JSON) is a value.
    """
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def _text_or(value: Any, default: Any) -> Any:
    """The cell as text, or ``default`` when it is empty."""
    return default if _is_missing(value) else str(value)


def normalize_text(value: Any) -> str:
    """NFC, no control or zero-width characters, single spaces."""
    if _is_missing(value):
        return ""
    text = unicodedata.normalize("NFC", str(value))
    text = _CONTROL_RE.sub(" ", text)
    return _SPACE_RE.sub(" ", text).strip()


def hangul_ratio(text: str) -> float:
    letters = len(_LETTER_RE.findall(text))
    return len(_HANGUL_RE.findall(text)) / letters if letters else 0.0


def _norm_name(name: Any) -> str:
    text = unicodedata.normalize("NFC", str(name)).replace("\ufeff", "")
    return re.sub(r"[\s_\-]+", "", text).lower()


# ----------------------------------------------------------------------- encoding


def decode_bytes(data: bytes, path: Path) -> tuple[str, str]:
    """Decode a text file, telling UTF-8 (BOM or not), UTF-16 and CP949/EUC-KR apart."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    if b"\x00" in data[:65536]:
        raise CorpusError(
            "this is a binary file, not text",
            file=path,
            fix=f"check that the file really is {path.suffix} text (was it renamed from another format?)",
        )
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp949")
        non_ascii = [c for c in text if ord(c) > 127]
        # CP949 decodes many byte strings; accept it only when what it yields is Korean.
        if non_ascii and sum(bool(_HANGUL_RE.match(c)) for c in non_ascii) / len(non_ascii) >= 0.8:
            return text, "cp949"
    except UnicodeDecodeError:
        pass
    raise CorpusError(
        "the encoding is neither UTF-8 nor CP949/EUC-KR",
        file=path,
        fix="save the file as UTF-8 (in Excel: 'CSV UTF-8') and run again",
    )


# ------------------------------------------------------------------------ readers


def file_format(path: Path) -> str:
    """The data format of a file: its suffix, looking through a .gz (opinions.csv.gz -> .csv)."""
    suffixes = [x.lower() for x in path.suffixes]
    if suffixes and suffixes[-1] == ".gz" and len(suffixes) >= 2:
        return suffixes[-2]
    return path.suffix.lower()


def read_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed when it ends in .gz."""
    data = path.read_bytes()
    if path.suffix.lower() == ".gz":
        import gzip

        try:
            return gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise CorpusError(f"the file ends in .gz but cannot be decompressed ({exc})", file=path,
                              fix="re-compress it with gzip, or remove the .gz ending if it is not compressed") from None
    return data


def _file_year(path: Path) -> int | None:
    years = _FILENAME_YEAR_RE.findall(path.name.split(".")[0])
    return int(years[-1]) if len(set(years)) == 1 else None


def _read_delimited(path: Path, sep: str) -> tuple[list[tuple[str, pd.DataFrame]], str]:
    text, encoding = decode_bytes(read_bytes(path), path)
    if not text.strip():
        raise CorpusError("the file is empty", file=path, fix="remove it or add opinions to it")
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, skip_blank_lines=True)
    except pd.errors.ParserError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise CorpusError(
            f"cannot be parsed as {'TSV' if sep == chr(9) else 'CSV'} ({exc})",
            file=path,
            row=int(line.group(1)) if line else None,
            fix="check the quoting and the number of fields on that line",
        ) from None
    except pd.errors.EmptyDataError:
        raise CorpusError("the file is empty", file=path, fix="remove it or add opinions to it") from None
    return [("", frame)], encoding


def _read_xlsx(path: Path) -> tuple[list[tuple[str, pd.DataFrame]], str | None]:
    data = read_bytes(path)
    if not data[:4] == b"PK\x03\x04":
        raise CorpusError(
            "this is not an Excel workbook (.xlsx files are zip archives)",
            file=path,
            fix="open it in Excel and save as .xlsx, or give it the extension of what it really is (e.g. .csv)",
        )
    try:
        sheets = pd.read_excel(io.BytesIO(data), sheet_name=None, dtype=object, engine="openpyxl")
    except Exception as exc:  # openpyxl raises many types for damaged workbooks
        raise CorpusError(f"the workbook cannot be read ({exc})", file=path, fix="re-save it from Excel as .xlsx") from None
    tables = [(str(name), frame) for name, frame in sheets.items() if not frame.dropna(how="all").empty]
    if not tables:
        raise CorpusError("the workbook has no rows in any sheet", file=path, fix="remove it or add opinions to it")
    return tables, None


def _read_jsonl(path: Path) -> tuple[list[tuple[str, pd.DataFrame]], str]:
    text, encoding = decode_bytes(read_bytes(path), path)
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusError(
                f"line is not valid JSON ({exc.msg} at character {exc.colno})",
                file=path, row=number, fix="each line of a .jsonl file must be one JSON object",
            ) from None
        if not isinstance(record, dict):
            raise CorpusError("line is not a JSON object", file=path, row=number,
                              fix="each line of a .jsonl file must be an object such as {\"연도\": 2019, \"평가의견\": \"...\"}")
        records.append(record)
    if not records:
        raise CorpusError("the file is empty", file=path, fix="remove it or add opinions to it")
    return [("", pd.DataFrame.from_records(records))], encoding


def _read_json(path: Path) -> tuple[list[tuple[str, pd.DataFrame]], str]:
    text, encoding = decode_bytes(read_bytes(path), path)
    if not text.strip():
        raise CorpusError("the file is empty", file=path, fix="remove it or add opinions to it")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorpusError(
            f"not valid JSON ({exc.msg} at line {exc.lineno}, character {exc.colno})",
            file=path, row=exc.lineno, fix="fix the JSON, or use .jsonl with one record per line",
        ) from None
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
    return [("", pd.DataFrame.from_records(data))], encoding


def _read_parquet(path: Path) -> tuple[list[tuple[str, pd.DataFrame]], None]:
    data = read_bytes(path)
    if data[:4] != b"PAR1":
        raise CorpusError(
            "this is not a Parquet file",
            file=path, fix="give the file the extension of what it really is, or re-export it as Parquet",
        )
    try:
        frame = pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises ArrowInvalid/OSError for damaged files
        raise CorpusError(f"the Parquet file cannot be read ({exc})", file=path, fix="re-export it") from None
    if frame.empty:
        raise CorpusError("the file has no rows", file=path, fix="remove it or add opinions to it")
    return [("", frame)], None


def _read_txt(path: Path) -> tuple[list[tuple[str, pd.DataFrame]], str]:
    text, encoding = decode_bytes(read_bytes(path), path)
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        raise CorpusError("the file is empty", file=path, fix="remove it or add opinions to it, one per line")
    frame = pd.DataFrame({"text": lines, "__line": range(1, len(lines) + 1)})
    frame = frame[frame["text"].str.strip() != ""]
    return [("", frame)], encoding


READERS = {
    ".csv": lambda p: _read_delimited(p, ","),
    ".tsv": lambda p: _read_delimited(p, "\t"),
    ".xlsx": _read_xlsx,
    ".jsonl": _read_jsonl,
    ".json": _read_json,
    ".parquet": _read_parquet,
    ".txt": _read_txt,
}


# ------------------------------------------------------------------------ columns


def _pick(columns: list[Any], names: list[str]) -> Any | None:
    by_norm = {}
    for col in columns:
        by_norm.setdefault(_norm_name(col), col)
    for name in names:
        if name in by_norm:
            return by_norm[name]
    return None


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
            body.columns = [_text_or(v, f"열{j + 1}") for j, v in enumerate(values)]
            body = body.dropna(how="all")
            # The file's header is row 1, so frame row i is spreadsheet row i + 2 and data starts below it.
            rows = pd.Series([int(k) + 2 for k in body.index], index=body.index)
            return body.reset_index(drop=True), rows.reset_index(drop=True)
    return frame, None


def map_columns(frame: pd.DataFrame, overrides: dict[str, str | None], where: str,
                fallback_year: tuple[int, str] | None) -> ColumnMapping:
    columns = list(frame.columns)
    text_col = _explicit(columns, overrides.get("text_col"), "text", where) or _pick(columns, TEXT_NAMES)
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
        year_col = _pick(columns, YEAR_NAMES)
        date_col = _pick(columns, DATE_NAMES)
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
            fix="name it with --year-col/--date-col or corpus.toml, or put the year in the file name (e.g. 2019.csv)",
        )
    used = {c for c in (id_col, year_col, date_col, text_col) if c is not None}
    metadata = [str(c) for c in columns if c not in used and not str(c).startswith("__")]
    return ColumnMapping(
        id=None if id_col is None else str(id_col), year=None if year_col is None else str(year_col),
        text=str(text_col), date=None if date_col is None else str(date_col), metadata=metadata, year_from=year_from,
    )


def parse_year(value: Any, *, from_date: bool) -> int | None:
    """A four-digit year from a year cell (2019, '2019년', 2019.0) or a date cell; None for an empty cell."""
    if _is_missing(value):
        return None
    if hasattr(value, "year") and not isinstance(value, str):  # datetime/Timestamp from Excel
        return int(value.year)
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if not text:
        return None
    match = (_DATE_RE if from_date else _YEAR_RE).match(text)
    if match is None and from_date:
        match = _YEAR_RE.match(text)  # a bare year in a date column still gives the year
    elif match is None and not from_date:
        match = _DATE_RE.match(text)  # a full date in a year column is still unambiguous
        if match and not (match.group(2) or match.group(4)):
            match = None
    if match is None:
        raise ValueError(text)
    year = int(match.group(1))
    if not YEAR_MIN <= year <= YEAR_MAX:
        raise ValueError(text)
    return year


def _table_rows(frame: pd.DataFrame, mapping: ColumnMapping, where: str, fallback_year: tuple[int, str] | None,
                line_numbers: pd.Series | None) -> pd.DataFrame:
    n = len(frame)
    # Spreadsheet-style row numbers: the header is row 1; line-based formats use line numbers.
    rows = line_numbers.tolist() if line_numbers is not None else list(range(2, n + 2))
    texts = [normalize_text(v) for v in frame[mapping.text].tolist()]
    years: list[int | None] = []
    source_col = mapping.year if mapping.year is not None else mapping.date
    for value, row, text in zip(frame[source_col].tolist() if source_col else [None] * n, rows, texts):
        if source_col is None:
            years.append(fallback_year[0])
            continue
        try:
            year = parse_year(value, from_date=mapping.year is None)
        except ValueError:
            raise CorpusError(
                f"'{value}' is not a year" + ("" if mapping.year else " or a date with a year"),
                file=where, row=row, column=source_col,
                fix="write a four-digit year such as 2019 (or a date such as 2019-05-31)",
            ) from None
        if year is None:
            if text:
                raise CorpusError(
                    "the year is missing for this opinion", file=where, row=row, column=source_col,
                    fix="fill in the year, or delete the row",
                )
            year = -1  # a blank row: flagged empty below and dropped
        years.append(year)
    out = pd.DataFrame({
        "source_id": [_text_or(v, "").strip() for v in frame[mapping.id]] if mapping.id else [""] * n,
        "year": years,
        "text": texts,
        "source_file": where,
        "source_row": rows,
    })
    if mapping.date is not None:
        out["date"] = [_text_or(v, None) for v in frame[mapping.date]]
    for col in mapping.metadata:
        out[col] = [_text_or(v, None) for v in frame[col]]
    return out


# ------------------------------------------------------------------------- corpus


def discover_files(path: Path) -> list[Path]:
    """The supported data files of a corpus path (a file or a folder, searched recursively)."""
    if not path.exists():
        raise CorpusError("no such file or folder", file=path, fix="check the path to the corpus")
    if path.is_file():
        if file_format(path) not in SUPPORTED_SUFFIXES:
            raise CorpusError(
                f"unsupported file type '{path.suffix or '(none)'}'", file=path,
                fix=f"convert it to one of {', '.join(SUPPORTED_SUFFIXES)} (optionally gzipped, e.g. .csv.gz)",
            )
        return [path]
    files = sorted(
        p for p in path.rglob("*")
        if p.is_file() and file_format(p) in SUPPORTED_SUFFIXES
        and p.name.lower() not in SIDECAR_FILES
        and not any(part.startswith((".", "~$")) for part in p.relative_to(path).parts)
    )
    if not files:
        raise CorpusError(
            "the folder holds no supported files", file=path,
            fix=f"put opinions in files ending in {', '.join(SUPPORTED_SUFFIXES)}",
        )
    return files


def read_corpus_toml(root: Path) -> dict[str, Any]:
    """Column settings from a ``corpus.toml`` beside the data, if there is one."""
    folder = root if root.is_dir() else root.parent
    toml_path = folder / "corpus.toml"
    if not toml_path.is_file():
        return {}
    try:
        data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CorpusError(f"not valid TOML ({exc})", file=toml_path, fix="fix the TOML syntax") from None
    data = data.get("columns", data)
    allowed = {"id_col", "year_col", "text_col", "date_col"}
    unknown = set(data) - allowed - {"columns"}
    if unknown:
        raise CorpusError(
            f"unknown key(s) {', '.join(sorted(unknown))}", file=toml_path,
            fix=f"corpus.toml may set {', '.join(sorted(allowed))}",
        )
    return {k: str(v) for k, v in data.items() if k in allowed}


def load_corpus(path: str | Path, config: CorpusConfig | None = None) -> Corpus:
    """Read every opinion of a corpus; flags (not drops) empty/duplicate/short/non-Korean texts."""
    config = config or CorpusConfig()
    root = Path(path)
    files = discover_files(root)
    overrides = read_corpus_toml(root)
    for key in ("id_col", "year_col", "text_col", "date_col"):
        if getattr(config, key):
            overrides[key] = getattr(config, key)  # command line beats corpus.toml

    frames: list[pd.DataFrame] = []
    reports: list[FileReport] = []
    for file in files:
        # Errors name the file as the user can open it (the corpus path they gave + the file);
        # tables and ids use the path inside the corpus.
        display = str(file)
        relative = str(file.relative_to(root)) if root.is_dir() else file.name
        reader = READERS[file_format(file)]
        data = file.read_bytes()
        tables, encoding = reader(file)
        report = FileReport(path=relative, format=file_format(file).lstrip("."), encoding=encoding, rows=0,
                            sha256=hashlib.sha256(data).hexdigest())
        for sheet, frame in tables:
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
            if file_format(file) == ".txt" and fallback is None:
                raise CorpusError(
                    "a .txt corpus file takes its year from its name, and this name has no year",
                    file=display, fix="rename it after its year, e.g. 2019.txt",
                )
            mapping = map_columns(frame, overrides, where, fallback)
            rows = _table_rows(frame, mapping, where, fallback, line_numbers)
            rows["source_file"] = f"{relative}[{sheet}]" if sheet else relative
            frames.append(rows)
            report.tables[sheet or "-"] = mapping
            report.rows += len(frame)
        reports.append(report)

    docs = pd.concat(frames, ignore_index=True)
    if docs.empty:
        raise CorpusError("the corpus has no rows", file=root, fix="add opinions to the files")
    docs["doc_id"] = _unique_ids(docs)
    docs["is_empty"] = docs["text"] == ""
    docs["is_duplicate"] = docs.duplicated(subset=["year", "text"], keep="first") & ~docs["is_empty"]
    docs["is_too_short"] = ~docs["is_empty"] & (docs["text"].str.len() < config.min_chars)
    docs["is_non_korean"] = ~docs["is_empty"] & (docs["text"].map(hangul_ratio) < config.korean_min_ratio)
    if not (~docs["is_empty"]).any():
        raise CorpusError("every opinion in the corpus is empty", file=root,
                          fix="check that the text column holds the opinions (--text-col)")
    docs["year"] = docs["year"].astype(int)
    metadata = [c for c in docs.columns if c not in CORE_COLUMNS]
    docs = docs[CORE_COLUMNS + metadata]
    return Corpus(root=root, docs=docs, files=reports, metadata_columns=metadata)


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
