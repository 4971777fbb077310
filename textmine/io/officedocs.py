"""Korean word-processor documents (Hancom 한글): HWPX and HWP 5 read into paragraphs and tables.

Both readers return a :class:`Document`: the body's blocks in reading order, each a
:class:`Paragraph` (one body paragraph's text) or a :class:`Table` (rows of cell texts).
Text in headers, footers, footnotes, memos and text boxes is not part of the body and is
left out.  What the corpus makes of the blocks (a table with an opinion header, or one
opinion per paragraph) is :mod:`textmine.io.corpus`'s business.

Everything here is read with the standard library plus ``olefile`` (BSD): no Hancom
software, no JVM, nothing executed from the document.

HWPX (OWPML, KS X 6101)
    A zip archive.  The body is ``Contents/section0.xml``, ``section1.xml``...; each is an
    ``hs:sec`` whose children are ``hp:p`` paragraphs holding ``hp:run`` elements, whose
    ``hp:t`` elements hold the text (with ``hp:tab``, ``hp:lineBreak``... inside).  A table is
    an ``hp:tbl`` inside a run: ``hp:tr`` rows of ``hp:tc`` cells, each cell's text in
    ``hp:subList/hp:p`` paragraphs, its position in ``hp:cellAddr colAddr= rowAddr=`` and
    its merge in ``hp:cellSpan colSpan= rowSpan=``.  Elements are matched by local name, so
    the 2011 and 2016 namespaces both work.  A part that declares a DTD is refused (no
    entity tricks), and every part is read with a size cap (no zip bombs).

HWP 5 (the binary format; Hancom's public "한글 문서 파일 형식 5.0" specification)
    An OLE2 compound file.  Streams used:

    * ``FileHeader`` (256 bytes): signature ``b"HWP Document File"`` in the first 32 bytes,
      version (UINT32) at offset 32, properties (UINT32) at offset 36: bit 0 = the
      DocInfo/BodyText streams are compressed (raw deflate, no zlib header), bit 1 =
      password, bit 2 = distribution document (배포용 문서: its body is encrypted in
      ``ViewText``), bit 4 = DRM.
    * ``BodyText/Section0``, ``Section1``...: a sequence of records.  Each record starts
      with a little-endian UINT32 header: bits 0-9 the tag id, bits 10-19 the level (depth
      in the record tree), bits 20-31 the payload size; a size of 0xFFF means the real size
      follows as another UINT32.

    Record tags used (HWPTAG_BEGIN = 16):

    =====  ======================  ==========================================================
    tag    name                    what is read from it
    =====  ======================  ==========================================================
    66     HWPTAG_PARA_HEADER      starts a paragraph; its records follow one level deeper
    67     HWPTAG_PARA_TEXT        the paragraph's text, UTF-16LE code units, with controls
    71     HWPTAG_CTRL_HEADER      an object anchored in the paragraph; its first 4 bytes are
                                   the control id, stored byte-reversed (``b" lbt"`` is
                                   ``"tbl "``, a table)
    72     HWPTAG_LIST_HEADER      a paragraph list; under a table, one cell: UINT16 paragraph
                                   count at 0, UINT32 properties at 4 (after 2 unused bytes),
                                   then UINT16 column at 8, row at 10, column span at 12, row
                                   span at 14; the cell's paragraphs follow it at the same level
    77     HWPTAG_TABLE            the table: UINT32 properties, UINT16 rows at 4, UINT16
                                   columns at 6
    =====  ======================  ==========================================================

    In PARA_TEXT, code units below 32 are controls.  Char controls take one code unit:
    0, 10 (line break), 13 (paragraph end), 24-31 (24 hyphen, 30 non-breaking space, 31
    fixed-width space).  Inline controls (4-9, 19, 20; 9 is a tab) and extended controls
    (1-3, 11, 12, 14-18, 21-23; 11 anchors a table or drawing) take eight code units: the
    code, six units of data, the code again.
"""
from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from textmine.core.errors import CorpusError

