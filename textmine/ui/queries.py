"""The opinions of a run, queried in place: DuckDB over ``documents.parquet`` and ``doc_topics.parquet``.

Why DuckDB (in process, no server) rather than pyarrow's dataset filters: a page needs a filtered
count, a sort (newest year first), one page of rows and a join of the two tables (the opinion's
text and metadata with its dominant topic); DuckDB does all of it in one scan of the columns it
needs and returns 20 rows, where pyarrow's filters would materialise every matching row (a
one-word search can match most of a million opinions) before the sort and the join happen in
pandas.  Measured on a 100,000-opinion run (2 cores shared with other work; ``benchmarks/bench_ui.py``):
the search's query 329–339 ms through DuckDB against 408–511 ms through pyarrow's dataset filter, and
one page's texts fetched by id 82 ms through DuckDB against 1,291 ms through pyarrow's ``isin`` filter.

Nothing is loaded whole: every call reads the Parquet files for that request and returns at most
one page.  The user's words are always query parameters; the only names written into SQL are
metadata column names, and only those the file's own schema lists (quoted as identifiers).
"""
from __future__ import annotations

import re
import threading
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from textmine.ui.runs import PageError

DOCUMENTS = "documents.parquet"
DOC_TOPICS = "doc_topics.parquet"
PAGE_SIZE = 20            # opinions per page: a screen or two of text
MAX_QUERY = 200           # characters of a search; a longer one is a mistake, not a phrase
REPRESENTATIVE_PER_YEAR = 3
# Columns of documents.parquet that are not metadata
_NOT_METADATA = {"doc_id", "year", "period", "text"}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Page:
    total: int
    page: int
    pages: int
    rows: list[dict] = field(default_factory=list)


_connection = None
_connection_lock = threading.Lock()
# Representative opinions per (file, model, topic): 30 short rows, kept because their texts are spread over
# every year of documents.parquet, the one read of a topic page that touches most of the text column
# (~180 ms of the page's ~360 ms at 100,000 opinions); 256 topics' worth is well under a MB.
REPRESENTATIVE_CACHE = 256
_representatives: OrderedDict = OrderedDict()


@contextmanager
def _cursor():
    """A cursor of the app's one in-memory DuckDB connection, closed after the query.  Nothing DuckDB
    lives in a worker thread after its request: a DuckDB object destroyed by a daemon thread while the
    interpreter exits aborts the process (seen with ``textmine serve``'s SIGTERM)."""
    global _connection
    import duckdb

    with _connection_lock:
        if _connection is None:
            _connection = duckdb.connect(":memory:")
        cur = _connection.cursor()
    try:
        yield cur
    finally:
        cur.close()


