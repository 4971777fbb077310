"""Word frequencies, TF-IDF and word clouds per period and per phase.

What Korean text-mining studies report beside a topic model (Textom, KrKwic, NetMiner): each
period's and each phase's most frequent words, their document frequency and TF-IDF, and a word
cloud per phase.  Everything is computed from the Kiwi tokens of :class:`~textmine.text.documents.Documents`
(the same tokens the topic models see), so the words here are the words of the topics.

Scopes
    ``scope_kind = "period"``: the documents of one period (``Documents.periods``; a year unless
    a finer time unit is used), ``scope`` = the period label (``"2019"``, ``"2019-H1"``).
    ``scope_kind = "phase"``: the documents whose period lies in a phase of a ``phases.json``
    entry (e.g. its ``consensus`` entry), ``scope`` = ``"phase<N>_<start>-<end>"`` (N from 1).

TF-IDF (the Textom/KrKwic definition, within the scope)
    ``tfidf = count × ln(n_docs / doc_freq)``, where ``count`` is the term's occurrences in the
    scope, ``n_docs`` the scope's documents and ``doc_freq`` the scope's documents containing the
    term: raw (not sublinear) term frequency, natural logarithm, no smoothing.  This is the number
    Textom and KrKwic give when a period's opinions are analysed as their own data set, which is
    how period comparisons are done in that literature, so the figures can be set beside
    published ones.  It rewards words that are frequent but concentrated in some opinions; a
    word found in every opinion of the scope scores 0.  (Treating each scope as one document
    against the other scopes would leave only ``ln(3/df)`` for three phases: too coarse to rank.)

Ranks
    ``rank`` orders all the scope's terms by count, ``tfidf_rank`` by TF-IDF, both descending
    with ties broken by the term (Unicode order), so ranks are unique and the table is the same
    on every run.  Each scope keeps the union of its ``top_n`` terms by count and its ``top_n``
    by TF-IDF: ``rank <= N`` gives the frequency table, ``tfidf_rank <= N`` the TF-IDF table.
"""
from __future__ import annotations

import importlib.util
import math
import re
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from textmine.analysis.analysis import Analysis, Written, consensus_of, read_table
from textmine.core.periods import ordered_periods
from textmine.text.documents import Documents

WORD_FREQUENCY = "word_frequency.csv"
COLUMNS = ["scope_kind", "scope", "term", "count", "doc_freq", "n_docs", "tfidf", "rank", "tfidf_rank"]
CLOUD_SEED = 42
CLOUD_SIZE = (1200, 800)


@dataclass(frozen=True)
class Scope:
    """A set of documents the tables are computed over: a period or a phase."""

    kind: str            # "period" or "phase"
    name: str            # the period label, or "phase<N>_<start>-<end>"
    doc_index: np.ndarray  # positions of its documents in ``Documents.docs``
    n: int | None = None   # phase number (from 1)
    start: Any = None
    end: Any = None
    label: str = ""


def phase_scope_name(n: int, start, end) -> str:
    """``phase1_2015-2017``: the name of phase ``n`` in tables and file names."""
    return f"phase{n}_{start}-{end}"


def _within(period, start, end) -> bool:
    try:
        return start <= period <= end
    except TypeError:  # e.g. int periods against string bounds read from a hand-written file
        return str(start) <= str(period) <= str(end)


def period_scopes(documents: Documents) -> list[Scope]:
    periods = np.asarray(documents.periods, dtype=object)
    return [Scope("period", str(p), np.flatnonzero(periods == p)) for p in ordered_periods(documents.periods)]


def phase_scopes(documents: Documents, phases: dict | None) -> list[Scope]:
    """One scope per phase of a ``phases.json`` entry (``{"phases": [{"start", "end", "label"}, ...]}``):
    the documents whose period lies between the phase's start and end (inclusive)."""
    if not phases:
        return []
    out = []
    for i, phase in enumerate(phases.get("phases", []), start=1):
        start, end = phase["start"], phase["end"]
        index = np.array([j for j, p in enumerate(documents.periods) if _within(p, start, end)], dtype=int)
        out.append(Scope("phase", phase_scope_name(i, start, end), index, i, start, end, str(phase.get("label", ""))))
    return out


def _doc_tokens(documents: Documents) -> list[list[str]]:
    return documents.doc_tokens()


def scope_counts(doc_tokens: Sequence[Sequence[str]], index: Sequence[int]) -> tuple[Counter, Counter]:
    """(occurrences, documents containing the term) over the documents ``index``."""
    count: Counter = Counter()
    docs: Counter = Counter()
    for i in index:
        tokens = doc_tokens[i]
        count.update(tokens)
        docs.update(set(tokens))
    return count, docs