# ------------------------------------------------------------------ document model


@dataclass
class Paragraph:
    text: str


@dataclass
class Table:
    rows: list[list[str]]


@dataclass
class Document:
    blocks: list[Paragraph | Table] = field(default_factory=list)

    @property
    def paragraphs(self) -> list[str]:
        return [b.text for b in self.blocks if isinstance(b, Paragraph)]

    @property
    def tables(self) -> list[Table]:
        return [b for b in self.blocks if isinstance(b, Table)]


# Bounds on a document's structure, so a hostile document ends in a clear error within seconds.
# A body paragraph's text sits 4 elements deep in an HWPX section and each table nested in a cell adds
# about 7 (tbl/tr/tc/subList/p/run/t); real documents nest tables 1-2 deep.
MAX_XML_DEPTH = 256
MAX_TABLE_NESTING = 16
# An opinion table has a handful of columns (연번, 대학명, 평가영역, 평가의견 ...); a document table
# wider than this is no table of opinions.
MAX_TABLE_COLUMNS = 1000


def _grid(cells: list[tuple[int, int, int, int, str]], max_cells: int, where: str) -> list[list[str]]:
    """Cells (row, column, row span, column span, text) as a full grid of rows.

    A cell merged over several rows (a university named once for several opinions) is
    repeated in each row it covers; a cell merged over several columns fills only its first.
    """
    if not cells:
        return []
    n_rows = max(r + max(rs, 1) for r, _, rs, _, _ in cells)
    n_cols = max(c + max(cs, 1) for _, c, _, cs, _ in cells)
    if n_cols > MAX_TABLE_COLUMNS:
        raise CorpusError(f"a table has {n_cols:,} columns, more than an opinion table has "
                          f"({MAX_TABLE_COLUMNS:,} at most)", file=where,
                          fix="keep the opinions in a table of a few columns (연도, 대학명, 평가의견 ...)")
    if n_rows * n_cols > max_cells:
        raise CorpusError(
            f"a table has {n_rows} x {n_cols} cells, more than the limit of {max_cells:,}",
            file=where, fix="split the document, or raise corpus.max_sheet_cells",
        )
    grid = [[""] * n_cols for _ in range(n_rows)]
    for r, c, rs, _cs, text in cells:
        for k in range(r, r + max(rs, 1)):
            grid[k][c] = text
    return grid


# ------------------------------------------------------------------------------ HWPX

_SECTION_RE = re.compile(r"^Contents/section(\d+)\.xml$", re.IGNORECASE)
# Containers whose paragraphs are not body text: cells are read as tables; the rest
# (text boxes, footnotes, headers, memos, captions...) are left out.
_NOT_BODY = {"tbl", "subList", "drawText", "footNote", "endNote", "header", "footer", "memo", "caption",
             "hiddenComment", "fieldBegin"}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _mb(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:,.0f} MB" if n_bytes >= 2**20 else f"{n_bytes / 2**20:.2f} MB"


def _read_member(zf: zipfile.ZipFile, name: str, budget: int, limit: int, where: str) -> bytes:
    with zf.open(name) as member:
        data = member.read(budget + 1)
    if len(data) > budget:
        raise CorpusError(
            f"the document's text expands past {_mb(limit)} ('{name}')",
            file=where, fix="raise corpus.max_decompressed_mb or split the document",
        )
    return data


