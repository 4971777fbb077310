"""The report's interactive views (plotly, offline): an intertopic distance map, the topics' hierarchy and
the lineage as a Sankey per model, and each topic's words per period (``topics_over_time.csv``).

Each view is returned as :class:`~markupsafe.Markup` built from the run's files: plotly serialises the
data as JSON with ``<``, ``>``, ``/`` escaped, texts from the run are HTML-escaped before they go in
(plotly.js reads hover text as a subset of HTML), and ``div_id`` is reduced to ``[a-z0-9_-]``.
"""
from __future__ import annotations

import html
import re
from typing import Callable

import numpy as np
import pandas as pd
from markupsafe import Markup

from textmine.analysis.identity import load_previous_topics
from textmine.core.errors import TextmineError
from textmine.core.periods import period_sort_key
from textmine.models.topics import topic_similarity
from textmine.outputs.charts import shorten


def plotly_views(data: dict, models: list[str], display: Callable[[str], str] = str,
                 plotly_loaded: bool = True) -> dict:
    """``topic_maps``, ``topic_trees`` and ``sankeys`` of the page: per model, its view as Markup (plotly.js
    inlined in the first one unless ``plotly_loaded``: an earlier chart of the page carries it)."""
    out: dict = {}
    include_js = not plotly_loaded
    maps = []
    for model in models:
        fig = intertopic_map(data, model, f"{display(model)} 토픽 간 거리 지도", f"map-{model}", include_js)
        if fig is not None:
            include_js = False
            maps.append({"key": model, "name": display(model), "plot": fig})
    out["topic_maps"] = maps
    trees = []
    for model in models:
        fig = topic_hierarchy(data, model, f"{display(model)} 토픽 위계", f"tree-{model}", include_js)
        if fig is not None:
            include_js = False
            trees.append({"key": model, "name": display(model), "plot": fig})
    out["topic_trees"] = trees
    sankeys = []
    lineage = data.get("lineage")
    for model in models:
        if lineage is None or not (lineage["model"] == model).any():
            continue
        fig = lineage_sankey(lineage[lineage["model"] == model], f"{display(model)} 토픽 계보 흐름",
                             f"sankey-{model}", include_js)
        if fig is not None:
            include_js = False
            sankeys.append({"key": model, "name": display(model), "plot": fig})
    out["sankeys"] = sankeys
    return out


def over_time_context(table: pd.DataFrame | None, display: Callable[[str], str] = str, n_words: int = 4) -> list[dict]:
    """Per model, each topic's first ``n_words`` words in each period (``topics_over_time.csv``)."""
    if table is None or table.empty:
        return []
    out = []
    for model, rows in table.groupby("model", sort=False):
        periods = sorted(dict.fromkeys(rows["period"]), key=period_sort_key)
        topics = []
        for topic, g in rows.groupby("topic", sort=True):
            words = {str(p): ", ".join([w.strip() for w in str(ws).split(",") if w.strip()][:n_words])
                     for p, ws in zip(g["period"], g["words"].fillna(""))}
            topics.append({"topic": int(topic), "label": str(g["label"].iloc[0]),
                           "cells": [words.get(str(p), "") for p in periods]})
        out.append({"key": model, "name": display(model), "periods": [str(p) for p in periods], "topics": topics,
                    "n_words": n_words})
    return out


def classical_mds(distances: np.ndarray, dims: int = 2) -> np.ndarray:
    """Torgerson's classical MDS of a symmetric distance matrix: points whose Euclidean distances
    approximate it (the eigenvectors of the double-centred squared distances); signs fixed so that
    each axis's largest coordinate is positive (the same input gives the same picture)."""
    d = np.asarray(distances, dtype=float)
    n = d.shape[0]
    if n == 0:
        return np.zeros((0, dims))
    j = np.eye(n) - np.ones((n, n)) / n
    b = -0.5 * j @ (d ** 2) @ j
    values, vectors = np.linalg.eigh(b)
    order = np.argsort(values)[::-1][:dims]
    coords = vectors[:, order] * np.sqrt(np.clip(values[order], 0, None))
    for k in range(coords.shape[1]):
        i = int(np.argmax(np.abs(coords[:, k])))
        if coords[i, k] < 0:
            coords[:, k] *= -1
    if coords.shape[1] < dims:
        coords = np.hstack([coords, np.zeros((n, dims - coords.shape[1]))])
    return coords


