"""What every model is fitted on: the modelled documents in year order with their Kiwi tokens (one unit per
document, or its sentences), built from the corpus and the token cache, and written to files for tasks in
other processes (the process and Dask runners get a path, not a pickled copy).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from textmine.core.files import json_default
from textmine.core.periods import period_labels
from textmine.text import tokenize
from textmine.text.cache import texts_digest


@dataclass
class Documents:
    """What every model is fitted on: the modelled documents in year order and their Kiwi tokens.

    ``unit_tokens[i]`` belongs to document ``unit_owner[i]`` (one unit per document unless
    sentence units are asked for).  ``embeddings`` (one unit row per document) and ``embedder``
    are set when a model that needs them is in the run.
    """

    docs: pd.DataFrame                  # doc_id, year, text (PII-masked), metadata columns
    periods: list                       # time slice of each document (a year unless a finer unit)
    unit_tokens: list[list[str]]
    unit_owner: list[int]
    embeddings: np.ndarray | None = None
    embedder: Any = None
    embedding_info: dict | None = None  # backend, name, version, dimensions, cache hits (manifest)
    # Positions of the documents the embedding rows belong to, when only a sample was embedded
    # (a large corpus, textmine.core.scale); None: one row per document.
    embedded: np.ndarray | None = None

    def joined_tokens(self) -> list[str]:
        """Each document's tokens (all its units'), joined by spaces: what a token-based embedder embeds."""
        joined: list[list[str]] = [[] for _ in range(len(self.docs))]
        for tokens, owner in zip(self.unit_tokens, self.unit_owner):
            joined[owner].extend(tokens)
        return [" ".join(tokens) for tokens in joined]

    @property
    def doc_ids(self) -> list:
        return self.docs["doc_id"].tolist()

    @property
    def doc_years(self) -> list:
        return self.docs["year"].tolist()

    @property
    def years(self) -> list:
        return sorted(set(self.doc_years))

    @property
    def texts(self) -> list[str]:
        return self.docs["text"].tolist()

    def __len__(self) -> int:
        return len(self.docs)

    def digest(self, year=None, embeddings: bool = True) -> str:
        """SHA-256 of what a model sees (units' tokens and owners, document years and periods, and the
        embeddings when present and asked for): the data part of fitted models' cache keys, for all or
        one year."""
        idx = self.year_index(year) if year is not None else np.arange(len(self.docs))
        keep, first = set(idx.tolist()), int(idx[0]) if len(idx) else 0
        # Owners relative to the slice, so a year's digest does not move when an earlier year is added.
        units = [("\x1f".join(t) + "\x1e" + str(o - first)) for t, o in zip(self.unit_tokens, self.unit_owner)
                 if o in keep]
        years = np.asarray(self.doc_years)[idx].tolist()
        periods = [str(self.periods[i]) for i in idx]
        h = hashlib.sha256(texts_digest(units, f"{years}{periods}").encode())
        if embeddings and self.embeddings is not None:
            h.update(np.ascontiguousarray(self.embeddings[self._embedding_rows(idx)]).tobytes())
            if self.embedded is not None:  # which of them were embedded, relative to the slice like the owners
                h.update((np.intersect1d(self.embedded, idx) - first).tobytes())
        return h.hexdigest()

    def _embedding_rows(self, idx: np.ndarray) -> np.ndarray:
        """Rows of ``embeddings`` for the documents at ``idx`` that have one."""
        if self.embedded is None:
            return idx
        return np.flatnonzero(np.isin(self.embedded, idx))

    def subset(self, index: np.ndarray) -> "Documents":
        """The documents at the sorted positions ``index`` with their units (owners renumbered) and the
        embedding rows they have (all of them, or the subset is of embedded documents)."""
        index = np.asarray(index, dtype=int)
        position = np.full(len(self.docs), -1)
        position[index] = np.arange(len(index))
        owners = position[np.asarray(self.unit_owner, dtype=int)]
        units = np.flatnonzero(owners >= 0)
        embeddings, embedded = None, None
        if self.embeddings is not None:
            embeddings = self.embeddings[self._embedding_rows(index)]
            if len(embeddings) != len(index):  # only some of them embedded
                embedded = np.flatnonzero(np.isin(index, self.embedded))
        return Documents(docs=self.docs.iloc[index].reset_index(drop=True), periods=[self.periods[i] for i in index],
                         unit_tokens=[self.unit_tokens[u] for u in units], unit_owner=owners[units].tolist(),
                         embeddings=embeddings, embedder=self.embedder, embedding_info=self.embedding_info,
                         embedded=embedded)

    def doc_tokens(self) -> list[list[str]]:
        """Each document's tokens (its units' tokens in order)."""
        out: list[list[str]] = [[] for _ in range(len(self.docs))]
        for tokens, owner in zip(self.unit_tokens, self.unit_owner):
            out[owner].extend(tokens)
        return out

    def units_to_documents(self, unit_topic: np.ndarray) -> np.ndarray:
        """Document rows from unit rows (identity for document units): token-weighted mean."""
        if len(self.unit_owner) == len(self.docs) and all(o == i for i, o in enumerate(self.unit_owner)):
            return unit_topic
        return aggregate_units(unit_topic, self.unit_owner, [len(t) for t in self.unit_tokens], len(self.docs))

    def year_units(self, year) -> list[list[str]]:
        """The unit token lists of one year's documents."""
        unit_year = np.asarray(self.doc_years)[np.asarray(self.unit_owner, dtype=int)]
        return [t for t, y in zip(self.unit_tokens, unit_year) if y == year]

    def year_index(self, year) -> np.ndarray:
        return np.flatnonzero(np.asarray(self.doc_years) == year)


