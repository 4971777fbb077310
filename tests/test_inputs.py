"""Input formats and reliability (issues 13 and 15): HWP/HWPX/XLS, CSV dialects and encodings,
files never skipped silently, ambiguous years and headers, JSON traps, symlinks, resource limits.

The test files are made here, in tmp_path, by small builders below: an OLE2 compound file
writer (the container of .hwp and .xls), HWP 5 record streams, BIFF8 workbooks and HWPX
(OWPML) archives.  The builders' output was checked once with independent readers: the HWP
documents with hwpforge 0.18 (Rust; ``convert_hwp5`` reads them without a warning and its
``validate`` passes) and pyhwp's record parser (``hwp5proc models``: no parse error); the
.xls workbooks with python-calamine, xlrd 2.0.2 and LibreOffice 7.4 (``soffice --convert-to
csv``).  Two small files made by real producers are committed in tests/fixtures:
``libreoffice_opinions.xls`` (LibreOffice 7.4 headless, ``--convert-to 'xls:MS Excel 97'``
from an openpyxl workbook with sheets 2019 and 2020) and ``hwpforge_opinions_2019.hwpx``
(hwpforge 0.18 ``convert_md`` of a Markdown title, note, table and date line).
"""
from __future__ import annotations

import gzip
import io
import json
import math
import struct
import time
import types
import zipfile
import zlib
from xml.sax.saxutils import escape

import pandas as pd
import pytest

from textmine.core.config import CorpusConfig
from textmine.core.errors import CorpusError
from textmine.io import decode
from textmine.io.corpus import YearError, load_corpus, parse_year
from textmine.io.decode import decode_bytes
from textmine.io.officedocs import hwp_para_text, read_hwp, read_hwpx
from textmine.io.readers import sniff_delimiter
from textmine.io.scan import scan_corpus

from conftest import FIXTURES, run_cli

# ============================================================================ builders

ENDOFCHAIN, FREESECT, FATSECT, NOSTREAM = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF


def ole_file(streams: dict[str, bytes]) -> bytes:
    """A version 3 OLE2 compound file (512-byte sectors) holding ``streams`` ({"Storage/Stream": bytes}).

    Streams under 4096 bytes live in the mini stream (64-byte sectors), as the format requires;
    each storage's entries form a balanced binary tree ordered by (name length, upper-case name).
    """
    entries = [{"name": "Root Entry", "type": 5, "children": []}]
    storages = {"": 0}
    for path in sorted(streams):
        parts = path.split("/")
        parent, prefix = 0, ""
        for part in parts[:-1]:
            prefix += "/" + part
            if prefix not in storages:
                entries.append({"name": part, "type": 1, "children": []})
                storages[prefix] = len(entries) - 1
                entries[parent]["children"].append(storages[prefix])
            parent = storages[prefix]
        entries.append({"name": parts[-1], "type": 2, "children": [], "data": streams[path]})
        entries[parent]["children"].append(len(entries) - 1)

    mini, minifat, big = bytearray(), [], []
    for e in entries:
        if e["type"] != 2:
            continue
        data = e["data"]
        if not data:
            e["start"] = ENDOFCHAIN
        elif len(data) < 4096:
            first, n = len(mini) // 64, math.ceil(len(data) / 64)
            e["start"] = first
            minifat += [first + i + 1 for i in range(n - 1)] + [ENDOFCHAIN]
            mini += data + b"\0" * (n * 64 - len(data))
        else:
            big.append(e)
    n_dir = math.ceil(len(entries) * 128 / 512)
    n_minifat = math.ceil(len(minifat) * 4 / 512)
    n_mini = math.ceil(len(mini) / 512)
    n_big = sum(math.ceil(len(e["data"]) / 512) for e in big)
    n_fat = 1
    while n_fat * 128 < n_fat + n_dir + n_minifat + n_mini + n_big:
        n_fat += 1
    assert n_fat <= 109, "keep test files under 7 MB (no DIFAT sectors)"
    fat: list[int] = [FATSECT] * n_fat
    sectors: list[bytes] = []

    def chain(data: bytes) -> int:
        first, n = n_fat + len(sectors), math.ceil(len(data) / 512)
        fat.extend([first + i + 1 for i in range(n - 1)] + [ENDOFCHAIN])
        data = data + b"\0" * (n * 512 - len(data))
        sectors.extend(data[i:i + 512] for i in range(0, len(data), 512))
        return first

    dir_start = chain(b"\0" * n_dir * 512)  # filled in below
    minifat_start = chain(b"".join(struct.pack("<I", x) for x in minifat)) if minifat else ENDOFCHAIN
    mini_start = chain(bytes(mini)) if mini else ENDOFCHAIN
    for e in big:
        e["start"] = chain(e["data"])
    entries[0]["start"], entries[0]["size"] = mini_start, len(mini)

    for e in entries:
        e["left"] = e["right"] = e["child"] = NOSTREAM

    def balanced(ids: list[int]) -> int:
        if not ids:
            return NOSTREAM
        mid = len(ids) // 2
        entries[ids[mid]]["left"] = balanced(ids[:mid])
        entries[ids[mid]]["right"] = balanced(ids[mid + 1:])
        return ids[mid]

    for e in entries:
        e["child"] = balanced(sorted(e["children"], key=lambda i: (len(entries[i]["name"]),
                                                                    entries[i]["name"].upper())))
    directory = bytearray()
    for e in entries:
        name = e["name"].encode("utf-16-le") + b"\0\0"
        start, size = (0, 0) if e["type"] == 1 else (e["start"], e.get("size", len(e.get("data", b""))))
        directory += (name.ljust(64, b"\0") + struct.pack("<HBB3I", len(name), e["type"], 1, e["left"], e["right"],
                                                          e["child"]) + b"\0" * 36 + struct.pack("<IQ", start, size))
    for _ in range(len(entries), n_dir * 4):  # unused slots: empty entries without siblings
        directory += b"\0" * 68 + struct.pack("<3I", NOSTREAM, NOSTREAM, NOSTREAM) + b"\0" * 48
    for i in range(n_dir):
        sectors[dir_start - n_fat + i] = bytes(directory[i * 512:(i + 1) * 512])

    fat += [FREESECT] * (n_fat * 128 - len(fat))
    header = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 16 + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
              + b"\0" * 6 + struct.pack("<9I", 0, n_fat, dir_start, 0, 4096, minifat_start, n_minifat, ENDOFCHAIN, 0)
              + b"".join(struct.pack("<I", i) for i in range(n_fat)) + struct.pack("<I", FREESECT) * (109 - n_fat))
    return header + b"".join(struct.pack("<I", x) for x in fat) + b"".join(sectors)


# --- HWP 5: FileHeader, DocInfo and BodyText/Section0 record streams (see textmine/io/officedocs.py)


def _record(tag: int, level: int, payload: bytes) -> bytes:
    if len(payload) >= 0xFFF:  # the extended size form
        return struct.pack("<II", tag | level << 10 | 0xFFF << 20, len(payload)) + payload
    return struct.pack("<I", tag | level << 10 | len(payload) << 20) + payload


_LINE_SEG = struct.pack("<9i", 0, 0, 1000, 1000, 850, 600, 0, 42520, 0x60000)