def _parse_xml(data: bytes, name: str, where: str) -> ElementTree.Element:
    """The part's XML tree; its nesting is counted while it is parsed and refused past MAX_XML_DEPTH."""
    head = data[:4096].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in data.upper():
        raise CorpusError(f"'{name}' declares a DTD or entities, which an HWPX document never needs",
                          file=where, fix="re-save the document from 한글 (Hancom Office) as .hwpx")
    parser = ElementTree.XMLPullParser(events=("start", "end"))
    depth, root, step = 0, None, 1 << 20
    try:
        for i in range(0, len(data) + 1, step):
            if i < len(data):
                parser.feed(data[i:i + step])
            else:
                parser.close()
            for event, elem in parser.read_events():
                depth += 1 if event == "start" else -1
                if depth > MAX_XML_DEPTH:
                    raise CorpusError(f"'{name}' nests elements more than {MAX_XML_DEPTH} deep, which no 한글 "
                                      "document does", file=where,
                                      fix="re-save the document from 한글 (Hancom Office) as .hwpx")
                if event == "end" and depth == 0:
                    root = elem
    except ElementTree.ParseError as exc:
        raise CorpusError(f"'{name}' inside the document is not valid XML ({exc})", file=where,
                          fix="re-save the document from 한글 (Hancom Office) as .hwpx") from None
    if root is None:
        raise CorpusError(f"'{name}' inside the document is empty", file=where,
                          fix="re-save the document from 한글 (Hancom Office) as .hwpx")
    return root


def _cell_number(value: str | None, default: int, what: str, where: str, minimum: int = 0) -> int:
    """A cell's address or span attribute: a whole number of at least ``minimum`` (a span of 0 is 1)."""
    if value is None:
        return default
    try:
        number = int(value.strip())
    except ValueError:
        number = None
    if number is None or number < minimum:
        raise CorpusError(f"a table cell's {what} is '{value[:20]}', not a whole number of at least {minimum}",
                          file=where, fix="the document is damaged or was not written by 한글: open it in 한글 "
                                          "and save it again")
    return number


def _hwpx_text(elem: ElementTree.Element) -> str:
    """The text of a ``hp:t`` element: its own text plus tabs and line breaks inside it."""
    parts = [elem.text or ""]
    for child in elem:
        name = _local(child.tag)
        if name == "tab":
            parts.append("\t")
        elif name == "lineBreak":
            parts.append("\n")
        elif name in ("nbSpace", "fwSpace"):
            parts.append(" ")
        elif name == "hyphen":
            parts.append("-")
        parts.append(child.tail or "")
    return "".join(parts)


def _too_nested(where: str) -> CorpusError:
    return CorpusError(f"tables are nested more than {MAX_TABLE_NESTING} deep, which no 한글 document does",
                       file=where, fix="open it in 한글 and save it again, or flatten the nested tables")


def _hwpx_paragraph(p: ElementTree.Element, max_cells: int, where: str,
                    nesting: int = 0) -> tuple[str, list[Table]]:
    """A ``hp:p``'s own text (not that of tables or boxes anchored in it) and its tables."""
    texts: list[str] = []
    tables: list[Table] = []

    def walk(elem: ElementTree.Element) -> None:
        for child in elem:
            name = _local(child.tag)
            if name == "t":
                texts.append(_hwpx_text(child))
            elif name == "tbl":
                tables.append(_hwpx_table(child, max_cells, where, nesting + 1))
            elif name not in _NOT_BODY:
                walk(child)

    walk(p)
    return "".join(texts), tables


def _hwpx_table(tbl: ElementTree.Element, max_cells: int, where: str, nesting: int = 1) -> Table:
    if nesting > MAX_TABLE_NESTING:
        raise _too_nested(where)
    cells = []
    for r, tr in enumerate(e for e in tbl if _local(e.tag) == "tr"):
        for c, tc in enumerate(e for e in tr if _local(e.tag) == "tc"):
            row, col, row_span, col_span = r, c, 1, 1
            paragraphs: list[ElementTree.Element] = []
            for child in tc:
                name = _local(child.tag)
                if name == "cellAddr":
                    row = _cell_number(child.get("rowAddr"), row, "row address", where)
                    col = _cell_number(child.get("colAddr"), col, "column address", where)
                elif name == "cellSpan":
                    row_span = _cell_number(child.get("rowSpan"), 1, "row span", where)
                    col_span = _cell_number(child.get("colSpan"), 1, "column span", where)
                elif name == "subList":
                    paragraphs.extend(p for p in child if _local(p.tag) == "p")
            lines = []
            for p in paragraphs:
                text, nested = _hwpx_paragraph(p, max_cells, where, nesting)
                lines.append(text)
                for table in nested:  # a table inside a cell: its text, row by row
                    lines.extend(" ".join(x for x in row if x) for row in table.rows)
            cells.append((row, col, row_span, col_span, "\n".join(x for x in lines if x.strip())))
            if len(cells) > max_cells:
                raise CorpusError(f"a table has more than {max_cells:,} cells", file=where,
                                  fix="split the document, or raise corpus.max_sheet_cells")
    return Table(_grid(cells, max_cells, where))