def aggregate_units(unit_topic: np.ndarray, owners: Sequence[int], weights: Sequence[float], n_docs: int) -> np.ndarray:
    """Document-topic rows from unit (sentence) rows: the weighted mean of a document's units."""
    owners = np.asarray(owners)
    w = np.asarray(weights, dtype=float)
    out = np.zeros((n_docs, unit_topic.shape[1]))
    np.add.at(out, owners, unit_topic * w[:, None])
    totals = out.sum(axis=1, keepdims=True)
    return np.where(totals > 0, out / np.where(totals > 0, totals, 1), 1.0 / unit_topic.shape[1])


def build_documents(docs: pd.DataFrame, per_year: dict, config, source: str) -> tuple[Documents, dict]:
    """Documents in year order with their tokens (optionally merged into phrases), tokenless ones dropped.

    Returns (documents, {year: documents dropped because no usable token was left}).
    """
    years = sorted(per_year)
    docs, unit_tokens, unit_owner = tokenize.order_by_year(docs, per_year, years)
    if config.tokenize.collocations:
        unit_tokens = tokenize.merge_collocations(unit_tokens, config.tokenize.phrase_min_count,
                                                  config.tokenize.phrase_threshold)
    # Opinions with no usable token (all digits, symbols, foreign script) are reported, not modelled.
    docs, unit_tokens, unit_owner, no_tokens = tokenize.drop_tokenless(docs, unit_tokens, unit_owner, source)
    return Documents(docs=docs, periods=period_labels(docs, config.align.time_unit),
                     unit_tokens=unit_tokens, unit_owner=unit_owner), no_tokens


# ---------------------------------------------------------------- documents as files (for other processes)

_OPEN_DOCUMENTS: dict[str, Documents] = {}


def save_documents(data: Documents, folder: Path) -> str:
    """Write ``data`` to ``folder`` (Parquet, .npy, JSON) so tasks in other processes (the process and
    Dask runners) get a path, not a pickled copy; this process keeps the object itself."""
    folder.mkdir(parents=True, exist_ok=True)
    data.docs.to_parquet(folder / "docs.parquet", index=False)
    pq.write_table(pa.table({"owner": pa.array(data.unit_owner, pa.int64()),
                             "tokens": pa.array(data.unit_tokens, pa.list_(pa.string()))}), folder / "units.parquet")
    (folder / "documents.json").write_text(json.dumps({"periods": data.periods, "embedding": data.embedding_info},
                                                      ensure_ascii=False, default=json_default), encoding="utf-8")
    if data.embeddings is not None:
        np.save(folder / "embeddings.npy", data.embeddings)
    if data.embedded is not None:
        np.save(folder / "embedded.npy", data.embedded)
    _OPEN_DOCUMENTS[str(folder)] = data
    return str(folder)


def documents_at(path: str) -> Documents:
    """The documents saved at ``path``: this process's own object, or read (once per process)."""
    if path not in _OPEN_DOCUMENTS:
        folder = Path(path)
        meta = json.loads((folder / "documents.json").read_text(encoding="utf-8"))
        units = pq.read_table(folder / "units.parquet")
        embeddings, embedded = folder / "embeddings.npy", folder / "embedded.npy"
        _OPEN_DOCUMENTS[path] = Documents(
            docs=pd.read_parquet(folder / "docs.parquet"), periods=meta["periods"],
            unit_tokens=units.column("tokens").to_pylist(), unit_owner=units.column("owner").to_pylist(),
            embeddings=np.load(embeddings) if embeddings.is_file() else None, embedding_info=meta["embedding"],
            embedded=np.load(embedded) if embedded.is_file() else None)
    return _OPEN_DOCUMENTS[path]


def forget_documents(path: str) -> None:
    _OPEN_DOCUMENTS.pop(path, None)
