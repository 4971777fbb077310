"""Topic trajectories and lineage: how topics move from period to period.

Per model and period (a year by default; a half-year, quarter or month for
corpora with dates), ``share`` is the topic's share of the period's
probability mass (mean document-topic probability) and ``doc_share`` the share
of the period's documents whose most probable topic it is.  Both sum to 1 per
period.  Lineage links the topics of separately fitted per-year models.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from textmine.core.periods import period_year
from textmine.models.topics import cosine_similarity


def topic_shares_by_year(doc_topic: np.ndarray, periods: Sequence, labels: Sequence[str],
                         model: str) -> pd.DataFrame:
    """Long table: model, topic, label, year, period, share, doc_share, n_docs."""
    periods = np.asarray(periods, dtype=object)
    k = doc_topic.shape[1]
    dominant = doc_topic.argmax(axis=1)
    rows = []
    for period in sorted(set(periods.tolist())):
        mask = periods == period
        n = int(mask.sum())
        mass = doc_topic[mask].mean(axis=0)
        counts = np.bincount(dominant[mask], minlength=k)
        for topic in range(k):
            rows.append({"model": model, "topic": topic, "label": labels[topic], "year": period_year(period),
                         "period": period, "share": float(mass[topic]), "doc_share": float(counts[topic] / n),
                         "n_docs": n})
    return pd.DataFrame(rows)


def share_matrix(trajectories: pd.DataFrame, column: str = "share") -> pd.DataFrame:
    """Periods × topics matrix of one model's trajectories (outlier rows excluded)."""
    table = trajectories[trajectories["topic"] >= 0]
    return table.pivot(index="period", columns="topic", values=column).sort_index()


def bootstrap_shares(doc_topic: np.ndarray, periods: Sequence, n_boot: int, seed: int,
                     chunk: int = 25) -> dict:
    """Per period, ``n_boot`` resampled share vectors (documents resampled with replacement within it).

    Returns {period: (n_boot, topics, 2)} with [..., 0] probability-mass share and
    [..., 1] document share.  Resampling uses multinomial document counts, in
    chunks of replicates, so memory stays at (chunk × documents of a year).
    """
    years = np.asarray(periods, dtype=object)
    rng = np.random.default_rng(seed)
    k = doc_topic.shape[1]
    dominant = np.eye(k)[doc_topic.argmax(axis=1)]
    out = {}
    for year in sorted(set(years.tolist())):
        idx = np.flatnonzero(years == year)
        n = len(idx)
        mass, hard = doc_topic[idx], dominant[idx]
        reps = []
        for start in range(0, n_boot, chunk):
            b = min(chunk, n_boot - start)
            counts = rng.multinomial(n, np.full(n, 1.0 / n), size=b)
            reps.append(np.stack([counts @ mass / n, counts @ hard / n], axis=-1))
        out[year] = np.concatenate(reps) if reps else np.zeros((0, k, 2))
    return out


def add_confidence_bands(table: pd.DataFrame, boot: dict[int, np.ndarray], level: float = 0.95) -> pd.DataFrame:
    """Percentile bands of ``share`` and ``doc_share`` from bootstrap replicates."""
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    table = table.copy()
    cols = {c: [] for c in ("share_lo", "share_hi", "doc_share_lo", "doc_share_hi")}
    for period, topic in zip(table["period"], table["topic"]):
        reps = boot.get(period)
        if reps is None or topic < 0 or len(reps) == 0:
            for c in cols:
                cols[c].append(np.nan)
            continue
        m, h = reps[:, topic, 0], reps[:, topic, 1]
        cols["share_lo"].append(float(np.quantile(m, lo_q)))
        cols["share_hi"].append(float(np.quantile(m, hi_q)))
        cols["doc_share_lo"].append(float(np.quantile(h, lo_q)))
        cols["doc_share_hi"].append(float(np.quantile(h, hi_q)))
    for c, values in cols.items():
        table[c] = np.round(values, 6)
    return table


def link_years(prev: np.ndarray, nxt: np.ndarray, threshold: float) -> list[tuple[int, int, float]]:
    """Links (i, j, similarity) between consecutive years' topics with similarity >= threshold.

    Every topic keeps at least its best partner if that partner clears the
    threshold, and further partners above the threshold make splits and merges.
    """
    sim = cosine_similarity(prev, nxt)
    return [(i, j, float(sim[i, j])) for i in range(sim.shape[0]) for j in range(sim.shape[1]) if sim[i, j] >= threshold]