def jensen_shannon(topic_word: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distances (base 2, 0 to 1) between the rows of a topic-word matrix."""
    rows = np.asarray(topic_word, dtype=float) + 1e-12
    return np.clip(1.0 - topic_similarity(rows, rows), 0.0, 1.0)


def _topic_rows(data: dict, model: str):
    """(topic ids, topic-word matrix) of the run's global topics: the saved model's arrays, else the
    term weights of topics.csv (as :func:`textmine.analysis.identity.load_previous_topics` reads any run)."""
    try:
        prev = load_previous_topics(data["path"], model)
    except (TextmineError, OSError, ValueError, KeyError):
        return None
    if prev is None or prev.topic_word.shape[0] < 3:
        return None
    return prev.topic_ids, prev.topic_word


def intertopic_map(data: dict, model: str, title: str, div_id: str, include_js: bool):
    """An intertopic distance map (LDAvis' view): topics as circles placed by classical MDS of the
    Jensen-Shannon distances between their word distributions, area by prevalence (mean share over
    the periods); hovering shows the topic's terms.  None when the run lacks what it needs.

    Returned as :class:`Markup` for the same reasons as ``report._plotly_trajectories``: plotly
    serialises the data as JSON with ``<``, ``>``, ``/`` escaped, texts from the run are
    HTML-escaped before they go in (plotly.js reads hover text as a subset of HTML), and
    ``div_id`` is reduced to ``[a-z0-9_-]``."""
    import plotly.graph_objects as go

    found = _topic_rows(data, model)
    topics = data.get("topics")
    if found is None or topics is None:
        return None
    ids, topic_word = found
    coords = classical_mds(jensen_shannon(topic_word))
    glob = topics[(topics["model"] == model) & (topics["scope"].astype(str) == "global")].set_index("topic")
    traj = data.get("trajectories")
    share = {}
    if traj is not None:
        t = traj[traj["model"] == model]
        share = t.groupby("topic")["share"].mean().to_dict()
    labels = [str(glob["label"].get(t, f"토픽 {t}")) for t in ids]
    terms = [str(glob["top_terms"].get(t, "")) if "top_terms" in glob else "" for t in ids]
    prevalence = np.array([float(share.get(t, 0.0)) for t in ids])
    if prevalence.sum() <= 0 and "size" in glob:
        prevalence = np.array([float(glob["size"].get(t, 0)) for t in ids])
        prevalence = prevalence / max(prevalence.sum(), 1.0)
    size = 14 + 70 * np.sqrt(prevalence / max(prevalence.max(), 1e-9))
    hover = [html.escape(f"T{t} {l}") + "<br>" + html.escape(f"평균 비중 {p:.1%}") + "<br>" + html.escape(w)
             for t, l, p, w in zip(ids, labels, prevalence, terms)]
    fig = go.Figure(go.Scatter(
        x=coords[:, 0].round(6).tolist(), y=coords[:, 1].round(6).tolist(), mode="markers+text",
        text=[str(t) for t in ids], textposition="middle center", hovertext=hover, hoverinfo="text",
        marker=dict(size=size.round(2).tolist(), color=prevalence.round(6).tolist(), colorscale="Blues",
                    opacity=0.75, line=dict(width=1, color="#1f3b63"), showscale=False)))
    fig.update_layout(title=html.escape(title), height=520, showlegend=False, margin=dict(l=40, r=20, t=60, b=40),
                      xaxis=dict(title="MDS 1", zeroline=True, showticklabels=False),
                      yaxis=dict(title="MDS 2", zeroline=True, showticklabels=False, scaleanchor="x"),
                      font=dict(family="NanumGothic, 'Malgun Gothic', sans-serif"))
    return Markup(fig.to_html(full_html=False, include_plotlyjs="inline" if include_js else False,
                              div_id=re.sub(r"[^a-z0-9_-]", "-", div_id.lower())))


def topic_hierarchy(data: dict, model: str, title: str, div_id: str, include_js: bool):
    """The topics' hierarchy as a dendrogram (BERTopic's ``visualize_hierarchy`` view, for any model):
    average-linkage clustering of the Jensen-Shannon distances between topic-word rows, so the reader
    sees which topics would merge first.  Markup for the reasons given in :func:`intertopic_map`."""
    import plotly.figure_factory as ff
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import squareform

    found = _topic_rows(data, model)
    topics = data.get("topics")
    if found is None or topics is None:
        return None
    ids, topic_word = found
    glob = topics[(topics["model"] == model) & (topics["scope"].astype(str) == "global")].set_index("topic")
    labels = [html.escape(f"T{t} {glob['label'].get(t, '')}") for t in ids]
    condensed = squareform(jensen_shannon(topic_word), checks=False)

    def link(_):
        return linkage(condensed, method="average", optimal_ordering=True)

    fig = ff.create_dendrogram(np.asarray(topic_word), orientation="left", labels=labels, linkagefun=link,
                               distfun=lambda x: condensed)
    fig.update_layout(title=html.escape(title), height=max(320, 26 * len(ids)), showlegend=False,
                      margin=dict(l=220, r=20, t=60, b=40), xaxis=dict(title="젠슨-섀넌 거리"),
                      font=dict(family="NanumGothic, 'Malgun Gothic', sans-serif"))
    return Markup(fig.to_html(full_html=False, include_plotlyjs="inline" if include_js else False,
                              div_id=re.sub(r"[^a-z0-9_-]", "-", div_id.lower())))


def lineage_sankey(lineage: pd.DataFrame, title: str, div_id: str, include_js: bool, min_share: float = 0.0):
    """The yearly topics' links (``lineage.csv``: continue, split, merge) as a plotly Sankey: a node per
    (year, topic), laid out by year, a link's width the share of the later topic.  Same safety as
    :func:`intertopic_map`."""
    import plotly.graph_objects as go

    links = lineage[lineage["kind"].isin(["continue", "split", "merge"])].dropna(subset=["from_topic", "to_topic"])
    if links.empty:
        return None
    nodes: dict[tuple, dict] = {}
    for r in links.itertuples():
        nodes.setdefault((r.from_year, int(r.from_topic)), {"label": r.from_label})
        nodes.setdefault((r.to_year, int(r.to_topic)), {"label": r.to_label})
    order = sorted(nodes, key=lambda k: (period_sort_key(k[0]), k[1]))
    index = {k: i for i, k in enumerate(order)}
    years = sorted({k[0] for k in order}, key=period_sort_key)
    col = {y: i for i, y in enumerate(years)}
    x = [0.001 + 0.998 * col[k[0]] / max(len(years) - 1, 1) for k in order]
    names = [html.escape(f"{k[0]} T{k[1]} {shorten(nodes[k]['label'], 18)}") for k in order]
    kinds = {"continue": "이어짐", "split": "분화", "merge": "통합"}
    value = [max(float(s) if pd.notna(s) else 0.0, 0.005) for s in links["to_share"]]
    fig = go.Figure(go.Sankey(
        arrangement="snap",
        node=dict(label=names, x=x, pad=8, thickness=12, hovertemplate="%{label}<extra></extra>"),
        link=dict(source=[index[(r.from_year, int(r.from_topic))] for r in links.itertuples()],
                  target=[index[(r.to_year, int(r.to_topic))] for r in links.itertuples()],
                  value=value, customdata=[html.escape(kinds.get(k, k)) + (f" (유사도 {s:.2f})" if pd.notna(s) else "")
                                           for k, s in zip(links["kind"], links["similarity"])],
                  hovertemplate="%{customdata}<extra></extra>")))
    fig.update_layout(title=html.escape(title), height=max(420, 26 * max(len(order) // max(len(years), 1), 1) + 200),
                      margin=dict(l=20, r=20, t=60, b=20), font=dict(family="NanumGothic, 'Malgun Gothic', sans-serif",
                                                                       size=10))
    return Markup(fig.to_html(full_html=False, include_plotlyjs="inline" if include_js else False,
                              div_id=re.sub(r"[^a-z0-9_-]", "-", div_id.lower())))
