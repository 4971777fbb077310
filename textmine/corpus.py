"""Corpus ingestion: files in, one normalised table of opinions out (docs/contract.md §1).

``load_corpus`` reads a file or a folder of csv/tsv/xlsx/xls/jsonl/json/parquet/txt/hwpx/hwp
files (and their .gz), detects each text file's encoding (UTF-8 with or without BOM,
UTF-16 with or without BOM, CP949/EUC-KR) and a .csv's delimiter (``,`` ``;`` tab ``|``),
maps Korean or English column names to id/year/text, carries the other columns through
as metadata, normalises the text and flags empty, duplicate, too-short and non-Korean
opinions.  Anything it cannot read raises a :class:`~textmine.errors.CorpusError` naming
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

import csv
import datetime as dt
import io
import json
import os
import re
import tomllib
import unicodedata
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from textmine.config import CorpusConfig
from textmine.errors import CorpusError
from textmine.files import file_digest, read_toml

SUPPORTED_SUFFIXES = (".csv", ".tsv", ".xlsx", ".xls", ".jsonl", ".json", ".parquet", ".txt", ".hwpx", ".hwp")
CONVERT_TO = ".csv/.xlsx/.hwpx"
# Files that sit beside the data but are not opinions (compared lower-cased; README.* too).
SIDECAR_FILES = {"truth.json", "corpus.toml", "profile.toml"}
DELIMITERS = ",;\t|"  # what a .csv may be separated by (a .tsv is always tab-separated)

# Resource limits.  Defaults here; a corpus config may override each with an attribute of the
# same name in lower case (read with getattr, so the config needs no such field to work).
MAX_DECOMPRESSED_MB = 256  # data of one file after decompression (.gz, .xlsx/.hwpx members, .hwp
#                            streams), and the size of a plain file: 256 MB is ~500,000 opinions of
#                            500 characters, more than the pipeline models in a day on 2 cores; a
#                            735 KB .csv.gz that expanded to 500 MB took 294 s and 2.6 GB before.
MAX_CELL_CHARS = 100_000  # one cell (an opinion or a metadata value); longer is an error, not truncated
MAX_SHEET_CELLS = 5_000_000  # rows x columns of one sheet (.xlsx/.xls), document table (.hwpx/.hwp) or .parquet
MB = 2**20

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
# What parse_year accepts (after NFKC): a year, or a real date (all of it is checked).
_PLAIN_YEAR_RE = re.compile(r"^(\d{4})(?:\.0+)?\s*(?:년도?)?$")
_DECIMAL_YEAR_RE = re.compile(r"^(\d{4})\.(\d+)$")
_RANGE_RE = re.compile(r"^(\d{4})\s*(?:년도?)?\s*([-~–—/])\s*(\d{4}|\d{2})\s*(?:년도?)?$")
_SEP_DATE_RE = re.compile(r"^(\d{4})\s*([-./])\s*(\d{1,2})\s*(?:\2\s*(\d{1,2}))?\s*\.?(?:[\sT]\d.*)?$")
_KO_DATE_RE = re.compile(r"^(\d{4})\s*년\s*(\d{1,2})\s*월(?:\s*(\d{1,2})\s*일)?(?:\s.*)?$")
_COMPACT_DATE_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:[\sT]\d.*)?$")
_FILENAME_YEAR_RE = re.compile(r"(?<!\d)(19\d{2}|20\d{2})(?!\d)")
_CONTROL_RE = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b-\u200f\u2028\u2029\ufeff]")
_HANGUL_RE = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_LETTER_RE = re.compile(r"[^\W\d_]")
_MANGLED_RE = re.compile(r"^(.*)\.(\d+)$")  # pandas' name for a repeated header: 의견, 의견.1


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
    """One file found in the corpus: what was read from it, or why it was not read."""

    path: str
    format: str
    encoding: str | None
    rows: int
    sha256: str | None
    tables: dict[str, ColumnMapping] = field(default_factory=dict)
    status: str = "read"  # "read" or "unread"
    reason: str | None = None  # why an unread file was not read
    opinions: int = 0  # non-empty opinions read from it
    delimiter: str | None = None  # of a .csv/.tsv
    notes: list[str] = field(default_factory=list)  # what else a reader should know (paragraphs not read...)


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


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_cell_chars: int
    max_sheet_cells: int

    @classmethod
    def from_config(cls, config: Any) -> "Limits":
        def get(name: str, default: float) -> float:
            value = getattr(config, name, None)
            return default if value is None else value

        return cls(max_bytes=int(get("max_decompressed_mb", MAX_DECOMPRESSED_MB) * MB),
                   max_cell_chars=int(get("max_cell_chars", MAX_CELL_CHARS)),
                   max_sheet_cells=int(get("max_sheet_cells", MAX_SHEET_CELLS)))


def _mb(n_bytes: int) -> str:
    return f"{n_bytes / MB:,.0f} MB" if n_bytes >= MB else f"{n_bytes / MB:.2f} MB"


# --------------------------------------------------------------------------- text


def _is_missing(value: Any) -> bool:
    """An empty cell, as any reader gives it: None, NaN (csv/xlsx), pd.NA (nullable Parquet columns), NaT.

    Only scalars can be missing: a list or dict cell (from JSON) is a value.
    """
    if type(value) is str:  # most cells: skips pandas' checks, 0.8 s of a 100k-row read
        return False
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def _text_or(value: Any, default: Any) -> Any:
    """The cell as text, or ``default`` when it is empty."""
    return default if _is_missing(value) else str(value)


def normalize_text(value: Any) -> str:
    """NFC, no control (NUL included) or zero-width characters, single spaces."""
    if _is_missing(value):
        return ""
    text = unicodedata.normalize("NFC", str(value))
    text = _CONTROL_RE.sub(" ", text)
    # str.split() splits on exactly the characters re's \s matches (both use Py_UNICODE_ISSPACE),
    # and is twice as fast as re.sub(r"\s+", " ") + strip (0.6 s against 1.4 s on 100k opinions).
    return " ".join(text.split())


def hangul_ratio(text: str) -> float:
    """Hangul's share of the letters; 0 for a text without letters (emoji, digits, punctuation only)."""
    letters = len(_LETTER_RE.findall(text))
    return len(_HANGUL_RE.findall(text)) / letters if letters else 0.0