def build_lineage(yearly: dict[int, dict], threshold: float) -> pd.DataFrame:
    """``lineage.csv``: links between per-year topics of consecutive modelled years, with their kind.

    ``yearly`` maps year -> {"topic_word": (k, V), "labels": [...], "shares": [...], "terms": [[...]]}.
    A link is *continue* when it is the only one out of its source and into its
    target; *split* when its source has several; *merge* when its target has
    several.  A source with no link *dies*; a target with no link is *born*.
    Chains follow the links; each is named by the terms most common in its topics.
    """
    years = sorted(yearly)
    rows = []
    for a, b in zip(years[:-1], years[1:]):
        links = link_years(yearly[a]["topic_word"], yearly[b]["topic_word"], threshold)
        # A topic no document of its year belongs to is no topic of that year.
        links = [(i, j, s) for i, j, s in links if yearly[a]["shares"][i] > 0 and yearly[b]["shares"][j] > 0]
        out_deg = np.bincount([i for i, _, _ in links], minlength=len(yearly[a]["labels"]))
        in_deg = np.bincount([j for _, j, _ in links], minlength=len(yearly[b]["labels"]))
        for i, j, s in links:
            kind = "split" if out_deg[i] > 1 else "merge" if in_deg[j] > 1 else "continue"
            rows.append(_link_row(yearly, a, i, b, j, s, kind))
        rows += [_link_row(yearly, a, i, b, None, None, "death") for i in np.flatnonzero(out_deg == 0)
                 if yearly[a]["shares"][i] > 0]
        rows += [_link_row(yearly, a, None, b, j, None, "birth") for j in np.flatnonzero(in_deg == 0)
                 if yearly[b]["shares"][j] > 0]
    table = pd.DataFrame(rows, columns=["from_year", "from_topic", "to_year", "to_topic", "similarity", "kind",
                                        "from_label", "to_label", "from_share", "to_share"])
    table = table.astype({"from_topic": "Int64", "to_topic": "Int64"})
    return _name_chains(table, yearly)


def _link_row(yearly, a, i, b, j, s, kind) -> dict:
    return {
        "from_year": a, "from_topic": None if i is None else int(i), "to_year": b,
        "to_topic": None if j is None else int(j), "similarity": None if s is None else round(s, 4), "kind": kind,
        "from_label": "" if i is None else yearly[a]["labels"][i],
        "to_label": "" if j is None else yearly[b]["labels"][j],
        "from_share": None if i is None else round(float(yearly[a]["shares"][i]), 4),
        "to_share": None if j is None else round(float(yearly[b]["shares"][j]), 4),
    }


def _name_chains(table: pd.DataFrame, yearly: dict[int, dict]) -> pd.DataFrame:
    """Connected components of the link graph (nodes: (year, topic)), named by their commonest terms."""
    parent: dict[tuple, tuple] = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for year, info in yearly.items():
        for t in range(len(info["labels"])):
            find((year, t))
    # A chain follows mutual best links only: splits and merges stay visible as links
    # but do not fuse whole families of topics into one chain.
    linked = table[table["kind"].isin(["continue", "split", "merge"])]
    best_out = linked.loc[linked.groupby(["from_year", "from_topic"])["similarity"].idxmax()]
    best_in = linked.loc[linked.groupby(["to_year", "to_topic"])["similarity"].idxmax()]
    for r in best_out.merge(best_in, on=list(linked.columns)).itertuples():
        a, b = find((r.from_year, int(r.from_topic))), find((r.to_year, int(r.to_topic)))
        if a != b:
            parent[max(a, b)] = min(a, b)
    members: dict[tuple, list[tuple]] = {}
    for node in sorted(parent):
        members.setdefault(find(node), []).append(node)
    chain_id, chain_label = {}, {}
    for n, (root, nodes) in enumerate(sorted(members.items())):
        counts: dict[str, float] = {}
        for year, t in nodes:
            for rank, term in enumerate(yearly[year]["terms"][t][:10]):
                counts[term] = counts.get(term, 0) + (10 - rank)
        name = "·".join(sorted(counts, key=lambda w: (-counts[w], w))[:3])
        for node in nodes:
            chain_id[node], chain_label[node] = n, name
    def node_of(r):
        if r.from_topic is not None and not pd.isna(r.from_topic):
            return (r.from_year, int(r.from_topic))
        return (r.to_year, int(r.to_topic))
    nodes = [node_of(r) for r in table.itertuples()]
    table["chain"] = [chain_id[n] for n in nodes]
    table["chain_label"] = [chain_label[n] for n in nodes]
    # The target's own chain: differs from ``chain`` on split and merge links.
    table["to_chain"] = [chain_id[(r.to_year, int(r.to_topic))] if not pd.isna(r.to_topic) else pd.NA
                         for r in table.itertuples()]
    table["to_chain"] = table["to_chain"].astype("Int64")
    return table