def read_hwpx(data: bytes, where: str, *, max_bytes: int, max_cells: int) -> Document:
    """The body of an HWPX document: paragraphs and tables of every section, in order."""
    if data[:4] != b"PK\x03\x04":
        raise CorpusError("this is not an HWPX document (.hwpx files are zip archives)", file=where,
                          fix="open it in 한글 and save as .hwpx, or give it the extension of what it really is "
                              "(an old binary 한글 file is .hwp)")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise CorpusError(f"the HWPX archive is damaged ({exc})", file=where,
                          fix="re-save it from 한글 as .hwpx") from None
    with zf:
        sections = sorted((int(m.group(1)), name) for name in zf.namelist() if (m := _SECTION_RE.match(name)))
        if not sections:
            raise CorpusError("the archive has no Contents/section0.xml, so it is not an HWPX document", file=where,
                              fix="re-save it from 한글 as .hwpx")
        declared = sum(zf.getinfo(name).file_size for _, name in sections)
        if declared > max_bytes:
            raise CorpusError(f"the document's text expands past {_mb(max_bytes)}", file=where,
                              fix="raise corpus.max_decompressed_mb or split the document")
        doc = Document()
        budget = max_bytes
        for _, name in sections:
            try:
                xml = _read_member(zf, name, budget, max_bytes, where)
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise CorpusError(f"'{name}' inside the document cannot be decompressed ({exc})", file=where,
                                  fix="re-save it from 한글 as .hwpx") from None
            budget -= len(xml)
            root = _parse_xml(xml, name, where)
            for p in root:
                if _local(p.tag) != "p":
                    continue
                text, tables = _hwpx_paragraph(p, max_cells, where)
                doc.blocks.append(Paragraph(text))
                doc.blocks.extend(tables)
    return doc


# ------------------------------------------------------------------------------- HWP

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
HWP_SIGNATURE = b"HWP Document File"

HWPTAG_BEGIN = 16
HWPTAG_PARA_HEADER = HWPTAG_BEGIN + 50  # 66
HWPTAG_PARA_TEXT = HWPTAG_BEGIN + 51  # 67
HWPTAG_CTRL_HEADER = HWPTAG_BEGIN + 55  # 71
HWPTAG_LIST_HEADER = HWPTAG_BEGIN + 56  # 72
HWPTAG_TABLE = HWPTAG_BEGIN + 61  # 77
CTRL_TABLE = b"tbl "

FLAG_COMPRESSED, FLAG_PASSWORD, FLAG_DISTRIBUTION, FLAG_DRM = 0x01, 0x02, 0x04, 0x10

_CHAR_CONTROLS = {0, 10, 13, *range(24, 32)}  # one code unit each
_SPECIAL_CHARS = {10: "\n", 13: "", 24: "-", 30: " ", 31: " "}  # the rest of the char controls are dropped


@dataclass
class _Record:
    tag: int
    level: int
    payload: bytes
    children: list["_Record"] = field(default_factory=list)


