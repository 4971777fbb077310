"""Bytes of a corpus file read within limits and decoded: UTF-8 or UTF-16 with or without BOM, CP949/EUC-KR
(the Korean encodings), refused with the encodings tried; the resource limits every reader keeps to."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textmine.core.errors import CorpusError
from textmine.text.normalize import _HANGUL_RE


# Resource limits.  Defaults here; a corpus config may override each with an attribute of the
# same name in lower case (read with getattr, so the config needs no such field to work).
MAX_DECOMPRESSED_MB = 256  # data of one file after decompression (.gz, .xlsx/.hwpx members, .hwp


#                            streams), and the size of a plain file: 256 MB is ~500,000 opinions of
#                            500 characters, more than the pipeline models in a day on 2 cores; a
#                            735 KB .csv.gz that expanded to 500 MB took 294 s and 2.6 GB before.
MAX_CELL_CHARS = 100_000  # one cell (an opinion or a metadata value); longer is an error, not truncated


MAX_SHEET_CELLS = 5_000_000  # rows x columns of one sheet (.xlsx/.xls), document table (.hwpx/.hwp) or .parquet


MB = 2**20


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
