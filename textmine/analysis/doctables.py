"""Document tables: the analysis that writes each document's topics with its period and metadata.

``doc_topics.parquet`` is rewritten with each document's period and metadata columns, the same table as
``doc_topics.csv`` (UTF-8, one value per cell, for R and spreadsheet users), and ``documents.parquet``
holds one row per modelled document: id, year, period, metadata and the PII-masked text, from which
summary.xlsx's 문서별 토픽 sheet is rebuilt (:func:`document_sheet`).  ``topic_terms.csv`` is
``topics.csv``'s list-valued cells as a long table (model, scope, topic, rank, term, weight, kind:
``top`` for the probability-ranked terms with their weights, ``relevant`` for the relevance-ranked
terms, which have no weight).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from textmine.analysis.analysis import Analysis, Written, metadata_columns
from textmine.analysis.identity import parse_term_weights

DOC_TOPICS = "doc_topics.parquet"
DOC_TOPICS_CSV = "doc_topics.csv"
DOCUMENTS = "documents.parquet"
# documents.parquet in row groups of this many opinions: the workspace fetches a page's texts by id, and
# row-group statistics let DuckDB skip the groups that hold none of them (a topic page's first view of
# a 100,000-opinion run: 278 ms in one row group, 118 ms in groups of 5,000).
DOCUMENT_ROW_GROUP = 5000
TOPIC_TERMS = "topic_terms.csv"
TOPIC_TERM_COLUMNS = ["model", "scope", "topic", "rank", "term", "weight", "kind"]
# doc_topics columns the metadata must not overwrite
_DOC_TOPIC_COLUMNS = ("doc_id", "year", "model", "topic", "probability", "is_dominant", "period")


class DocumentTables(Analysis):
    """doc_topics.parquet/.csv, documents.parquet and topic_terms.csv (always written; no section of its own:
    summary.xlsx's 문서별 토픽 sheet is built from them)."""

    name = "documents"
    recorded = False

    def write(self, run, documents, phases, outputs, config) -> Written:
        files = write_document_tables(run, documents, outputs, metadata_columns(documents.docs))
        run.write_csv(TOPIC_TERMS, topic_terms_table(pd.concat([o.topics for o in outputs.values()],
                                                               ignore_index=True)))
        return Written(files=[*files, TOPIC_TERMS])


def write_document_tables(run, data, outputs: dict, meta: list[str]) -> list[str]:
    """``doc_topics.parquet`` (rewritten) and ``doc_topics.csv`` with each document's period and metadata,
    and ``documents.parquet``.  Returns the files written."""
    docs = data.docs.drop_duplicates("doc_id").reset_index(drop=True)
    info = pd.DataFrame({"doc_id": data.docs["doc_id"].to_numpy(), "period": list(data.periods)})
    info = info.drop_duplicates("doc_id")
    renamed = {c: (f"{c}_meta" if c in _DOC_TOPIC_COLUMNS else c) for c in meta}
    extra = docs[["doc_id", *meta]].rename(columns=renamed)
    frames = [o.doc_topics for o in outputs.values() if o.doc_topics is not None]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["doc_id"])
    table = table.merge(info, on="doc_id", how="left", validate="many_to_one")
    table = table.merge(extra, on="doc_id", how="left", validate="many_to_one")
    run.write_parquet(DOC_TOPICS, table)
    run.write_csv(DOC_TOPICS_CSV, table)
    documents = docs[["doc_id", "year"]].merge(info, on="doc_id", how="left")
    documents = pd.concat([documents, extra.drop(columns="doc_id"), docs[["text"]]], axis=1)
    run.write_parquet(DOCUMENTS, documents, row_group_size=DOCUMENT_ROW_GROUP)
    return [DOC_TOPICS, DOC_TOPICS_CSV, DOCUMENTS]


def topic_terms_table(topics: pd.DataFrame) -> pd.DataFrame:
    """``topic_terms.csv``: one row per (model, scope, topic, term) from ``topics.csv``'s ``term_weights``
    (``kind`` = ``top``, rank by probability, with the weight) and ``relevant_terms`` (``kind`` =
    ``relevant``, rank by relevance, no weight)."""
    rows = []
    for r in topics.to_dict("records"):
        key = {"model": r["model"], "scope": str(r["scope"]), "topic": int(r["topic"])}
        weights = parse_term_weights(r.get("term_weights"))
        if not weights and isinstance(r.get("top_terms"), str):
            weights = [(t.strip(), None) for t in r["top_terms"].split(",") if t.strip()]
        rows += [{**key, "rank": i, "term": t, "weight": w, "kind": "top"} for i, (t, w) in enumerate(weights, 1)]
        relevant = r.get("relevant_terms")
        if isinstance(relevant, str) and relevant.strip():
            terms = [t.strip() for t in relevant.split(",") if t.strip()]
            rows += [{**key, "rank": i, "term": t, "weight": None, "kind": "relevant"} for i, t in enumerate(terms, 1)]
    table = pd.DataFrame(rows, columns=TOPIC_TERM_COLUMNS)
    table["weight"] = pd.to_numeric(table["weight"])
    return table


def document_sheet(run: Path, topics: pd.DataFrame | None, max_rows: int, display: Callable[[str], str] = str,
                   models: Sequence[str] | None = None) -> tuple[pd.DataFrame | None, int]:
    """One row per document (the first ``max_rows`` in year order): id, year, metadata, and per model its
    dominant topic, that topic's label (renamed when ``topics`` is) and probability, then the
    PII-masked text.  Returns (the sheet, or None without ``documents.parquet`` / ``doc_topics.parquet``,
    and the number of documents in the run)."""
    docs_path, topics_path = run / DOCUMENTS, run / DOC_TOPICS
    if max_rows <= 0 or not docs_path.is_file() or not topics_path.is_file():
        return None, 0
    docs = pd.read_parquet(docs_path)
    total = len(docs)
    docs = docs.head(max_rows)
    dominant = pd.read_parquet(topics_path, columns=["doc_id", "model", "topic", "probability", "is_dominant"])
    dominant = dominant[dominant["is_dominant"] & dominant["doc_id"].isin(set(docs["doc_id"]))]
    sheet = docs.drop(columns=["text", "period"], errors="ignore")
    if "period" in docs and not docs["period"].astype(str).equals(docs["year"].astype(str)):
        sheet.insert(2, "기간", docs["period"].astype(str))
    names = {}
    if topics is not None:
        glob = topics[topics["scope"].astype(str) == "global"]
        names = {(m, int(t)): str(l) for m, t, l in zip(glob["model"], glob["topic"], glob["label"])}
    for model in (models or list(dict.fromkeys(dominant["model"]))):
        d = dominant[dominant["model"] == model].drop_duplicates("doc_id").set_index("doc_id")
        name = display(model)
        topic = d["topic"].reindex(sheet["doc_id"])
        sheet[f"{name} 토픽"] = topic.astype("Int64").to_numpy()
        sheet[f"{name} 레이블"] = [names.get((model, int(t)), "이상치" if t == -1 else "") if pd.notna(t) else ""
                                 for t in topic]
        sheet[f"{name} 확률"] = d["probability"].reindex(sheet["doc_id"]).to_numpy()
    sheet["text"] = docs["text"].to_numpy()
    return sheet, total
