"""What every topic model shares: labels, topic similarity, and the tables a run writes.

Model-independent on purpose: LDA, BERTopic and DTM results all become these tables
(``topics.csv``, ``doc_topics.parquet``, ``representative_docs.csv``) through the same code.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd


def topic_label(terms: Sequence, n_terms: int = 3) -> str:
    """A short Korean label from a topic's leading terms: '진로·탐색·설계'."""
    return "·".join((t[0] if isinstance(t, tuple) else t) for t in terms[:n_terms])


def topic_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 - Jensen-Shannon distance (base 2) between every row of ``a`` and of ``b`` (topic-word distributions)."""
    a = a / a.sum(axis=1, keepdims=True)
    b = b / b.sum(axis=1, keepdims=True)
    out = np.empty((a.shape[0], b.shape[0]))
    for i, p in enumerate(a):  # row by row keeps memory at (topics × vocabulary)
        m = (p[None, :] + b) / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            kl_p = np.where(p > 0, p * np.log2(p / m), 0.0).sum(axis=1)
            kl_q = np.where(b > 0, b * np.log2(b / m), 0.0).sum(axis=1)
        out[i] = 1.0 - np.sqrt(np.clip((kl_p + kl_q) / 2, 0.0, 1.0))
    return out


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity between rows of ``a`` and ``b``: separates matching topics of separately
    fitted models better than Jensen-Shannon, whose smoothing mass makes all topics look alike."""
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return a @ b.T


def match_topics(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best one-to-one matching of ``a``'s topics to ``b``'s (Hungarian): (match index per a-topic, similarity)."""
    from scipy.optimize import linear_sum_assignment

    sim = topic_similarity(a, b)
    rows, cols = linear_sum_assignment(-sim)
    match = np.full(a.shape[0], -1)
    match[rows] = cols
    sims = np.zeros(a.shape[0])
    sims[rows] = sim[rows, cols]
    return match, sims


def map_to_global(yearly_topic_word: np.ndarray, global_topic_word: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each per-year topic's most similar global topic and the similarity, so both views agree."""
    sim = cosine_similarity(yearly_topic_word, global_topic_word)
    best = sim.argmax(axis=1)
    return best, sim[np.arange(len(best)), best]


def topics_table(model: str, topic_terms: list[list[tuple[str, float]]], sizes, scope: str = "global",
                 relevant: list[list[str]] | None = None, n_label_terms: int = 3) -> pd.DataFrame:
    """``topics.csv`` rows: model, scope, topic, label, top terms (with weights), distinctive terms, size.

    The label is built from the distinctive (relevance-ranked) terms when given,
    since the most probable terms are often shared by several topics.
    """
    rows = []
    for k, terms in enumerate(topic_terms):
        label_terms = relevant[k] if relevant else [t for t, _ in terms]
        rows.append({
            "model": model, "scope": scope, "topic": k, "label": topic_label(label_terms, n_label_terms),
            "top_terms": ", ".join(t for t, _ in terms),
            "term_weights": "; ".join(f"{t}:{w:.4f}" for t, w in terms),
            "relevant_terms": ", ".join(relevant[k]) if relevant else "",
            "size": int(sizes[k]),
        })
    return pd.DataFrame(rows)


def doc_topics_table(model: str, doc_ids, years, doc_topic, min_probability: float = 0.01,
                     topic_ids=None) -> pd.DataFrame:
    """``doc_topics.parquet`` rows: each document's topic probabilities (small ones omitted, the top one kept).

    ``topic_ids`` names the columns when they are not 0..k-1 (BERTopic's last column is outlier -1).
    """
    dominant = doc_topic.argmax(axis=1)
    rows, cols = np.nonzero((doc_topic >= min_probability) | (np.arange(doc_topic.shape[1]) == dominant[:, None]))
    return pd.DataFrame({
        "doc_id": np.asarray(doc_ids, dtype=object)[rows], "year": np.asarray(years)[rows], "model": model,
        "topic": (np.asarray(topic_ids)[cols] if topic_ids is not None else cols).astype(int),
        "probability": doc_topic[rows, cols].round(6),
        "is_dominant": cols == dominant[rows],
    })


def representative_docs(model: str, doc_ids, years, texts, scores: np.ndarray, labels, per_topic: int = 3,
                        max_chars: int = 300) -> pd.DataFrame:
    """The opinions most typical of each topic (highest score), PII-masked text shortened."""
    rows = []
    for t in range(scores.shape[1]):
        for i in np.argsort(-scores[:, t], kind="stable")[:per_topic]:
            text = texts[i] if len(texts[i]) <= max_chars else texts[i][:max_chars] + "…"
            rows.append({"model": model, "topic": t, "label": labels[t], "doc_id": doc_ids[i], "year": years[i],
                         "probability": round(float(scores[i, t]), 4), "text": text})
    return pd.DataFrame(rows)