def _para(level: int, units: bytes, *, mask: int = 0, last: bool = False) -> bytes:
    """PARA_HEADER (66) with PARA_TEXT (67), PARA_CHAR_SHAPE (68) and PARA_LINE_SEG (69) one level deeper."""
    units += b"\r\0"  # paragraph end
    header = struct.pack("<IIHBBHHHIH", len(units) // 2 | (0x80000000 if last else 0), mask, 0, 0, 0, 1, 0, 1, 0, 0)
    return (_record(66, level, header) + _record(67, level + 1, units)
            + _record(68, level + 1, struct.pack("<II", 0, 0)) + _record(69, level + 1, _LINE_SEG))


def _hwp_table(level: int, rows: list[list[str]]) -> bytes:
    """A paragraph anchoring a table: extended control 11, CTRL_HEADER 'tbl ' (71), TABLE (77), a LIST_HEADER
    (72) per cell with its address, each followed by the cell's paragraph."""
    ctrl_id = struct.pack("<I", int.from_bytes(b"tbl ", "big"))  # stored byte-reversed: b" lbt"
    anchor = struct.pack("<H", 11) + ctrl_id + b"\0" * 8 + struct.pack("<H", 11)
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    units = anchor + b"\r\0"
    out = _record(66, level, struct.pack("<IIHBBHHHIH", len(units) // 2, 1 << 11, 0, 0, 0, 1, 0, 1, 0, 0))
    out += _record(67, level + 1, units) + _record(68, level + 1, struct.pack("<II", 0, 0))
    out += _record(71, level + 1, ctrl_id + struct.pack("<IiiIIiHHHHIiH", 0x082A2311, 0, 0, 42520, 1000 * n_rows,
                                                        0, 140, 140, 140, 140, 1, 0, 0))
    table = struct.pack("<IHHH4H", 0x04000006, n_rows, n_cols, 0, 510, 510, 141, 141)
    out += _record(77, level + 2, table + b"".join(struct.pack("<H", len(r)) for r in rows) + struct.pack("<HH", 1, 0))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            cell = struct.pack("<HHI", 1, 0, 0) + struct.pack("<HHHHII4HHi", c, r, 1, 1, 42520 // n_cols, 1000,
                                                            510, 510, 141, 141, 1, 42520 // n_cols)
            out += _record(72, level + 2, cell) + _para(level + 2, text.encode("utf-16-le"), last=True)
    return out


def _docinfo() -> bytes:
    """DOCUMENT_PROPERTIES (16), ID_MAPPINGS (17) and one each of the shapes a body refers to by id 0."""
    out = _record(16, 0, struct.pack("<H6HIII", 1, 1, 1, 1, 1, 1, 1, 0, 0, 0))
    out += _record(17, 0, struct.pack("<18i", 0, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 0, 0, 1, 1, 0, 0, 0))
    out += _record(19, 1, struct.pack("<BH", 0, 4) + "함초롬바탕".encode("utf-16-le")[:8]) * 7
    out += _record(20, 1, struct.pack("<H", 0) + b"\0" * 24 + struct.pack("<BBIII", 0, 0, 0, 0, 0)) * 2
    out += _record(21, 1, struct.pack("<7H7B7b7B7bii", *[0] * 7, *[100] * 7, *[0] * 7, *[100] * 7, *[0] * 7, 1000, 0)
                   + struct.pack("<bbbbIIIIH", 0, 0, 0, 0, 0, 0xFFFFFFFF, 0xB2B2B2, 0, 0))
    out += _record(22, 1, struct.pack("<Ii", 0, 0))
    out += _record(25, 1, struct.pack("<IiiiiiiHHHHi", 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 160) + struct.pack("<ii", 0, 0))
    out += _record(26, 1, struct.pack("<H", 3) + "바탕글".encode("utf-16-le") + struct.pack("<H", 6)
                   + "Normal".encode("utf-16-le") + struct.pack("<BBhHHH", 0, 0, 1042, 0, 0, 0))
    return out


def _summary_information(title: str) -> bytes:
    """The \\x05HwpSummaryInformation property set: the title (PID 2, VT_LPWSTR)."""
    chars = title.encode("utf-16-le") + b"\0\0"
    value = struct.pack("<II", 0x1F, len(chars) // 2) + chars
    value += b"\0" * (-len(value) % 4)
    section = struct.pack("<IIII", 16 + len(value), 1, 2, 16) + value
    fmtid = bytes.fromhex("60B6A29F6110D411B4C6006097C09D8C")  # {9FA2B660-1061-11D4-B4C6-006097C09D8C}
    return struct.pack("<HHI", 0xFFFE, 0, 0x00020006) + b"\0" * 16 + struct.pack("<I", 1) + fmtid \
        + struct.pack("<I", 48) + section


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def hwp_file(blocks: list, *, compressed: bool = True, flags: int = 0) -> bytes:
    """An HWP 5.0.3.0 document whose body is ``blocks``: strings (paragraphs), lists of rows (tables),
    or bytes (a paragraph's raw PARA_TEXT code units)."""
    body = bytearray()
    for i, block in enumerate(blocks):
        if isinstance(block, list):
            body += _hwp_table(0, block)
        else:
            units = block if isinstance(block, bytes) else block.encode("utf-16-le")
            body += _para(0, units, last=i == len(blocks) - 1)
    body, docinfo = bytes(body), _docinfo()
    if compressed:
        body, docinfo = _deflate(body), _deflate(docinfo)
    header = (b"HWP Document File".ljust(32, b"\0") + struct.pack("<II", 0x05000300, flags | compressed)).ljust(256, b"\0")
    preview = "\r\n".join(b for b in blocks if isinstance(b, str))[:1000].encode("utf-16-le")  # as 한글: a start
    return ole_file({"FileHeader": header, "DocInfo": docinfo, "BodyText/Section0": body, "PrvText": preview,
                     "\x05HwpSummaryInformation": _summary_information("개선조치 의견")})


# --- BIFF8 (.xls)


def _biff(record_type: int, payload: bytes) -> bytes:
    return struct.pack("<HH", record_type, len(payload)) + payload


def xls_file(sheets: dict[str, list[list]]) -> bytes:
    """An Excel 97-2003 (BIFF8) workbook: a worksheet per item, text as shared strings, numbers as NUMBER."""
    strings, index = [], {}
    for rows in sheets.values():
        for v in (v for row in rows for v in row):
            if isinstance(v, str) and v not in index:
                index[v] = len(strings)
                strings.append(v)

    def bof(kind: int) -> bytes:
        return _biff(0x0809, struct.pack("<HHHHII", 0x0600, kind, 0x0DBB, 0x07CC, 0, 0x06))

    eof = _biff(0x000A, b"")
    font = _biff(0x0031, struct.pack("<HHHHHBBBBBB", 200, 0, 0x7FFF, 400, 0, 0, 0, 0, 0, 5, 1)
                 + "Arial".encode("utf-16-le"))
    xf = [_biff(0x00E0, struct.pack("<HHHBBBBIIH", 0, 0, 0xFFF5 if i < 15 else 1, 0x20, 0, 0, 0, 0, 0, 0x20C0))
          for i in range(16)]
    sst = struct.pack("<II", sum(isinstance(v, str) for rows in sheets.values() for r in rows for v in r), len(strings))
    sst += b"".join(struct.pack("<HB", len(s), 1) + s.encode("utf-16-le") for s in strings)
    assert len(sst) < 8224, "keep test workbooks small (no CONTINUE records)"
    head = bof(0x0005) + _biff(0x0042, struct.pack("<H", 1200)) + font * 5 + b"".join(xf)
    streams = []
    for rows in sheets.values():
        body = bof(0x0010) + _biff(0x0200, struct.pack("<IIHHH", 0, len(rows), 0, max(map(len, rows), default=0), 0))
        for r, row in enumerate(rows):
            for c, v in enumerate(row):
                if isinstance(v, str):
                    body += _biff(0x00FD, struct.pack("<HHHI", r, c, 15, index[v]))
                elif v is not None:
                    body += _biff(0x0203, struct.pack("<HHHd", r, c, 15, float(v)))
        streams.append(body + eof)
    offset = len(head) + sum(12 + 2 * len(name) for name in sheets) + 4 + len(sst) + len(eof)
    boundsheets = b""
    for name, stream in zip(sheets, streams):
        boundsheets += _biff(0x0085, struct.pack("<IBBBB", offset, 0, 0, len(name), 1) + name.encode("utf-16-le"))
        offset += len(stream)
    return ole_file({"Workbook": head + boundsheets + _biff(0x00FC, sst) + eof + b"".join(streams)})


# --- HWPX (OWPML)

HP = "http://www.hancom.co.kr/hwpml/2011/paragraph"
HS = "http://www.hancom.co.kr/hwpml/2011/section"


def _hp(text: str) -> str:
    return f'<hp:p paraPrIDRef="0" styleIDRef="0"><hp:run charPrIDRef="0"><hp:t>{escape(text)}</hp:t></hp:run></hp:p>'


def _hp_table(rows: list[list], row_spans: dict[tuple[int, int], int] | None = None) -> str:
    """A paragraph holding an hp:tbl; None in ``rows`` is a cell covered by a merge from above."""
    row_spans = row_spans or {}
    trs = []
    for r, row in enumerate(rows):
        tcs = "".join(
            f'<hp:tc><hp:subList>{_hp(text)}</hp:subList><hp:cellAddr colAddr="{c}" rowAddr="{r}"/>'
            f'<hp:cellSpan colSpan="1" rowSpan="{row_spans.get((r, c), 1)}"/></hp:tc>'
            for c, text in enumerate(row) if text is not None)
        trs.append(f"<hp:tr>{tcs}</hp:tr>")
    return (f'<hp:p paraPrIDRef="0" styleIDRef="0"><hp:run charPrIDRef="0"><hp:tbl rowCnt="{len(rows)}" '
            f'colCnt="{max(map(len, rows))}">{"".join(trs)}</hp:tbl><hp:t/></hp:run></hp:p>')


def hwpx_file(blocks: list, *, section_xml: str | None = None) -> bytes:
    """An HWPX archive whose Contents/section0.xml body is ``blocks``: strings (paragraphs) or tables
    (a list of rows, or a (rows, row_spans) pair)."""
    body = "".join(_hp(b) if isinstance(b, str) else _hp_table(*b) if isinstance(b, tuple) else _hp_table(b)
                   for b in blocks)
    section = section_xml or f'<?xml version="1.0" encoding="UTF-8"?><hs:sec xmlns:hs="{HS}" xmlns:hp="{HP}">{body}</hs:sec>'
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), "application/hwp+zip")  # stored, first, as the format wants
        zf.writestr("version.xml", '<?xml version="1.0"?><hv:HCFVersion xmlns:hv="http://www.hancom.co.kr/hwpml/2011/version" major="5" minor="1"/>')
        zf.writestr("Contents/content.hpf", '<?xml version="1.0"?><opf:package xmlns:opf="http://www.idpf.org/2007/opf/">'
                    '<opf:manifest><opf:item id="section0" href="Contents/section0.xml" media-type="application/xml"/>'
                    '</opf:manifest><opf:spine><opf:itemref idref="section0"/></opf:spine></opf:package>')
        zf.writestr("Contents/section0.xml", section)
    return out.getvalue()


OPINION_TABLE = [["연번", "대학명", "평가의견"],
                 ["1", "가온대학교", "재학생 대상 진로 상담 체계를 강화할 필요가 있음"],
                 ["2", "한빛대학교", "비교과 프로그램 운영 성과를 체계적으로 관리할 것"]]


def _error(path, config=None) -> CorpusError:
    with pytest.raises(CorpusError) as info:
        load_corpus(path, config)
    return info.value


def _config(**limits):
    """A corpus config carrying limit overrides the way the lead's CorpusConfig fields will."""
    return types.SimpleNamespace(**{**CorpusConfig().model_dump(), **limits})


# ==================================================================================== HWPX


def test_hwpx_title_paragraphs_and_opinion_table_year_from_the_file_name(tmp_path):
    folder = tmp_path / "평가 자료"  # a path with a space and Korean names
    folder.mkdir()
    path = folder / "개선조치의견서_2019.hwpx"
    path.write_bytes(hwpx_file(["2019년 대학일자리플러스센터 개선조치 의견", "※ 평가위원 의견을 정리함", OPINION_TABLE,
                                "작성일: 2019. 12. 1."]))
    corpus = load_corpus(path)
    docs = corpus.docs
    assert docs["text"].tolist() == [OPINION_TABLE[1][2], OPINION_TABLE[2][2]]
    assert docs["year"].tolist() == [2019, 2019]
    assert docs["대학명"].tolist() == ["가온대학교", "한빛대학교"]
    assert docs["source_row"].tolist() == [2, 3]  # rows of the table, its header being row 1
    report = corpus.files[0]
    assert report.format == "hwpx" and report.encoding is None and report.opinions == 2
    mapping = report.tables["table 1"]
    assert (mapping.id, mapping.text, mapping.year_from) == ("연번", "평가의견", "file name")
    assert any("3 paragraph(s) outside the opinion table" in n for n in report.notes)


def test_hwpx_table_with_a_year_column_and_a_title_row_inside_the_table(tmp_path):
    rows = [["2020-2021 평가 결과", "", "", ""], ["연번", "연도", "대학명", "의견"],
            ["1", "2020", "가온대학교", "졸업생 사후 관리 체계를 마련할 것"],
            ["2", "2021", "한빛대학교", "지역 청년 취업 지원 확대가 필요함"]]
    (tmp_path / "의견서.hwpx").write_bytes(hwpx_file(["제목", rows]))
    corpus = load_corpus(tmp_path / "의견서.hwpx")
    assert corpus.docs["year"].tolist() == [2020, 2021]
    assert corpus.docs["source_row"].tolist() == [3, 4]
    assert corpus.files[0].tables["table 1"].year_from == "column"


def test_hwpx_merged_cells_are_repeated_down_the_rows_they_cover(tmp_path):
    rows = [["대학명", "평가의견"], ["가온대학교", "상담 체계 강화가 필요함"], [None, "비교과 운영 개선이 필요함"]]
    (tmp_path / "2022.hwpx").write_bytes(hwpx_file([(rows, {(1, 0): 2})]))
    docs = load_corpus(tmp_path / "2022.hwpx").docs
    assert docs["대학명"].tolist() == ["가온대학교", "가온대학교"]
    assert docs["text"].tolist() == ["상담 체계 강화가 필요함", "비교과 운영 개선이 필요함"]


def test_hwpx_without_an_opinion_table_reads_each_paragraph_as_an_opinion(tmp_path):
    path = tmp_path / "2020.hwpx"
    path.write_bytes(hwpx_file(["재학생 진로 상담을 강화할 것", "", "졸업생 취업 현황을 관리할 것",
                                [["구분", "비고"], ["서명", "(인)"]]]))
    corpus = load_corpus(path)
    assert corpus.docs["text"].tolist() == ["재학생 진로 상담을 강화할 것", "졸업생 취업 현황을 관리할 것"]
    assert corpus.docs["source_row"].tolist() == [1, 3]  # paragraph numbers
    assert corpus.docs["year"].tolist() == [2020, 2020]
    notes = " ".join(corpus.files[0].notes)
    assert "each paragraph read as one opinion" in notes and "1 table(s) without an opinion header" in notes


def test_hwpx_without_a_year_anywhere_says_where_to_put_it(tmp_path):
    (tmp_path / "의견서.hwpx").write_bytes(hwpx_file(["제목", OPINION_TABLE]))
    err = _error(tmp_path / "의견서.hwpx")
    assert err.file.endswith("의견서.hwpx[table 1]") and "no year" in str(err)
    assert "file name" in err.fix and "2019.hwpx" in err.fix
    (tmp_path / "메모.hwpx").write_bytes(hwpx_file(["상담 체계를 강화할 것"]))
    err = _error(tmp_path / "메모.hwpx")
    assert err.file.endswith("메모.hwpx") and "name has no year" in str(err)
    assert "개선조치의견서_2019.hwpx" in err.fix and "연도" in err.fix


def test_hwpx_made_by_a_real_producer(tmp_path):
    """hwpforge's OWPML (full namespaces, secPr, line segments) reads as a title, a note, a table and a date."""
    corpus = load_corpus(FIXTURES / "hwpforge_opinions_2019.hwpx")
    assert corpus.docs["text"].tolist() == ["재학생 대상 진로 상담 체계를 강화할 필요가 있음",
                                            "비교과 프로그램 운영 성과를 관리할 것"]
    assert corpus.docs["year"].tolist() == [2019, 2019] and corpus.docs["대학명"].iloc[0] == "가온대학교"


@pytest.mark.parametrize("content, message", [
    (b"not a zip at all", "not an HWPX document"),
    (b"PK\x03\x04 broken", "damaged"),
])
def test_hwpx_that_is_not_one(tmp_path, content, message):
    (tmp_path / "2019.hwpx").write_bytes(content)
    assert message in str(_error(tmp_path / "2019.hwpx"))


def test_hwpx_without_a_section_and_with_a_dtd(tmp_path):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("word/document.xml", "<w/>")
    (tmp_path / "2019.hwpx").write_bytes(out.getvalue())
    assert "no Contents/section0.xml" in str(_error(tmp_path / "2019.hwpx"))
    bomb = ('<?xml version="1.0"?><!DOCTYPE sec [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
            f'<hs:sec xmlns:hs="{HS}" xmlns:hp="{HP}"><hp:p><hp:run><hp:t>&b;</hp:t></hp:run></hp:p></hs:sec>')
    (tmp_path / "2020.hwpx").write_bytes(hwpx_file([], section_xml=bomb))
    assert "declares a DTD" in str(_error(tmp_path / "2020.hwpx"))


def test_hwpx_section_past_the_size_limit(tmp_path):
    (tmp_path / "2019.hwpx").write_bytes(hwpx_file(["상담 체계 강화 " * 20000]))
    err = _error(tmp_path / "2019.hwpx", _config(max_decompressed_mb=0.1))
    assert "expands past" in str(err) and "max_decompressed_mb" in err.fix


# ===================================================================================== HWP


def test_hwp_title_paragraphs_and_opinion_table(tmp_path):
    path = tmp_path / "개선조치의견서 2019.hwp"
    path.write_bytes(hwp_file(["2019년 개선조치 의견", OPINION_TABLE, "※ 참고 사항"]))
    corpus = load_corpus(path)
    assert corpus.docs["text"].tolist() == [OPINION_TABLE[1][2], OPINION_TABLE[2][2]]
    assert corpus.docs["year"].tolist() == [2019, 2019]
    assert corpus.docs["doc_id"].tolist() == ["1", "2"] and corpus.docs["대학명"].iloc[1] == "한빛대학교"
    report = corpus.files[0]
    assert report.format == "hwp" and report.tables["table 1"].year_from == "file name"
    assert any("2 paragraph(s) outside" in n for n in report.notes)


@pytest.mark.parametrize("compressed", [True, False])
def test_hwp_paragraphs_are_opinions_without_an_opinion_table(tmp_path, compressed):
    long = "지역 청년 대상 취업 지원 프로그램을 확대하고 성과를 관리할 것. " * 60  # > 4095 bytes: extended record size
    (tmp_path / "2021.hwp").write_bytes(hwp_file(["상담 인력을 충원할 것", "", long], compressed=compressed))
    docs = load_corpus(tmp_path / "2021.hwp").docs
    assert docs["text"].tolist() == ["상담 인력을 충원할 것", long.strip()]
    assert docs["source_row"].tolist() == [1, 3] and docs["year"].tolist() == [2021, 2021]


def test_hwp_para_text_controls():
    tab = struct.pack("<H", 9) + b"\0" * 12 + struct.pack("<H", 9)  # inline control: 8 code units
    section = struct.pack("<H", 2) + b"dces" + b"\0" * 8 + struct.pack("<H", 2)  # extended control 'secd'
    units = section + "상담".encode("utf-16-le") + tab + "강화".encode("utf-16-le") + struct.pack("<H", 10) \
        + "필요 😀".encode("utf-16-le") + struct.pack("<H", 30) + "끝".encode("utf-16-le") + struct.pack("<H", 13)
    assert hwp_para_text(units) == "상담\t강화\n필요 😀 끝"
    doc = read_hwp(hwp_file([units[:-2]]), "x", max_bytes=2**20, max_cells=100)
    assert doc.paragraphs == ["상담\t강화\n필요 😀 끝"]


@pytest.mark.parametrize("flags, message", [(0x02, "password-protected"), (0x04, "distribution"), (0x10, "DRM")])
def test_hwp_protected_documents(tmp_path, flags, message):
    (tmp_path / "2019.hwp").write_bytes(hwp_file(["상담"], flags=flags))
    err = _error(tmp_path / "2019.hwp")
    assert message in str(err) and err.fix


def test_hwp_that_is_not_one(tmp_path):
    (tmp_path / "2019.hwp").write_text("연도,평가의견\n", encoding="utf-8")
    assert "not an HWP 5 document" in str(_error(tmp_path / "2019.hwp"))
    (tmp_path / "2020.hwp").write_bytes(hwpx_file(["상담"]))
    assert "rename it to .hwpx" in _error(tmp_path / "2020.hwp").fix
    (tmp_path / "2021.hwp").write_bytes(xls_file({"Sheet1": [["a"]]}))
    assert "no HWP FileHeader" in str(_error(tmp_path / "2021.hwp"))


def test_hwp_damaged_record_stream(tmp_path):
    good = hwp_file(["상담 체계를 강화할 것"], compressed=False)
    body = _para(0, "상담 체계를 강화할 것".encode("utf-16-le"))[:-10]  # cut inside the last record
    header = (b"HWP Document File".ljust(32, b"\0") + struct.pack("<II", 0x05000300, 0)).ljust(256, b"\0")
    damaged = ole_file({"FileHeader": header, "DocInfo": _docinfo(), "BodyText/Section0": body})
    assert read_hwp(good, "x", max_bytes=2**20, max_cells=10).paragraphs == ["상담 체계를 강화할 것"]
    (tmp_path / "2019.hwp").write_bytes(damaged)
    assert "damaged" in str(_error(tmp_path / "2019.hwp"))


def test_hwp_body_past_the_size_limit(tmp_path):
    (tmp_path / "2019.hwp").write_bytes(hwp_file(["상담 체계 강화 " * 3000] * 10))
    err = _error(tmp_path / "2019.hwp", _config(max_decompressed_mb=0.1))
    assert "expands past" in str(err) and "max_decompressed_mb" in err.fix


def test_hwp_and_hwpx_give_the_same_document():
    blocks = ["제목", OPINION_TABLE, "비고"]
    a = read_hwp(hwp_file(blocks), "a", max_bytes=2**20, max_cells=100)
    b = read_hwpx(hwpx_file(blocks), "b", max_bytes=2**20, max_cells=100)
    assert a.blocks == b.blocks and a.tables[0].rows == OPINION_TABLE


# ===================================================================================== XLS


def test_xls_every_sheet_year_from_the_sheet_name(tmp_path):
    path = tmp_path / "opinions.xls"
    path.write_bytes(xls_file({"2018": [["연번", "평가의견"], [1, "진로 탐색 프로그램 확대"], [2, "상담 인력 충원 필요"]],
                               "2019": [["연번", "평가의견", "점수"], [1, "취업 성과 관리 강화", 3.5]],
                               "빈 시트": []}))
    corpus = load_corpus(path)
    assert corpus.docs["year"].tolist() == [2018, 2018, 2019]
    assert corpus.docs["source_id"].tolist() == ["1", "2", "1"]  # 1.0 in the file, an integer id here
    assert corpus.docs["점수"].iloc[2] == "3.5" and corpus.docs["점수"].iloc[:2].isna().all()
    report = corpus.files[0]
    assert report.format == "xls" and report.tables["2018"].year_from == "sheet name"
    assert corpus.docs["doc_id"].is_unique
    assert any("'빈 시트' has no rows" in n for n in report.notes)


def test_xls_made_by_libreoffice():
    corpus = load_corpus(FIXTURES / "libreoffice_opinions.xls")
    docs = corpus.docs
    assert docs["year"].tolist() == [2019, 2019, 2020, 2020]
    assert docs["text"].iloc[2] == "졸업생 사후 관리 체계를 마련할 것"
    assert docs["source_row"].tolist() == [2, 3, 4, 5]  # sheet 2020 has a title above its header
    assert docs["date"].iloc[2].startswith("2020-05-31")  # the year of sheet 2020 comes from its 작성일 column
    assert corpus.files[0].tables["2020"].year_from == "date"


@pytest.mark.parametrize("content, message, fix", [
    (None, "an .xlsx workbook with an .xls name", "rename it to .xlsx"),
    (b"<html><table><tr><td>\xec\x97\xb0\xeb\x8f\x84</td></tr></table></html>", "web page", ".xlsx"),
    (b"\xef\xbb\xbf<?xml version='1.0'?><Workbook/>", "web page", ".xlsx"),
    ("연도,평가의견\n2019,상담\n".encode(), "not a legacy Excel workbook", ".csv"),
])
def test_xls_that_is_not_one(tmp_path, content, message, fix):
    if content is None:
        pd.DataFrame({"연도": [2019], "평가의견": ["상담"]}).to_excel(tmp_path / "x.xlsx", index=False)
        content = (tmp_path / "x.xlsx").read_bytes()
    (tmp_path / "x.xls").write_bytes(content)
    err = _error(tmp_path / "x.xls")
    assert message in str(err) and fix in err.fix


def test_xls_with_too_many_cells(tmp_path):
    (tmp_path / "2019.xls").write_bytes(xls_file({"2019": [["평가의견", "a", "b"]] + [["상담", 1, 2]] * 30}))
    err = _error(tmp_path / "2019.xls", _config(max_sheet_cells=50))
    assert "more than 50 cells" in str(err) and "max_sheet_cells" in err.fix


# ===================================================================================== CSV


@pytest.mark.parametrize("sep, name", [(";", "x.csv"), ("\t", "x.csv"), ("|", "x.csv"), (",", "x.csv")])
def test_csv_delimiter_is_sniffed(tmp_path, sep, name):
    frame = pd.DataFrame({"연번": [1, 2], "연도": [2019, 2020], "대학명": ["가온대", "한빛대"],
                          "평가의견": ["상담, 진로 체계 강화; 필요", "비교과 운영 개선 (성과|관리)"]})
    frame.to_csv(tmp_path / name, sep=sep, index=False, encoding="cp949")
    corpus = load_corpus(tmp_path / name)
    assert corpus.files[0].delimiter == sep and corpus.files[0].encoding == "cp949"
    assert corpus.docs["text"].tolist() == frame["평가의견"].tolist()
    assert corpus.docs["대학명"].tolist() == ["가온대", "한빛대"]


def test_comma_csv_whose_texts_hold_semicolons_and_line_breaks(tmp_path):
    texts = [f"첫째; 상담 체계 강화\n둘째; 비교과 개선\n셋째; 성과 관리 {i}" for i in range(30)]
    pd.DataFrame({"연도": [2019] * 30, "평가의견": texts}).to_csv(tmp_path / "x.csv", index=False)
    corpus = load_corpus(tmp_path / "x.csv")
    assert corpus.files[0].delimiter == "," and len(corpus.docs) == 30
    assert corpus.docs["text"].iloc[0] == "첫째; 상담 체계 강화 둘째; 비교과 개선 셋째; 성과 관리 0"


def test_sniffing_falls_back_to_comma():
    assert sniff_delimiter("평가의견\n상담 체계 강화\n") == ","
    assert sniff_delimiter("") == ","
    assert sniff_delimiter("※ 2020년 평가 결과,,\n연번,연도,의견\n1,2020,상담 체계 강화\n") == ","


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom(tmp_path, encoding):
    text = "연번,연도,평가의견\n1,2019,가장 먼저 상담 체계를 강화할 것\n2,2020,졸업생 관리 가능성 검토\n"
    (tmp_path / "x.csv").write_bytes(text.encode(encoding))
    corpus = load_corpus(tmp_path / "x.csv")
    assert corpus.files[0].encoding == encoding
    assert corpus.docs["text"].tolist() == ["가장 먼저 상담 체계를 강화할 것", "졸업생 관리 가능성 검토"]
    assert decode_bytes(text.encode(encoding), "x.csv") == (text, encoding)


def test_utf16_without_bom_mostly_hangul(tmp_path):
    long = "가나다라마바사아자차카타파하 " * 40
    text = "연도,평가의견\n" + "".join(f"2019,{long}{i}\n" for i in range(20))
    (tmp_path / "x.csv").write_bytes(text.encode("utf-16-le"))
    corpus = load_corpus(tmp_path / "x.csv")
    assert corpus.files[0].encoding == "utf-16-le" and len(corpus.docs) == 20


@pytest.mark.parametrize("body, what", [
    ("연도,평가의견\n2019,상담 체계 강화\n".encode("cp949"), "CP949/EUC-KR"),
    ("연도,평가의견\n2019,상담 체계 강화\n".encode("utf-16-le"), "UTF-16"),
    (b"year,text\n2019,caf\xe9 cr\xe8me\n", "not UTF-8"),
])
def test_utf8_bom_followed_by_another_encoding(tmp_path, body, what):
    (tmp_path / "x.csv").write_bytes(b"\xef\xbb\xbf" + body)
    err = _error(tmp_path / "x.csv")  # a CorpusError, not a UnicodeDecodeError
    assert err.file.endswith("x.csv") and "byte-order mark" in str(err) and what in str(err)
    assert "UTF-8" in err.fix


def test_undecodable_file_names_the_encodings_tried(tmp_path):
    (tmp_path / "x.csv").write_bytes("year,text\n2019,café crème brûlée\n".encode("latin-1"))
    err = _error(tmp_path / "x.csv")
    assert "x.csv" in str(err) and "UTF-8" in str(err) and "UTF-16" in str(err) and "CP949" in str(err)


def test_stray_nul_bytes_are_removed_and_reported(tmp_path):
    data = "연도,평가의견\n2019,상담 체계를\x00 강화할 것\x00\n".encode() + "2020,비교과 운영을 개선할 것\n".encode() * 20
    (tmp_path / "x.csv").write_bytes(data)
    corpus = load_corpus(tmp_path / "x.csv")
    assert "\x00" not in "".join(corpus.docs["text"]) and corpus.docs["text"].iloc[0] == "상담 체계를 강화할 것"
    assert corpus.files[0].notes == ["2 NUL byte(s) removed"]


def test_a_pdf_renamed_csv_is_named_as_such(tmp_path):
    (tmp_path / "x.csv").write_bytes(b"%PDF-1.7\n\x00\x00\x00binary")
    err = _error(tmp_path / "x.csv")
    assert "binary file (a PDF document)" in str(err)


# ========================================================== folders: nothing skipped silently


def _mixed_folder(root):
    root.mkdir()
    sub = root / "2021 자료"
    sub.mkdir()
    pd.DataFrame({"연도": [2019], "평가의견": ["세미콜론으로 구분된 의견 상담 강화"]}).to_csv(
        root / "세미콜론.csv", sep=";", index=False, encoding="cp949")
    pd.DataFrame({"연도": [2020], "평가의견": ["탭으로 구분된 의견 비교과 개선"]}).to_csv(
        root / "tab.csv", sep="\t", index=False, encoding="utf-8")
    (sub / "utf16.csv").write_bytes("연도,평가의견\n2021,UTF-16 의견 졸업생 관리\n".encode("utf-16-le"))
    (sub / "개선조치의견서_2022.hwpx").write_bytes(hwpx_file(["제목", OPINION_TABLE]))
    (root / "2023.hwp").write_bytes(hwp_file(["2023년 의견 취업 성과 관리"]))
    (root / "old.xls").write_bytes(xls_file({"2024": [["평가의견"], ["엑셀 97 의견 지역 청년"]]}))
    (root / "report.pdf").write_bytes(b"%PDF-1.7")
    (sub / "notes.docx").write_bytes(b"PK\x03\x04")
    (root / "scan.png").write_bytes(b"\x89PNG")
    (root / "data").write_bytes(b"no extension")
    (root / "README.md").write_text("about", encoding="utf-8")
    (root / "truth.json").write_text("{}", encoding="utf-8")
    (root / ".hidden.csv").write_text("연도,평가의견\n2019,숨김\n", encoding="utf-8")
    (root / "~$old.xls").write_bytes(b"lock")


def test_folder_lists_every_file_read_or_not(tmp_path):
    root = tmp_path / "말뭉치 폴더"
    _mixed_folder(root)
    corpus = load_corpus(root)
    assert sorted(corpus.docs["year"].unique()) == [2019, 2020, 2021, 2022, 2023, 2024]
    read = {f.path: f for f in corpus.files}
    assert sorted(read) == ["2021 자료/utf16.csv", "2021 자료/개선조치의견서_2022.hwpx", "2023.hwp", "old.xls",
                            "tab.csv", "세미콜론.csv"]
    assert (read["세미콜론.csv"].encoding, read["세미콜론.csv"].delimiter) == ("cp949", ";")
    assert (read["tab.csv"].encoding, read["tab.csv"].delimiter) == ("utf-8", "\t")
    assert read["2021 자료/utf16.csv"].encoding == "utf-16-le"
    assert all(f.status == "read" and f.opinions >= 1 for f in corpus.files)
    unread = {f["path"]: f for f in corpus.skipped_files()}
    assert sorted(unread) == ["2021 자료/notes.docx", "data", "report.pdf", "scan.png"]
    assert unread["report.pdf"]["reason"] == "unsupported format: .pdf — convert to .csv/.xlsx/.hwpx"
    assert unread["report.pdf"]["status"] == "unread" and unread["scan.png"]["format"] == "png"
    assert "no file extension" in unread["data"]["reason"]
    report = corpus.files_report()
    assert [f["status"] for f in report] == ["read"] * 6 + ["unread"] * 4
    ignored = {i["path"]: i["reason"] for i in corpus.ignored}
    assert ignored == {".hidden.csv": "hidden file", "README.md": "metadata beside the data",
                       "truth.json": "metadata beside the data", "~$old.xls": "Office lock file"}


def test_validate_lists_unread_and_ignored_files(tmp_path, capsys):
    root = tmp_path / "corpus"
    _mixed_folder(root)
    code, out, err = run_cli(["validate", root], capsys)
    assert code == 0, err
    assert "report.pdf: NOT READ — unsupported format: .pdf — convert to .csv/.xlsx/.hwpx" in out
    assert "세미콜론.csv: csv (delimiter ';'), encoding cp949, 1 rows, 1 opinions" in out
    assert "tab.csv: csv (delimiter tab)" in out
    assert "2021 자료/개선조치의견서_2022.hwpx: hwpx, encoding n/a (binary format), 2 rows, 2 opinions" in out
    assert "[table 1] text='평가의견', year from file name" in out
    assert "ignored (not opinions): .hidden.csv (hidden file)" in out
    code, out, _ = run_cli(["validate", root, "--json"], capsys)
    report = json.loads(out)
    statuses = {f["path"]: f["status"] for f in report["files"]}
    assert statuses["report.pdf"] == "unread" and statuses["old.xls"] == "read"
    assert {i["path"] for i in report["ignored"]} == {".hidden.csv", "README.md", "truth.json", "~$old.xls"}


def test_folder_with_nothing_readable_names_what_it_found(tmp_path):
    (tmp_path / "a.pdf").write_bytes(b"%PDF")
    (tmp_path / "truth.json").write_text("{}", encoding="utf-8")
    err = _error(tmp_path)
    assert "no supported files (found: a.pdf)" in str(err)


def test_profile_dictionary_beside_the_data_is_metadata(tmp_path):
    (tmp_path / "2019.txt").write_text("상담 체계 강화\n", encoding="utf-8")
    (tmp_path / "terms.txt").write_text("취창업지원단\tNNP\n", encoding="utf-8")
    (tmp_path / "profile.toml").write_text('dictionary_file = "terms.txt"\n', encoding="utf-8")
    corpus = load_corpus(tmp_path)
    assert [f.path for f in corpus.files] == ["2019.txt"]
    assert {"path": "terms.txt", "reason": "metadata beside the data"} in corpus.ignored


# ================================================================================ symlinks


def test_symlink_outside_the_corpus_is_not_read(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    secret = outside / "2019.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n" * 24, encoding="utf-8")
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "2020.txt").write_text("상담 체계 강화\n", encoding="utf-8")
    (root / "2019.txt").symlink_to(secret)
    (root / "linked").symlink_to(outside, target_is_directory=True)
    corpus = load_corpus(root)
    assert corpus.docs["text"].tolist() == ["상담 체계 강화"]
    unread = {f["path"]: f["reason"] for f in corpus.skipped_files()}
    assert unread["2019.txt"].startswith("symlink outside the corpus folder")
    assert unread["linked"].startswith("symlink outside the corpus folder")
    # named directly, the file is the user's choice
    assert len(load_corpus(root / "2019.txt").docs) == 24


def test_symlinks_inside_the_corpus_are_read_once(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "2019.txt").write_text("상담 체계 강화\n", encoding="utf-8")
    (tmp_path / "alias_2019.txt").symlink_to(tmp_path / "data" / "2019.txt")
    (tmp_path / "again").symlink_to(tmp_path / "data", target_is_directory=True)
    (tmp_path / "gone.csv").symlink_to(tmp_path / "missing.csv")
    corpus = load_corpus(tmp_path)
    assert len(corpus.docs) == 1 and [f.path for f in corpus.files] == ["alias_2019.txt"]
    ignored = {i["path"]: i["reason"] for i in corpus.ignored}
    assert ignored["data/2019.txt"] == "the same file as alias_2019.txt (read once)"
    assert ignored["again"].startswith("symlink to a folder inside the corpus")
    assert {f.path: f.reason for f in corpus.skipped}["gone.csv"].startswith("broken symlink")


# =================================================================================== years


@pytest.mark.parametrize("value, problem", [
    ("2019-2020", "is a range of years; write one year"),
    ("2020-21", "is a range of years; write one year"),
    ("2019~2020", "is a range of years; write one year"),
    ("2019년~2020년", "is a range of years; write one year"),
    ("2019.5", "is not a whole year"),
    (2019.5, "is not a whole year"),
    ("2019-13-45", "is not a valid date (month 13)"),
    ("2019-02-30", "is not a valid date (day 30)"),
    ("2019-13", "is not a valid date (month 13)"),
    ("1850", "is not a year between 1900 and 2100"),
    ("2O19", "is not a year"),
])
def test_ambiguous_or_invalid_years_are_errors(value, problem):
    with pytest.raises(YearError) as info:
        parse_year(value, from_date=False)
    assert info.value.problem == problem


@pytest.mark.parametrize("value", ["2019", "2019년", "2019.0", 2019, 2019.0, "2019-05-31", "2019.05.31", "2019/5/31",
                                   "2019. 5. 31.", "2019년 5월 31일", "20190531", "2019-05", "2019-05-31 10:00:00"])
def test_real_years_and_dates_still_work(value):
    assert parse_year(value, from_date=False) == 2019
    assert parse_year(value, from_date=True) == 2019


def test_a_date_column_takes_a_year_month_with_a_dot(tmp_path):
    # In a date column 2019.5 is May 2019 (Korean dotted style); in a year column it is an error.
    assert parse_year("2019.5", from_date=True) == 2019
    pd.DataFrame({"작성일": ["2019.5"], "평가의견": ["상담"]}).to_csv(tmp_path / "x.csv", index=False)
    assert load_corpus(tmp_path / "x.csv").docs["year"].tolist() == [2019]


@pytest.mark.parametrize("value, problem", [("2019-2020", "'2019-2020' is a range of years; write one year"),
                                            ("2019.5", "'2019.5' is not a whole year"),
                                            ("2019-13-45", "'2019-13-45' is not a valid date (month 13)")])
def test_year_errors_name_file_row_and_column(tmp_path, value, problem):
    pd.DataFrame({"연도": ["2019", value], "평가의견": ["상담", "비교과"]}).to_csv(tmp_path / "x.csv", index=False)
    err = _error(tmp_path / "x.csv")
    assert err.file.endswith("x.csv") and (err.row, err.column) == (3, "연도") and problem in str(err)


# ========================================================================= duplicate headers


def test_two_text_columns_are_an_error_unless_one_is_named(tmp_path):
    pd.DataFrame({"연도": [2019], "평가의견": ["상담 체계 강화"], "의견": ["비교과 개선"]}).to_csv(tmp_path / "x.csv", index=False)
    err = _error(tmp_path / "x.csv")
    assert "two text columns are recognised: '평가의견' and '의견'" in str(err) and "--text-col" in err.fix
    corpus = load_corpus(tmp_path / "x.csv", CorpusConfig(text_col="의견"))
    assert corpus.docs["text"].tolist() == ["비교과 개선"] and corpus.docs["평가의견"].tolist() == ["상담 체계 강화"]


def test_two_year_columns_are_an_error_unless_one_is_named(tmp_path):
    pd.DataFrame({"연도": [2019], "평가연도": [2020], "평가의견": ["상담"]}).to_csv(tmp_path / "x.csv", index=False)
    err = _error(tmp_path / "x.csv")
    assert "two year columns are recognised: '연도' and '평가연도'" in str(err) and "--year-col" in err.fix
    assert load_corpus(tmp_path / "x.csv", CorpusConfig(year_col="평가연도")).docs["year"].tolist() == [2020]


def test_a_repeated_header_is_an_error(tmp_path):
    (tmp_path / "x.csv").write_text("연도,평가의견,평가의견\n2019,상담,비교과\n", encoding="utf-8")
    err = _error(tmp_path / "x.csv")
    assert "'평가의견' (twice: the second is read as '평가의견.1')" in str(err)


def test_two_date_columns_matter_only_when_the_year_comes_from_a_date(tmp_path):
    pd.DataFrame({"작성일": ["2019-01-02"], "등록일": ["2020-01-02"], "의견": ["상담"]}).to_csv(tmp_path / "x.csv", index=False)
    assert "two date columns" in str(_error(tmp_path / "x.csv"))
    pd.DataFrame({"연도": [2019], "작성일": ["2019-01-02"], "등록일": ["2020-01-02"], "의견": ["상담"]}).to_csv(
        tmp_path / "y.csv", index=False)
    assert load_corpus(tmp_path / "y.csv").files[0].tables["-"].date == "작성일"


# ==================================================================================== JSON


def test_duplicate_keys_in_a_json_record(tmp_path):
    (tmp_path / "x.json").write_text('[{"연도": 2019, "평가의견": "상담", "평가의견": "비교과"}]', encoding="utf-8")
    err = _error(tmp_path / "x.json")
    assert err.file.endswith("x.json") and "the key '평가의견' appears twice" in str(err)
    (tmp_path / "y.jsonl").write_text('{"연도": 2019, "평가의견": "상담"}\n{"연도": 2019, "연도": 2020, "평가의견": "x"}\n',
                                      encoding="utf-8")
    err = _error(tmp_path / "y.jsonl")
    assert err.row == 2 and "'연도' appears twice" in str(err)


@pytest.mark.parametrize("name", ["x.json", "x.jsonl"])
def test_deeply_nested_json(tmp_path, name):
    (tmp_path / name).write_text('{"a": ' * 100_000 + "1" + "}" * 100_000, encoding="utf-8")
    err = _error(tmp_path / name)
    assert "nested too deeply" in str(err) and "flat objects" in err.fix


def test_an_opinion_that_is_an_object(tmp_path):
    (tmp_path / "x.jsonl").write_text('{"연도": 2019, "평가의견": {"본문": "상담"}}\n', encoding="utf-8")
    err = _error(tmp_path / "x.jsonl")
    assert "is a JSON object, not text" in str(err) and err.column == "평가의견"


# =========================================================================== resource limits


def test_gzip_bomb_stops_at_the_default_limit(tmp_path):
    """A small .csv.gz that expands past MAX_DECOMPRESSED_MB (256 MB) is refused without reading it all."""
    member = gzip.compress(b"2019,\xec\x83\x81\xeb\x8b\xb4 " + b"a" * (2**20 - 20) + b"\n", 9)
    path = tmp_path / "x.csv.gz"
    with path.open("wb") as out:
        out.write(gzip.compress("연도,평가의견\n".encode()))
        for _ in range(300):  # gzip members may be concatenated: 300 MB of data in ~300 KB
            out.write(member)
    assert path.stat().st_size < 2**20
    started = time.monotonic()
    err = _error(path)
    assert time.monotonic() - started < 60
    assert f"expands past {decode.MAX_DECOMPRESSED_MB} MB" in str(err)
    assert "raise corpus.max_decompressed_mb or split the file" in err.fix


def test_plain_file_past_the_limit(tmp_path):
    pd.DataFrame({"연도": [2019] * 40000, "평가의견": ["상담 체계 강화 필요"] * 40000}).to_csv(tmp_path / "x.csv", index=False)
    err = _error(tmp_path / "x.csv", _config(max_decompressed_mb=0.5))
    assert "past the limit of 0.50 MB" in str(err)


def test_a_cell_past_the_limit_names_row_and_column(tmp_path):
    pd.DataFrame({"연도": [2019, 2019], "평가의견": ["상담", "가" * 1001], "비고": ["", ""]}).to_csv(
        tmp_path / "x.csv", index=False)
    err = _error(tmp_path / "x.csv", _config(max_cell_chars=1000))
    assert (err.row, err.column) == (3, "평가의견") and "1,001 characters" in str(err)
    assert "max_cell_chars" in err.fix
    pd.DataFrame({"연도": [2019], "평가의견": ["상담"], "비고": ["나" * 2000]}).to_csv(tmp_path / "y.csv", index=False)
    assert _error(tmp_path / "y.csv", _config(max_cell_chars=1000)).column == "비고"


def test_xlsx_limits(tmp_path):
    path = tmp_path / "2019.xlsx"
    pd.DataFrame({"평가의견": ["상담 체계 강화"] * 100, "비고": ["-"] * 100}).to_excel(path, index=False)
    err = _error(path, _config(max_sheet_cells=150))
    assert "sheet 'Sheet1' has more than 150 cells" in str(err) and "max_sheet_cells" in err.fix
    assert len(load_corpus(path, _config(max_sheet_cells=1000)).docs) == 100
    err = _error(path, _config(max_decompressed_mb=0.001))
    assert "expands past" in str(err) or "past the limit" in str(err)


def test_parquet_with_too_many_cells(tmp_path):
    pd.DataFrame({"연도": [2019] * 100, "평가의견": ["상담"] * 100}).to_parquet(tmp_path / "x.parquet")
    err = _error(tmp_path / "x.parquet", _config(max_sheet_cells=150))
    assert "100 rows x 2 columns" in str(err) and "max_sheet_cells" in err.fix


def test_limits_read_from_the_config_or_the_module(monkeypatch, tmp_path):
    from textmine.io.decode import Limits

    assert Limits.from_config(CorpusConfig()) == Limits(256 * 2**20, 100_000, 5_000_000)
    assert Limits.from_config(_config(max_cell_chars=5)).max_cell_chars == 5
    monkeypatch.setattr(decode, "MAX_CELL_CHARS", 7)
    assert Limits.from_config(CorpusConfig()).max_cell_chars == 7


# ========================================================== texts: NUL, Hanja, emoji, paths


def test_nul_hanja_and_emoji_texts(tmp_path):
    records = [{"연도": 2019, "평가의견": "상담\u0000 체계를 강화할 것"},
               {"연도": 2019, "평가의견": "諮問 體系 强化 必要"},
               {"연도": 2019, "평가의견": "👍👍🎉"},
               {"연도": 2019, "평가의견": "상담 체계(諮問)를 강화할 것 👍"}]
    (tmp_path / "x.json").write_text(json.dumps(records, ensure_ascii=True), encoding="utf-8")
    docs = load_corpus(tmp_path / "x.json").docs
    assert docs["text"].iloc[0] == "상담 체계를 강화할 것"  # NUL removed as a control character
    # Hanja-only and emoji-only texts are kept (not empty, not dropped) but flagged non-Korean
    assert docs["is_non_korean"].tolist() == [False, True, True, False]
    assert not docs["is_empty"].any()


def test_each_file_of_a_folder_gets_its_own_encoding(tmp_path):
    text = "연도,평가의견\n2019,상담 체계 강화\n"
    encodings = {"a.csv": "utf-8", "b.csv": "utf-8-sig", "c.csv": "cp949", "d.csv": "utf-16", "e.csv": "utf-16-be"}
    for name, encoding in encodings.items():
        (tmp_path / name).write_bytes(text.replace("강화", f"강화 {name}").encode(encoding))
    corpus = load_corpus(tmp_path)
    assert {f.path: f.encoding for f in corpus.files} == {**encodings, "d.csv": "utf-16"}
    assert len(corpus.modelling_docs()) == 5


def test_scan_corpus_on_a_single_file_and_a_missing_path(tmp_path):
    (tmp_path / "2019.txt").write_text("상담\n", encoding="utf-8")
    found = scan_corpus(tmp_path / "2019.txt")
    assert found.readable == [tmp_path / "2019.txt"] and not found.unread
    with pytest.raises(CorpusError, match="no such file"):
        scan_corpus(tmp_path / "nope")