def hangul_ratios(texts: list[str], chunk_size: int = 20_000) -> np.ndarray:
    """``hangul_ratio`` of every text, equal to it, seven times faster (0.43 s against 3.0 s on 100k opinions).

    Each distinct character is classified once by the same two expressions, then every text's letters
    and Hangul are counted as differences of running sums over its code points. Chunks bound the code
    point array (4 bytes a character: ~16 MB for 20,000 opinions of 200 characters).
    """
    ratios = np.zeros(len(texts))
    for start in range(0, len(texts), chunk_size):
        part = texts[start:start + chunk_size]
        # surrogatepass: a lone surrogate (from a JSON escape) is a character like any other here.
        codes = np.frombuffer("".join(part).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        present = np.flatnonzero(np.bincount(codes)) if codes.size else np.zeros(0, dtype=np.int64)
        size = int(present[-1]) + 1 if present.size else 1
        is_letter, is_hangul = np.zeros(size, dtype=bool), np.zeros(size, dtype=bool)
        chars = [chr(code) for code in present]
        is_letter[present] = [bool(_LETTER_RE.match(char)) for char in chars]
        is_hangul[present] = [bool(_HANGUL_RE.match(char)) for char in chars]
        lengths = np.fromiter(map(len, part), dtype=np.int64, count=len(part))
        ends = np.cumsum(lengths)
        starts = ends - lengths
        letters_before = np.concatenate([[0], np.cumsum(is_letter[codes])])
        hangul_before = np.concatenate([[0], np.cumsum(is_hangul[codes])])
        letters = letters_before[ends] - letters_before[starts]
        hangul = hangul_before[ends] - hangul_before[starts]
        np.divide(hangul, letters, out=ratios[start:start + len(part)], where=letters > 0)
    return ratios


def _norm_name(name: Any) -> str:
    text = unicodedata.normalize("NFC", str(name)).replace("\ufeff", "")
    return re.sub(r"[\s_\-]+", "", text).lower()


# ----------------------------------------------------------------------- encoding

_SAVE_AS_UTF8 = "open it and save it again as UTF-8 (in Excel: 'CSV UTF-8'), then run again"
_TRIED = "UTF-8 (with or without BOM), UTF-16 (with or without BOM), CP949/EUC-KR"
_BINARY_MAGIC = {
    b"PK\x03\x04": "a zip archive (an .xlsx, .hwpx or .docx file?)",
    b"%PDF": "a PDF document",
    b"\xd0\xcf\x11\xe0": "an OLE compound file (an .xls, .hwp or .doc file?)",
    b"PAR1": "a Parquet file",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"\x1f\x8b": "a gzip archive",
}


def _looks_korean(text: str) -> bool:
    non_ascii = [c for c in text if ord(c) > 127]
    return bool(non_ascii) and sum(bool(_HANGUL_RE.match(c)) for c in non_ascii) / len(non_ascii) >= 0.8


def _plausible_text(text: str) -> bool:
    """Mostly what a Korean or English text file holds (not a wrong byte order's CJK soup)."""
    if not text:
        return False
    good = sum(
        1 for c in text
        if c in "\t\r\n" or " " <= c <= "~" or "\u00a0" <= c <= "\u00ff" or _HANGUL_RE.match(c)
        or "\u2000" <= c <= "\u206f" or "\u3000" <= c <= "\u303f" or "\uff00" <= c <= "\uffef"
    )
    return good / len(text) >= 0.9


def _utf16_without_bom(data: bytes) -> tuple[str, str] | None:
    """UTF-16 text without a byte-order mark, told by its ASCII characters.

    In UTF-16LE an ASCII character (a digit, comma, space, line end) is its byte then a NUL;
    in UTF-16BE a NUL then its byte.  Hangul syllables have no such pairs (가, AC00, has a
    NUL byte but not next to an ASCII one), so the side the ASCII pairs fall on is the byte
    order; the decoded text must then look like text.
    """
    sample = data[:65536]
    if len(data) % 2 or len(sample) < 4:
        return None
    units = len(sample) // 2
    text_bytes = set(b"\t\n\r") | set(range(0x20, 0x7F))
    pairs = list(zip(sample[0::2], sample[1::2]))
    le = sum(1 for a, b in pairs if b == 0 and a in text_bytes)
    be = sum(1 for a, b in pairs if a == 0 and b in text_bytes)
    for encoding, main, other in (("utf-16-le", le, be), ("utf-16-be", be, le)):
        if main >= max(2, 0.01 * units) and main > 4 * other:
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                return None
            return (text, encoding) if _plausible_text(text[:20000]) else None
    return None


def _decode(data: bytes, path: Path | str) -> tuple[str, str, list[str]]:
    """Decode a text file: (text, encoding, notes)."""
    if data.startswith(b"\xef\xbb\xbf"):
        body = data[3:]
        try:
            return body.decode("utf-8"), "utf-8-sig", []
        except UnicodeDecodeError as exc:
            if _utf16_without_bom(body) is not None:
                what = "the rest of it is UTF-16"
            else:
                try:
                    what = ("the rest of it is CP949/EUC-KR" if _looks_korean(body.decode("cp949"))
                            else f"the rest of it is not UTF-8 (bad byte at {exc.start + 3})")
                except UnicodeDecodeError:
                    what = f"the rest of it is not UTF-8 (bad byte at {exc.start + 3})"
            raise CorpusError(f"the file starts with a UTF-8 byte-order mark but {what}", file=path,
                              fix=_SAVE_AS_UTF8) from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16", []
        except UnicodeDecodeError:
            raise CorpusError("the file starts with a UTF-16 byte-order mark but is not valid UTF-16", file=path,
                              fix=_SAVE_AS_UTF8) from None
    notes: list[str] = []
    if b"\x00" in data[:65536]:
        found = _utf16_without_bom(data)
        if found is not None:
            return found[0], found[1], []
        kind = next((what for magic, what in _BINARY_MAGIC.items() if data.startswith(magic)), None)
        nuls = data.count(b"\x00")
        if kind is None and nuls <= max(1, len(data) // 100):
            data = data.replace(b"\x00", b"")  # a few stray NUL bytes in a text export: dropped, and said so
            notes.append(f"{nuls} NUL byte(s) removed")
        else:
            raise CorpusError(
                f"this is a binary file ({kind or 'not text'}), not text",
                file=path,
                fix=f"check that the file really is {Path(str(path)).suffix or 'a'} text "
                    "(was it renamed from another format?)",
            )
    try:
        return data.decode("utf-8"), "utf-8", notes
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp949")
        # CP949 decodes many byte strings; accept it only when what it yields is Korean.
        if _looks_korean(text):
            return text, "cp949", notes
    except UnicodeDecodeError:
        pass
    raise CorpusError(
        f"the encoding is neither UTF-8 nor CP949/EUC-KR (tried {_TRIED})",
        file=path,
        fix="save the file as UTF-8 (in Excel: 'CSV UTF-8') and run again",
    )


def decode_bytes(data: bytes, path: Path | str) -> tuple[str, str]:
    """Decode a text file, telling UTF-8 (BOM or not), UTF-16 (BOM or not) and CP949/EUC-KR apart."""
    text, encoding, _ = _decode(data, path)
    return text, encoding


# ------------------------------------------------------------------------ readers


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


def read_bytes(path: Path, max_bytes: int | None = None) -> bytes:
    """The file's bytes, decompressed when it ends in .gz, never more than ``max_bytes``.

    A .gz is decompressed as a stream and abandoned as soon as it passes the cap, so a
    small archive that expands enormously costs neither the time nor the memory.
    """
    max_bytes = MAX_DECOMPRESSED_MB * MB if max_bytes is None else max_bytes
    if path.suffix.lower() == ".gz":
        import gzip
        import zlib

        try:
            with gzip.open(path, "rb") as stream:
                data = stream.read(max_bytes + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise CorpusError(f"the file ends in .gz but cannot be decompressed ({exc})", file=path,
                              fix="re-compress it with gzip, or remove the .gz ending if it is not compressed") from None
        if len(data) > max_bytes:
            raise CorpusError(f"the file expands past {_mb(max_bytes)} when decompressed", file=path,
                              fix="raise corpus.max_decompressed_mb or split the file")
        return data
    size = path.stat().st_size
    if size > max_bytes:
        raise CorpusError(f"the file is {_mb(size)}, past the limit of {_mb(max_bytes)}", file=path,
                          fix="raise corpus.max_decompressed_mb or split the file")
    return path.read_bytes()


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


def _check_zip(data: bytes, path: Path, limits: Limits, what: str) -> None:
    """Refuse a zip container whose members declare more than the cap (a zip bomb)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            declared = sum(i.file_size for i in zf.infolist())
    except zipfile.BadZipFile as exc:
        raise CorpusError(f"the {what} is damaged ({exc})", file=path, fix=f"re-save it as {path.suffix}") from None
    if declared > limits.max_bytes:
        raise CorpusError(f"the {what} expands past {_mb(limits.max_bytes)} when decompressed", file=path,
                          fix="raise corpus.max_decompressed_mb or split the file")


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
    from textmine.officedocs import OLE_MAGIC

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
    from textmine.officedocs import read_document

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


# ------------------------------------------------------------------------ columns


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


# ------------------------------------------------------------------------- corpus


@dataclass
class CorpusFiles:
    """What a corpus path holds: the files to read, the files not read (why), the files ignored."""

    root: Path
    readable: list[Path]
    unread: list[FileReport]
    ignored: list[dict[str, str]]


def _unsupported_reason(path: Path) -> str:
    fmt = "".join(s.lower() for s in path.suffixes[-2:]) if file_format(path) != path.suffix.lower() \
        else path.suffix.lower()
    if not path.suffix:
        return f"unsupported format: no file extension — convert to {CONVERT_TO} (or give it its extension)"
    return f"unsupported format: {fmt} — convert to {CONVERT_TO}"


def _metadata_files(folder: Path) -> set[Path]:
    """The Kiwi dictionary a profile.toml beside the data names: metadata, not opinions."""
    profile = folder / "profile.toml"
    try:
        name = tomllib.loads(profile.read_text(encoding="utf-8")).get("dictionary_file")
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError):
        return set()
    return {(folder / str(name)).resolve()} if name else set()


def scan_corpus(path: Path) -> CorpusFiles:
    """Every file under a corpus path, sorted: readable, unread (with the reason) or ignored (not opinions).

    Paths are resolved: a symlink whose target lies outside the corpus folder is not
    read (unless the corpus path itself names it), a symlink to a folder is not followed,
    and a file reached twice (through a symlink inside the folder) is read once.
    """
    if not path.exists():
        if path.is_symlink():
            raise CorpusError("the corpus is a broken symlink", file=path, fix="point it at the corpus file or folder")
        raise CorpusError("no such file or folder", file=path, fix="check the path to the corpus")
    if path.is_file():
        if file_format(path) not in SUPPORTED_SUFFIXES:
            raise CorpusError(
                f"unsupported file type '{path.suffix or '(none)'}'", file=path,
                fix=f"convert it to one of {', '.join(SUPPORTED_SUFFIXES)} (optionally gzipped, e.g. .csv.gz)",
            )
        return CorpusFiles(path, [path], [], [])
    if not path.is_dir():
        raise CorpusError("the corpus is neither a file nor a folder", file=path, fix="check the path to the corpus")

    base = path.resolve()
    metadata = _metadata_files(base)
    readable: list[tuple[tuple[str, ...], Path]] = []
    unread: list[tuple[tuple[str, ...], FileReport]] = []
    ignored: list[tuple[tuple[str, ...], dict[str, str]]] = []
    seen: dict[Path, str] = {}

    def note_unread(rel: Path, reason: str, fmt: str) -> None:
        unread.append((rel.parts, FileReport(path=rel.as_posix(), format=fmt, encoding=None, rows=0, sha256=None,
                                             status="unread", reason=reason)))

    def walk(folder: Path) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            note_unread(folder.relative_to(path), f"folder cannot be listed ({exc.strerror})", "folder")
            return
        for entry in entries:
            full = Path(entry.path)
            rel = full.relative_to(path)
            name = entry.name
            if name.startswith("."):
                ignored.append((rel.parts, {"path": rel.as_posix(), "reason": "hidden " +
                                            ("folder" if entry.is_dir() else "file")}))
                continue
            if name.startswith("~$"):
                ignored.append((rel.parts, {"path": rel.as_posix(), "reason": "Office lock file"}))
                continue
            target = full
            if entry.is_symlink():
                try:
                    target = full.resolve(strict=True)
                except (OSError, RuntimeError):
                    note_unread(rel, "broken symlink (its target does not exist)", file_format(full).lstrip("."))
                    continue
                if not target.is_relative_to(base):
                    note_unread(rel, "symlink outside the corpus folder: not read (name the file itself as the "
                                     "corpus to read it)", file_format(full).lstrip("."))
                    continue
                if target.is_dir():
                    ignored.append((rel.parts, {"path": rel.as_posix(),
                                                "reason": "symlink to a folder inside the corpus (not followed; "
                                                          "its files are read where they are)"}))
                    continue
            if entry.is_dir(follow_symlinks=False):
                walk(full)
                continue
            if not target.is_file():
                note_unread(rel, "not a regular file", file_format(full).lstrip("."))
                continue
            lower = name.lower()
            if lower in SIDECAR_FILES or lower.startswith("readme") or target.resolve() in metadata:
                ignored.append((rel.parts, {"path": rel.as_posix(), "reason": "metadata beside the data"}))
                continue
            if file_format(full) not in SUPPORTED_SUFFIXES:
                note_unread(rel, _unsupported_reason(full), file_format(full).lstrip(".") or "(none)")
                continue
            resolved = target.resolve()
            if resolved in seen:
                ignored.append((rel.parts, {"path": rel.as_posix(),
                                            "reason": f"the same file as {seen[resolved]} (read once)"}))
                continue
            seen[resolved] = rel.as_posix()
            readable.append((rel.parts, full))

    walk(path)
    return CorpusFiles(
        root=path,
        readable=[p for _, p in sorted(readable, key=lambda x: x[0])],
        unread=[r for _, r in sorted(unread, key=lambda x: x[0])],
        ignored=[r for _, r in sorted(ignored, key=lambda x: x[0])],
    )


def _no_files_error(found: CorpusFiles) -> CorpusError:
    listed = ", ".join(f.path for f in found.unread[:5]) + (" ..." if len(found.unread) > 5 else "")
    return CorpusError(
        "the folder holds no supported files" + (f" (found: {listed})" if listed else ""), file=found.root,
        fix=f"put opinions in files ending in {', '.join(SUPPORTED_SUFFIXES)}",
    )


def discover_files(path: Path) -> list[Path]:
    """The supported data files of a corpus path (a file or a folder, searched recursively)."""
    found = scan_corpus(Path(path))
    if not found.readable:
        raise _no_files_error(found)
    return found.readable


def read_corpus_toml(root: Path) -> dict[str, Any]:
    """Column settings from a ``corpus.toml`` beside the data, if there is one."""
    folder = root if root.is_dir() else root.parent
    toml_path = folder / "corpus.toml"
    if not toml_path.is_file():
        return {}
    data = read_toml(toml_path, nested_fix="corpus.toml holds flat column settings", error=CorpusError)
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
