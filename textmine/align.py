"""Topic trajectories: how each topic's share moves from year to year.

Per model and year, ``share`` is the topic's share of the year's probability
mass (mean document-topic probability) and ``doc_share`` the share of the
year's documents whose most probable topic it is.  Both sum to 1 per year.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd


def topic_shares_by_year(doc_topic: np.ndarray, years: Sequence[int], labels: Sequence[str],
                         model: str) -> pd.DataFrame:
    """Long table: model, topic, label, year, share, doc_share, n_docs."""
    years = np.asarray(years)
    k = doc_topic.shape[1]
    dominant = doc_topic.argmax(axis=1)
    rows = []
    for year in sorted(set(years.tolist())):
        mask = years == year
        n = int(mask.sum())
        mass = doc_topic[mask].mean(axis=0)
        counts = np.bincount(dominant[mask], minlength=k)
        for topic in range(k):
            rows.append({"model": model, "topic": topic, "label": labels[topic], "year": int(year),
                         "share": float(mass[topic]), "doc_share": float(counts[topic] / n), "n_docs": n})
    return pd.DataFrame(rows)


def share_matrix(trajectories: pd.DataFrame, column: str = "share") -> pd.DataFrame:
    """Years × topics matrix of one model's trajectories (outlier rows excluded)."""
    table = trajectories[trajectories["topic"] >= 0]
    return table.pivot(index="year", columns="topic", values=column).sort_index()


def aggregate_units(unit_topic: np.ndarray, owners: Sequence[int], weights: Sequence[float], n_docs: int) -> np.ndarray:
    """Document-topic rows from unit (sentence) rows: the weighted mean of a document's units."""
    owners = np.asarray(owners)
    w = np.asarray(weights, dtype=float)
    out = np.zeros((n_docs, unit_topic.shape[1]))
    np.add.at(out, owners, unit_topic * w[:, None])
    totals = out.sum(axis=1, keepdims=True)
    return np.where(totals > 0, out / np.where(totals > 0, totals, 1), 1.0 / unit_topic.shape[1])