def top_terms(count: Counter, n: int) -> list[str]:
    """The ``n`` most frequent terms, ties broken by the term."""
    return [t for t, _ in sorted(count.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def _scope_rows(scope: Scope, doc_tokens: Sequence[Sequence[str]], top_n: int) -> list[dict]:
    count, docs = scope_counts(doc_tokens, scope.doc_index)
    n_docs = len(scope.doc_index)
    tfidf = {t: c * math.log(n_docs / docs[t]) for t, c in count.items()}
    by_count = sorted(count, key=lambda t: (-count[t], t))
    # Ranked on the value as written (rounded), so float noise never decides a tie: ties go by term.
    by_tfidf = sorted(count, key=lambda t: (-round(tfidf[t], 6), t))
    rank = {t: i + 1 for i, t in enumerate(by_count)}
    tfidf_rank = {t: i + 1 for i, t in enumerate(by_tfidf)}
    keep = set(by_count[:top_n]) | set(by_tfidf[:top_n])
    return [{"scope_kind": scope.kind, "scope": scope.name, "term": t, "count": int(count[t]),
             "doc_freq": int(docs[t]), "n_docs": n_docs, "tfidf": round(tfidf[t], 6),
             "rank": rank[t], "tfidf_rank": tfidf_rank[t]}
            for t in sorted(keep, key=rank.__getitem__)]


def word_frequency(documents: Documents, phases: dict | None = None, top_n: int = 50) -> pd.DataFrame:
    """The long table of ``word_frequency.csv``: per period, then per phase of ``phases`` (a
    ``phases.json`` entry, or None for periods only), each scope's top ``top_n`` terms by count
    and by TF-IDF (see the module docstring for the definitions).

    Columns: ``scope_kind``, ``scope``, ``term``, ``count`` (occurrences), ``doc_freq`` (documents
    containing the term), ``n_docs`` (documents in the scope), ``tfidf``, ``rank`` (by count),
    ``tfidf_rank``.  Rows: scopes in time order, periods first; within a scope by ``rank``.
    """
    if top_n < 1:
        raise ValueError("top_n must be at least 1")
    doc_tokens = _doc_tokens(documents)
    rows: list[dict] = []
    for scope in period_scopes(documents) + phase_scopes(documents, phases):
        rows += _scope_rows(scope, doc_tokens, top_n)
    return pd.DataFrame(rows, columns=COLUMNS)


# ---------------------------------------------------------------- word clouds

def font_path(bold: bool = True) -> Path:
    """The bundled NanumGothic file (the one :func:`textmine.outputs.charts.korean_font` registers)."""
    from textmine.outputs import charts

    spec = importlib.util.find_spec(charts.FONT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("koreanize-matplotlib is not installed; run the set-up command in README.md")
    name = charts.FONT_FILES[1] if bold else charts.FONT_FILES[0]
    return Path(list(spec.submodule_search_locations)[0]) / "fonts" / name


# Dark, readable on white (tab10 without its light grey and olive), in rank order: the colour of a
# word depends only on its rank, never on a random draw.
_CLOUD_COLOURS = ["#1f3b63", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
                  "#1f77b4", "#7f7f7f"]


def cloud_file_name(scope: str) -> str:
    """``wordcloud_phase1_2015-2017.png``: a scope's word cloud file (path-safe)."""
    return "wordcloud_" + re.sub(r"[^\w.-]+", "_", scope) + ".png"


def word_clouds(freq_table: pd.DataFrame, out_dir: str | Path, scope_kind: str = "phase",
                max_words: int = 100, size: tuple[int, int] = CLOUD_SIZE, seed: int = CLOUD_SEED) -> list[Path]:
    """One PNG word cloud per scope of ``scope_kind`` in ``freq_table`` (:func:`word_frequency`),
    word size by count, in the bundled NanumGothic; returns the files in scope order.

    Uses the ``wordcloud`` package (MIT) with a fixed ``random_state`` and a colour that depends
    only on the word's rank, all words horizontal (rotated Hangul reads badly): the same table
    gives the same bytes.  Words: the scope's terms of count rank ``<= max_words`` in the table
    (so the ``top_n`` most frequent when ``top_n <= max_words``).
    """
    from wordcloud import WordCloud

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = freq_table[freq_table["scope_kind"] == scope_kind]
    written = []
    font = str(font_path())
    for scope in dict.fromkeys(table["scope"]):
        rows = table[(table["scope"] == scope) & (table["rank"] <= max_words) & (table["count"] > 0)]
        rows = rows.sort_values(["rank", "term"])
        if rows.empty:
            continue
        frequencies = {str(t): float(c) for t, c in zip(rows["term"], rows["count"])}
        colour = {t: _CLOUD_COLOURS[i % len(_CLOUD_COLOURS)] for i, t in enumerate(frequencies)}
        cloud = WordCloud(font_path=font, width=size[0], height=size[1], background_color="white",
                          max_words=max_words, prefer_horizontal=1.0, random_state=seed,
                          relative_scaling=0.5, margin=4, collocations=False,
                          color_func=lambda word, **_: colour.get(word, _CLOUD_COLOURS[0]))
        cloud.generate_from_frequencies(frequencies)
        path = out / cloud_file_name(str(scope))
        cloud.to_image().save(path, format="PNG", optimize=False)
        written.append(path)
    return written


def draw_word_cloud(rows: pd.DataFrame, max_words: int = 100) -> bytes:
    """One scope's word cloud (:func:`word_clouds`) as PNG bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        files = word_clouds(rows, tmp, scope_kind=str(rows["scope_kind"].iloc[0]), max_words=max_words)
        return files[0].read_bytes() if files else b""


# ---------------------------------------------------------------- report section

def report_context(freq_table: pd.DataFrame | None, phases: dict | None = None, top_n: int = 20,
                   images: dict[str, str | None] | None = None) -> dict | None:
    """What ``templates/wordfreq.html.j2`` shows, from ``word_frequency.csv`` (as read back): per
    phase the top ``top_n`` terms by count and by TF-IDF and its word cloud (``images``: scope ->
    ``data:`` URI, as report.py's ``_image`` makes them), and per period its top terms in one line.
    None when there is no table."""
    if freq_table is None or freq_table.empty:
        return None
    images = images or {}
    labels = {}
    for i, p in enumerate((phases or {}).get("phases", []), start=1):
        labels[phase_scope_name(i, p["start"], p["end"])] = str(p.get("label", ""))

    def records(rows: pd.DataFrame) -> list[dict]:
        return [{"rank": int(r["rank"]), "tfidf_rank": int(r["tfidf_rank"]), "term": str(r["term"]),
                 "count": int(r["count"]), "doc_freq": int(r["doc_freq"]), "tfidf": float(r["tfidf"])}
                for _, r in rows.iterrows()]

    phase_rows = []
    table = freq_table[freq_table["scope_kind"] == "phase"]
    for n, scope in enumerate(dict.fromkeys(table["scope"]), start=1):
        rows = table[table["scope"] == scope]
        match = re.fullmatch(r"phase(\d+)_(.+?)-(.+)", str(scope))
        phase_rows.append({
            "n": int(match.group(1)) if match else n, "scope": str(scope),
            "start": match.group(2) if match else "", "end": match.group(3) if match else "",
            "label": labels.get(str(scope), ""), "n_docs": int(rows["n_docs"].iloc[0]) if "n_docs" in rows else None,
            "by_count": records(rows[rows["rank"] <= top_n].sort_values("rank")),
            "by_tfidf": records(rows[rows["tfidf_rank"] <= top_n].sort_values("tfidf_rank")),
            "image": images.get(str(scope)),
        })
    period_rows = []
    table = freq_table[freq_table["scope_kind"] == "period"]
    for scope in dict.fromkeys(table["scope"]):
        rows = table[(table["scope"] == scope) & (table["rank"] <= min(top_n, 10))].sort_values("rank")
        period_rows.append({"period": str(scope), "n_docs": int(rows["n_docs"].iloc[0]) if len(rows) else 0,
                            "terms": ", ".join(f"{t}({c})" for t, c in zip(rows["term"], rows["count"]))})
    return {"top_n": top_n, "phases": phase_rows, "periods": period_rows}


# ---------------------------------------------------------------- the analysis (textmine.analysis.analysis)

class WordFrequency(Analysis):
    """``word_frequency.csv`` over the periods and the consensus phases (``report.wordfreq``), a word cloud
    per phase, and the report's 단어 빈도 section."""

    name = "word_frequency"
    anchor = "wordfreq"
    template = "wordfreq.html.j2"

    def enabled(self, config) -> bool:
        return config.report.wordfreq

    def write(self, run, documents, phases, outputs, config) -> Written:
        top_n = config.report.wordfreq_top_n
        run.write_csv(WORD_FREQUENCY, word_frequency(documents, consensus_of(phases), top_n=top_n))
        return Written([WORD_FREQUENCY], {"top_n": top_n})

    def load(self, run: Path) -> dict:
        return {"word_frequency": read_table(run, WORD_FREQUENCY, scope=str, term=str)}

    def charts(self, data, display) -> dict[str, tuple]:
        freq = data.get("word_frequency")
        if freq is None or not len(freq):
            return {}
        phase_rows = freq[freq["scope_kind"] == "phase"]
        specs = {}
        for scope in dict.fromkeys(phase_rows["scope"]):
            rows = phase_rows[phase_rows["scope"] == scope].reset_index(drop=True)
            specs[cloud_file_name(scope)] = (draw_word_cloud, rows)
        return specs

    def context(self, data, image, display) -> dict:
        freq = data.get("word_frequency")
        if freq is None or not len(freq):
            return {"wordfreq": None}
        images = {s: image(cloud_file_name(s)) for s in dict.fromkeys(freq["scope"])}
        return {"wordfreq": report_context(freq, consensus_of(data.get("phases") or {}), top_n=20, images=images)}