def hwp_records(data: bytes, where: str) -> list[_Record]:
    """The records of a section stream as a tree (each record's deeper records are its children)."""
    roots: list[_Record] = []
    stack: list[_Record] = []
    offset, n = 0, len(data)
    while offset < n:
        if offset + 4 > n:
            raise CorpusError("the HWP body ends inside a record header (the file is damaged)", file=where,
                              fix="open it in 한글 and save it again")
        (header,) = struct.unpack_from("<I", data, offset)
        tag, level, size = header & 0x3FF, (header >> 10) & 0x3FF, header >> 20
        offset += 4
        if size == 0xFFF:
            if offset + 4 > n:
                raise CorpusError("the HWP body ends inside a record header (the file is damaged)", file=where,
                                  fix="open it in 한글 and save it again")
            (size,) = struct.unpack_from("<I", data, offset)
            offset += 4
        if offset + size > n:
            raise CorpusError("the HWP body ends inside a record (the file is damaged)", file=where,
                              fix="open it in 한글 and save it again")
        record = _Record(tag, level, data[offset:offset + size])
        offset += size
        while stack and stack[-1].level >= level:
            stack.pop()
        (stack[-1].children if stack else roots).append(record)
        stack.append(record)
    return roots


def hwp_para_text(payload: bytes) -> str:
    """The text of a PARA_TEXT record, controls removed (tabs, line breaks and spaces kept)."""
    units = struct.unpack(f"<{len(payload) // 2}H", payload[: len(payload) // 2 * 2])
    out: list[str] = []
    i = 0
    while i < len(units):
        code = units[i]
        if code >= 32:
            out.append(chr(code))
            i += 1
        elif code in _CHAR_CONTROLS:
            out.append(_SPECIAL_CHARS.get(code, ""))
            i += 1
        else:  # inline or extended control: eight code units
            if code == 9:
                out.append("\t")
            i += 8
    # UTF-16 surrogate pairs were appended as two halves: join them
    return "".join(out).encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _hwp_paragraph(para: _Record, max_cells: int, where: str, nesting: int = 0) -> tuple[str, list[Table]]:
    text, tables = "", []
    for child in para.children:
        if child.tag == HWPTAG_PARA_TEXT:
            text += hwp_para_text(child.payload)
        elif child.tag == HWPTAG_CTRL_HEADER and child.payload[:4][::-1] == CTRL_TABLE:
            tables.append(_hwp_table(child, max_cells, where, nesting + 1))
    return text, tables


def _hwp_table(ctrl: _Record, max_cells: int, where: str, nesting: int = 1) -> Table:
    if nesting > MAX_TABLE_NESTING:
        raise _too_nested(where)
    children = ctrl.children
    start = next((i for i, r in enumerate(children) if r.tag == HWPTAG_TABLE), None)
    if start is None:
        return Table([])
    table = children[start].payload
    n_rows, n_cols = struct.unpack_from("<HH", table, 4) if len(table) >= 8 else (0, 0)
    cells = []
    k = 0  # cells in order, for cells without an address
    i = start + 1
    while i < len(children):
        if children[i].tag != HWPTAG_LIST_HEADER:
            i += 1
            continue
        header = children[i].payload
        if len(header) >= 16:
            col, row, col_span, row_span = struct.unpack_from("<HHHH", header, 8)
        else:
            row, col, row_span, col_span = divmod(k, max(n_cols, 1)) + (1, 1)
        i += 1
        lines = []
        while i < len(children) and children[i].tag != HWPTAG_LIST_HEADER:
            if children[i].tag == HWPTAG_PARA_HEADER:
                text, nested = _hwp_paragraph(children[i], max_cells, where, nesting)
                lines.append(text)
                for t in nested:
                    lines.extend(" ".join(x for x in r if x) for r in t.rows)
            i += 1
        cells.append((row, col, row_span, col_span, "\n".join(x for x in lines if x.strip())))
        k += 1
        if k > max_cells:
            raise CorpusError(f"a table has more than {max_cells:,} cells", file=where,
                              fix="split the document, or raise corpus.max_sheet_cells")
    return Table(_grid(cells, max_cells, where))


def _inflate(raw: bytes, budget: int, limit: int, name: str, where: str) -> bytes:
    decoder = zlib.decompressobj(-15)
    try:
        out = decoder.decompress(raw, budget + 1)
    except zlib.error as exc:
        raise CorpusError(f"the stream '{name}' cannot be decompressed ({exc})", file=where,
                          fix="open it in 한글 and save it again") from None
    if len(out) > budget or decoder.unconsumed_tail:
        raise CorpusError(f"the document's text expands past {_mb(limit)} ('{name}')", file=where,
                          fix="raise corpus.max_decompressed_mb or split the document")
    return out


def read_hwp(data: bytes, where: str, *, max_bytes: int, max_cells: int) -> Document:
    """The body of an HWP 5 document: paragraphs and tables of every section, in order."""
    import olefile

    if data[:8] != OLE_MAGIC:
        if data[:4] == b"PK\x03\x04":
            fix = "it is a zip archive: if it is an HWPX document, rename it to .hwpx"
        elif data[:17] == b"HWP Document File":
            fix = "this is an old HWP 3 document: open it in 한글 and save it as .hwpx"
        else:
            fix = "open it in 한글 and save it as .hwp or .hwpx, or give it the extension of what it really is"
        raise CorpusError("this is not an HWP 5 document (an OLE compound file)", file=where, fix=fix)
    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
    except (OSError, ValueError, struct.error) as exc:
        raise CorpusError(f"the HWP container is damaged ({exc})", file=where,
                          fix="open it in 한글 and save it again") from None
    with ole:
        if not ole.exists("FileHeader"):
            raise CorpusError("this OLE file has no HWP FileHeader (is it a Word .doc or Excel .xls?)", file=where,
                              fix="give the file the extension of what it really is")
        header = ole.openstream("FileHeader").read(256)
        if not header.startswith(HWP_SIGNATURE) or len(header) < 40:
            raise CorpusError("the FileHeader is not that of an HWP document", file=where,
                              fix="open it in 한글 and save it again")
        (flags,) = struct.unpack_from("<I", header, 36)
        if flags & FLAG_PASSWORD:
            raise CorpusError("the document is password-protected", file=where,
                              fix="open it in 한글, remove the password and save it again")
        if flags & (FLAG_DISTRIBUTION | FLAG_DRM):
            raise CorpusError("this is a distribution (배포용) or DRM-protected document, whose text is encrypted",
                              file=where, fix="ask for the original document, or save a normal copy from 한글")
        sections = sorted(
            (int(m.group(1)), "/".join(entry))
            for entry in ole.listdir(streams=True, storages=False)
            if len(entry) == 2 and entry[0] == "BodyText" and (m := re.fullmatch(r"Section(\d+)", entry[1]))
        )
        if not sections:
            raise CorpusError("the document has no BodyText sections", file=where,
                              fix="open it in 한글 and save it again")
        doc = Document()
        budget = max_bytes
        for _, name in sections:
            if ole.get_size(name) > budget:
                raise CorpusError(f"the document's text expands past {_mb(max_bytes)} ('{name}')", file=where,
                                  fix="raise corpus.max_decompressed_mb or split the document")
            raw = ole.openstream(name).read()
            body = _inflate(raw, budget, max_bytes, name, where) if flags & FLAG_COMPRESSED else raw
            budget -= len(body)
            for record in hwp_records(body, where):
                if record.tag != HWPTAG_PARA_HEADER:
                    continue
                text, tables = _hwp_paragraph(record, max_cells, where)
                doc.blocks.append(Paragraph(text))
                doc.blocks.extend(tables)
    return doc


def read_document(data: bytes, fmt: str, where: str | Path, *, max_bytes: int, max_cells: int) -> Document:
    """Read ``.hwpx`` or ``.hwp`` bytes."""
    reader = {".hwpx": read_hwpx, ".hwp": read_hwp}[fmt]
    return reader(data, str(where), max_bytes=max_bytes, max_cells=max_cells)