class Opinions:
    """Queries over one run folder's document tables.

    A page is found in two steps: the matching documents' ids, years and small columns, sorted and cut
    to one page with the total counted in the same scan (``count(*) OVER ()``); then the page's texts,
    fetched by id (DuckDB reads the text column only where the ids are: 80 ms instead of 290 ms for a
    topic's page at 100,000 opinions, measured on 2 loaded cores).
    """

    def __init__(self, folder: Path):
        self.folder = folder
        self.documents = folder / DOCUMENTS
        self.doc_topics = folder / DOC_TOPICS

    def available(self) -> bool:
        return self.documents.is_file()

    def columns(self, path: Path) -> list[str]:
        try:
            return list(pq.read_schema(path).names)
        except (OSError, ValueError):
            return []

    def metadata_columns(self) -> list[str]:
        return [c for c in self.columns(self.documents) if c not in _NOT_METADATA]

    def metadata_values(self, column: str, limit: int = 200) -> list[str]:
        """The distinct values of a metadata column (for a filter's list), most frequent first."""
        if column not in self.metadata_columns():
            return []
        with _cursor() as cur:
            rows = cur.execute(
                f"SELECT CAST({_quote(column)} AS VARCHAR) v, count(*) n FROM read_parquet($p) "
                f"WHERE {_quote(column)} IS NOT NULL GROUP BY v ORDER BY n DESC, v LIMIT {int(limit)}",
                {"p": str(self.documents)}).fetchall()
        return [r[0] for r in rows]

    def _dominant(self) -> str:
        """SQL of (doc_id, topic, probability) of each document's dominant topic for model $model."""
        if "is_dominant" in self.columns(self.doc_topics):
            return ("SELECT doc_id, topic, probability FROM read_parquet($dt) "
                    "WHERE model = $model AND is_dominant")
        # written before is_dominant: the most probable topic of each document
        return ("SELECT doc_id, arg_max(topic, probability) AS topic, max(probability) AS probability "
                "FROM read_parquet($dt) WHERE model = $model GROUP BY doc_id")

    def search(self, *, text: str = "", year: int | None = None, model: str | None = None,
               topic: int | None = None, filters: dict[str, str] | None = None, page: int = 1,
               page_size: int = PAGE_SIZE) -> Page:
        """One page of opinions, newest year first: containing ``text`` (a substring, Korean as is),
        of ``year``, whose dominant topic of ``model`` is ``topic``, with metadata equal to ``filters``.
        Each row has the opinion's dominant topic of ``model`` (when given)."""
        if not self.available():
            raise PageError(404, "이 실행에는 의견 표(documents.parquet)가 없습니다.",
                            "이전 버전의 textmine이 쓴 실행입니다. 다시 실행하면 의견을 검색할 수 있습니다.")
        if len(text) > MAX_QUERY:
            raise PageError(400, f"검색어가 너무 깁니다({len(text)}자, 최대 {MAX_QUERY}자).", "짧은 낱말이나 구절로 찾으세요.")
        if page < 1:
            raise PageError(404, f"{page} 쪽은 없습니다.", "1쪽부터 보세요.")
        meta = self.metadata_columns()
        params: dict = {"p": str(self.documents)}
        where = []
        if text:
            where.append("contains(d.text, $q)")
            params["q"] = text
        if year is not None:
            where.append("d.year = $year")
            params["year"] = int(year)
        for i, (column, value) in enumerate((filters or {}).items()):
            if column not in meta:
                raise PageError(400, f"'{column}'은(는) 이 실행의 메타데이터 열이 아닙니다.",
                                f"다음 중 하나로 거르세요: {', '.join(meta) or '없음'}")
            where.append(f"CAST(d.{_quote(column)} AS VARCHAR) = $f{i}")
            params[f"f{i}"] = str(value)
        join, topic_cols = "", ""
        if model is not None:
            if not self.doc_topics.is_file():
                raise PageError(404, "이 실행에는 문서별 토픽 표(doc_topics.parquet)가 없습니다.",
                                "토픽으로 거르지 말고 찾거나, 실행을 다시 하세요.")
            params |= {"dt": str(self.doc_topics), "model": model}
            join = f"{'JOIN' if topic is not None else 'LEFT JOIN'} ({self._dominant()}) t USING (doc_id)"
            topic_cols = ", t.topic, t.probability"
            if topic is not None:
                where.append("t.topic = $topic")
                params["topic"] = int(topic)
        elif topic is not None:
            raise PageError(400, "토픽으로 거르려면 모델도 골라야 합니다.", "model=lda 처럼 모델을 함께 주세요.")
        sql_from = f"FROM read_parquet($p) d {join} " + (f"WHERE {' AND '.join(where)}" if where else "")
        cols = "".join(f", d.{_quote(c)}" for c in meta)
        with _cursor() as cur:
            found = cur.execute(
                f"SELECT d.doc_id, d.year{cols}{topic_cols}, count(*) OVER () {sql_from} "
                f"ORDER BY d.year DESC, d.doc_id LIMIT {int(page_size)} OFFSET {int((page - 1) * page_size)}",
                params).fetchall()
            total = int(found[0][-1]) if found else \
                int(cur.execute(f"SELECT count(*) {sql_from}", params).fetchone()[0]) if page > 1 else 0
            pages = max(1, -(-total // page_size))
            if page > pages:
                raise PageError(404, f"{page} 쪽은 없습니다(모두 {pages}쪽).", "1쪽부터 보세요.")
            names = ["doc_id", "year", *meta, *(["topic", "probability"] if model is not None else [])]
            rows = [dict(zip(names, r[:-1])) for r in found]
        texts = self.texts([r["doc_id"] for r in rows])
        for r in rows:
            r["text"] = texts.get(r["doc_id"], "")
            r.setdefault("topic", None)
            r.setdefault("probability", None)
        return Page(total=total, page=page, pages=pages, rows=rows)

    def texts(self, ids: list) -> dict:
        """{doc_id: text} of the opinions ``ids``: the text column (14 MB of the file's 17 at 100,000 opinions)
        read only where the ids are."""
        if not ids or not self.available():
            return {}
        with _cursor() as cur:
            return dict(cur.execute("SELECT doc_id, text FROM read_parquet($p) WHERE doc_id IN (SELECT unnest($ids))",
                                    {"p": str(self.documents), "ids": list(dict.fromkeys(ids))}).fetchall())

    def representative(self, model: str, topic: int, per_year: int = REPRESENTATIVE_PER_YEAR) -> list[dict]:
        """Per year (newest first) the ``per_year`` opinions with the highest probability of ``topic``."""
        if not (self.available() and self.doc_topics.is_file()):
            return []
        key = (str(self.doc_topics), self.doc_topics.stat().st_mtime, self.documents.stat().st_mtime, model,
               int(topic), int(per_year))
        with _connection_lock:
            if key in _representatives:
                _representatives.move_to_end(key)
                return [dict(r) for r in _representatives[key]]
        rows = self._representative(model, topic, per_year)
        with _connection_lock:
            _representatives[key] = rows
            while len(_representatives) > REPRESENTATIVE_CACHE:
                _representatives.popitem(last=False)
        return [dict(r) for r in rows]

    def _representative(self, model: str, topic: int, per_year: int) -> list[dict]:
        with _cursor() as cur:
            best = cur.execute(
                "SELECT year, doc_id, probability FROM read_parquet($dt) WHERE model = $model AND topic = $topic "
                "QUALIFY row_number() OVER (PARTITION BY year ORDER BY probability DESC, doc_id) <= $n "
                "ORDER BY year DESC, probability DESC, doc_id",
                {"dt": str(self.doc_topics), "model": model, "topic": int(topic), "n": int(per_year)}).fetchall()
        texts = self.texts([r[1] for r in best])
        return [{"year": y, "doc_id": d, "probability": p, "text": texts.get(d, "")} for y, d, p in best]

    def dominant_counts(self, model: str) -> dict[int, int]:
        """Documents per dominant topic of ``model``."""
        if not self.doc_topics.is_file():
            return {}
        with _cursor() as cur:
            rows = cur.execute(f"SELECT topic, count(*) FROM ({self._dominant()}) GROUP BY topic",
                               {"dt": str(self.doc_topics), "model": model}).fetchall()
        return {int(t): int(n) for t, n in rows}


def highlight(text: str, words: list[str]) -> list[tuple[str, bool]]:
    """``text`` cut into (piece, is one of ``words``) parts, longest words first, for <mark> in a template
    (the template escapes every piece: the opinion's own HTML stays text)."""
    words = sorted({w for w in words if w}, key=len, reverse=True)
    if not text or not words:
        return [(text or "", False)]
    out: list[tuple[str, bool]] = []
    last = 0
    for m in re.finditer("|".join(map(re.escape, words)), text):
        if m.start() > last:
            out.append((text[last:m.start()], False))
        out.append((m.group(0), True))
        last = m.end()
    if last < len(text):
        out.append((text[last:], False))
    return out
