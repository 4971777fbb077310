"""Co-occurrence (semantic) networks per phase: centralities, CONCOR, GEXF / xlsx / chart.

What Korean semantic-network studies report beside a topic model (Textom, NetMiner, KrKwic,
UCINET): a network of each phase's most frequent words, linked when they appear in the same
opinion, with the words' centralities and CONCOR blocks; the files open in Gephi (GEXF) and in
NetMiner or UCINET (the xlsx co-occurrence matrices).

Nodes
    The ``top_n`` most frequent terms of the phase (occurrences, ties by term; the same counts as
    :func:`textmine.analysis.wordfreq.word_frequency`).

Co-occurrence
    Counted over *contexts*: the phase's documents (``unit="document"``) or their token units
    (``unit="unit"``: sentences when the run tokenizes by sentence).  ``count(i, j)`` is the number
    of contexts that contain both terms (presence, not products of occurrences, so one long
    opinion that repeats a word does not dominate).  The matrix diagonal is 0.

Edge weights
    ``"count"``: ``count(i, j)``, what Textom, KrKwic and NetMiner's co-occurrence matrices hold.
    ``"npmi"``: normalized pointwise mutual information over the N contexts,
    ``npmi = ln(p_ij / (p_i p_j)) / -ln(p_ij)`` with ``p_i = df_i / N`` and ``p_ij = count(i, j) / N``
    (Bouma 2009): 1 when two words always appear together, 0 when independent, negative when they
    avoid each other; pairs with ``p_ij = 1`` get 1.  Non-positive NPMI edges are dropped (a
    negative association is not a link).

Pruning (defaults and why)
    A pair becomes an edge when it co-occurs in at least ``min_count`` contexts (default 2: a single
    co-occurrence is noise, and it is exactly the case NPMI overrates) and its weight is above
    ``min_weight`` (default 0).  Optionally only edges that are among the ``top_k`` strongest of at
    least one of their two words are kept (off by default).  Finally at most ``max_edges`` of the
    strongest edges remain (default ``3 × top_n``: 150 edges for 50 words, a mean degree of 6, the
    density at which a static layout of 50 labelled words stays readable; the full co-occurrence
    graph of frequent words is nearly complete, a hairball in which every degree is the same).
    Ties in weight are broken by the count, then by the pair of terms.  Every top-N term stays a node,
    even when no edge is left.

Centralities (on the pruned graph)
    ``degree``: networkx ``degree_centrality`` (degree / (n - 1)).  ``weighted_degree``: strength,
    the sum of the node's edge weights.  ``betweenness``: networkx ``betweenness_centrality``,
    normalised, shortest paths with distance = 1 / weight (a strong link is a short one).
    ``eigenvector``: the leading eigenvector of the weighted adjacency matrix, unit length and
    positive, as ``networkx.eigenvector_centrality_numpy(weight="weight")`` defines it, computed
    with a dense symmetric eigensolver (networkx's ARPACK start vector is random, which changes the
    last digits between runs).  On a disconnected graph it is ambiguous (networkx refuses): here the
    component with the largest leading eigenvalue (ties: more nodes, then the earlier word) carries
    it, as power iteration over the whole graph (Gephi) converges to, and every other node is 0.
    Values are rounded to 6 decimals.

CONCOR (:func:`concor`)
    Breiger, Boorman & Arabie (1975), on the (unpruned) co-occurrence count matrix; see its docstring.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import networkx as nx
import numpy as np
import pandas as pd

from textmine.analysis.analysis import Analysis, Written, consensus_of, read_table, settings_of
from textmine.analysis.wordfreq import Scope, phase_scope_name, phase_scopes, scope_counts, top_terms
from textmine.outputs.xlsx import Sheet, write_workbook
from textmine.text.documents import Documents

NETWORKS = "networks"
NODES = "networks/nodes.csv"
EDGES = "networks/edges.csv"
NETWORK_XLSX = "networks/networks.xlsx"
# networks.xlsx's columns are sized to their first 200 values, at most 40 characters wide
XLSX_FIT_ROWS, XLSX_WIDEST = 200, 40
WEIGHTS = ("count", "npmi")
UNITS = ("document", "unit")
ISOLATE_BLOCK = 0

NODE_COLUMNS = ["term", "frequency", "degree", "weighted_degree", "betweenness", "eigenvector", "concor_block"]
EDGE_COLUMNS = ["source", "target", "weight", "count", "npmi"]
# Korean headers of the xlsx (NetMiner / UCINET users) and of the report.
NODE_HEADERS = {"term": "단어", "frequency": "빈도", "degree": "연결중심성", "weighted_degree": "가중연결중심성",
                "betweenness": "매개중심성", "eigenvector": "고유벡터중심성", "concor_block": "CONCOR 블록"}
EDGE_HEADERS = {"source": "단어1", "target": "단어2", "weight": "가중치", "count": "동시출현 빈도", "npmi": "NPMI"}


@dataclass
class PhaseNetwork:
    """One phase's co-occurrence network and its tables."""

    phase: int                  # from 1
    start: Any
    end: Any
    label: str
    graph: nx.Graph             # nodes: terms with their attributes; edges: weight, count, npmi
    nodes: pd.DataFrame         # NODE_COLUMNS, by frequency then term
    edges: pd.DataFrame         # EDGE_COLUMNS, by weight descending
    matrix: pd.DataFrame        # terms × terms co-occurrence counts (diagonal 0), unpruned
    n_contexts: int             # documents or units of the phase
    settings: dict = field(default_factory=dict)  # unit, weight, top_n, min_count, min_weight, top_k, max_edges, concor_depth

    @property
    def name(self) -> str:
        """``phase1_2015-2017``."""
        return phase_scope_name(self.phase, self.start, self.end)

    @property
    def density(self) -> float:
        return float(nx.density(self.graph)) if len(self.graph) > 1 else 0.0


# ---------------------------------------------------------------- co-occurrence

def _contexts(documents: Documents, scope: Scope, unit: str) -> list[set[str]]:
    """The term sets of the scope's documents, or of their units."""
    if unit == "document":
        tokens = documents.doc_tokens()
        return [set(tokens[i]) for i in scope.doc_index]
    inside = set(int(i) for i in scope.doc_index)
    return [set(t) for t, owner in zip(documents.unit_tokens, documents.unit_owner) if owner in inside]


def cooccurrence(contexts: Sequence[set[str]], terms: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(counts, df): ``counts[i, j]`` = contexts containing both terms (diagonal 0), ``df[i]`` =
    contexts containing term i."""
    pos = {t: i for i, t in enumerate(terms)}
    x = np.zeros((len(contexts), len(terms)), dtype=np.int64)
    for r, context in enumerate(contexts):
        for t in context:
            j = pos.get(t)
            if j is not None:
                x[r, j] = 1
    counts = x.T @ x
    df = np.diag(counts).copy()
    np.fill_diagonal(counts, 0)
    return counts, df


def npmi_matrix(counts: np.ndarray, df: np.ndarray, n_contexts: int) -> np.ndarray:
    """NPMI of every pair (see the module docstring); -1 where the pair never co-occurs."""
    out = np.full(counts.shape, -1.0)
    if n_contexts == 0:
        return out
    n = float(n_contexts)
    for i, j in zip(*np.nonzero(counts)):
        p_ij = counts[i, j] / n
        if p_ij >= 1.0:
            out[i, j] = 1.0
            continue
        pmi = math.log(p_ij / ((df[i] / n) * (df[j] / n)))
        out[i, j] = pmi / -math.log(p_ij)
    return out


def prune_edges(edges: pd.DataFrame, min_count: int = 2, min_weight: float = 0.0, top_k: int | None = None,
                max_edges: int | None = None) -> pd.DataFrame:
    """The edges kept (see "Pruning" in the module docstring), strongest first.

    ``edges`` has ``source``, ``target``, ``weight``, ``count``; an edge is kept when
    ``count >= min_count`` and ``weight > min_weight``, (with ``top_k``) it is among the ``top_k``
    strongest edges of its source or its target, and it is among the ``max_edges`` strongest left.
    """
    order = ["weight", "count", "source", "target"]
    kept = edges[(edges["count"] >= min_count) & (edges["weight"] > min_weight)]
    kept = kept.sort_values(order, ascending=[False, False, True, True], kind="mergesort")
    if top_k is not None:
        rank: dict = {}
        keep = []
        for s, t in zip(kept["source"], kept["target"]):  # strongest first: a running count is the rank
            rank[s] = rank.get(s, 0) + 1
            rank[t] = rank.get(t, 0) + 1
            keep.append(rank[s] <= top_k or rank[t] <= top_k)
        kept = kept[np.asarray(keep, dtype=bool)] if len(kept) else kept
    if max_edges is not None:
        kept = kept.head(max_edges)
    return kept.reset_index(drop=True)


# ---------------------------------------------------------------- centralities

def eigenvector_centrality(graph: nx.Graph, weight: str = "weight") -> dict:
    """Eigenvector centrality that is defined on any graph (see the module docstring)."""
    nodes = list(graph)
    out = {v: 0.0 for v in nodes}
    if graph.number_of_edges() == 0:
        return out
    order = {v: i for i, v in enumerate(nodes)}
    best = None
    for component in nx.connected_components(graph):
        members = sorted(component, key=order.__getitem__)
        if len(members) < 2:
            continue
        a = nx.to_numpy_array(graph, nodelist=members, weight=weight, dtype=float)
        values, vectors = np.linalg.eigh(a)
        lead, vec = float(values[-1]), vectors[:, -1]
        vec = vec / (np.sign(vec.sum()) * np.linalg.norm(vec))
        key = (round(lead, 9), len(members), -order[members[0]])
        if best is None or key > best[0]:
            best = (key, members, vec)
    if best is not None:
        for v, x in zip(best[1], best[2]):
            out[v] = float(max(x, 0.0))
    return out


def centralities(graph: nx.Graph) -> pd.DataFrame:
    """degree, weighted_degree, betweenness and eigenvector of every node (index: the node)."""
    nodes = list(graph)
    if not nodes:
        return pd.DataFrame(columns=["degree", "weighted_degree", "betweenness", "eigenvector"])
    for _, _, data in graph.edges(data=True):
        data["distance"] = 1.0 / data["weight"]
    degree = nx.degree_centrality(graph) if len(nodes) > 1 else {nodes[0]: 0.0}
    strength = dict(graph.degree(weight="weight"))
    between = nx.betweenness_centrality(graph, weight="distance", normalized=True)
    for _, _, data in graph.edges(data=True):
        del data["distance"]
    eigen = eigenvector_centrality(graph)
    frame = pd.DataFrame({"degree": degree, "weighted_degree": strength, "betweenness": between,
                          "eigenvector": eigen}).reindex(nodes)
    return frame.astype(float).round(6)


# ---------------------------------------------------------------- CONCOR

def _initial_correlation(m: np.ndarray, cols: Sequence[int]) -> np.ndarray:
    """Pearson correlation of the columns ``cols`` of ``m`` (all rows); for the pair (i, j) the
    rows i and j are left out (the diagonal and the pair's own cell say nothing about whether i and
    j are linked to the same others).  An undefined correlation (a constant vector) is 0."""
    k = len(cols)
    r = np.eye(k)
    for a in range(k):
        for b in range(a + 1, k):
            i, j = cols[a], cols[b]
            rows = np.ones(m.shape[0], dtype=bool)
            rows[[i, j]] = False
            x, y = m[rows, i], m[rows, j]
            x, y = x - x.mean(), y - y.mean()
            den = math.sqrt(float(x @ x) * float(y @ y))
            r[a, b] = r[b, a] = float(x @ y) / den if den > 0 else 0.0
    return r


def _corr(r: np.ndarray) -> np.ndarray:
    c = r - r.mean(axis=0)
    norm = np.sqrt((c * c).sum(axis=0))
    norm[norm == 0] = 1.0
    c = c / norm
    out = c.T @ c
    np.fill_diagonal(out, 1.0)
    return np.clip(out, -1.0, 1.0)


def _concor_split(m: np.ndarray, cols: list[int], max_iter: int, tol: float) -> tuple[list[int], list[int]]:
    """One CONCOR split of the nodes ``cols``: (with the first node, against it)."""
    r = _initial_correlation(m, cols)
    for _ in range(max_iter):
        if np.all(np.abs(r) >= 1.0 - tol):
            break
        r = _corr(r)
    first = r[0]
    plus = [c for c, v in zip(cols, first) if v >= 0]
    minus = [c for c, v in zip(cols, first) if v < 0]
    return plus, minus


def concor(matrix, depth: int = 2, max_iter: int = 100, tol: float = 1e-6, min_split: int = 3) -> list[int]:
    """CONCOR block of every row/column of a symmetric ``matrix`` (co-occurrence counts).

    CONvergence of iterated CORrelations (Breiger, Boorman & Arabie 1975; Wasserman & Faust 1994,
    9.5): the Pearson correlations between the matrix's columns (for the pair i, j leaving out
    rows i and j, i.e. ignoring the diagonal), then the correlations between the columns of that
    correlation matrix, and so on until every entry is within ``tol`` of +1 or -1 (or ``max_iter``
    iterations: the signs are settled long before); the nodes then split in two by the sign of
    their correlation with the first node (the most frequent word, as rows come in frequency order).
    Each block is split again the same way, from the original matrix's columns for its nodes, down to
    ``depth`` levels: at most ``2 ** depth`` blocks.  A block smaller than ``min_split`` is not
    split (the correlation of two columns always converges to a split, whatever the data), nor is one
    whose nodes all correlate positively.

    Isolates (rows with no co-occurrence at all) have no correlation with anything: they form a
    block of their own, labelled :data:`ISOLATE_BLOCK` (0).  The other blocks are numbered 1, 2, ...
    in the order of the splits (the first node's side first), so the labels are deterministic.
    """
    m = np.asarray(matrix, dtype=float).copy()
    n = m.shape[0]
    if m.ndim != 2 or m.shape[1] != n:
        raise ValueError("concor needs a square matrix")
    np.fill_diagonal(m, 0.0)
    linked = [i for i in range(n) if np.any(m[i] != 0) or np.any(m[:, i] != 0)]
    labels = [ISOLATE_BLOCK] * n
    blocks = [linked] if linked else []
    for _ in range(depth):
        nxt = []
        for block in blocks:
            if len(block) < min_split:
                nxt.append(block)
                continue
            plus, minus = _concor_split(m, block, max_iter, tol)
            nxt += [b for b in (plus, minus) if b]
        blocks = nxt
    for number, block in enumerate(blocks, start=1):
        for i in block:
            labels[i] = number
    return labels


# ---------------------------------------------------------------- networks per phase

def _network(documents: Documents, scope: Scope, doc_tokens, top_n: int, weight: str, unit: str,
             min_count: int, min_weight: float, top_k: int | None, max_edges: int | None,
             concor_depth: int) -> PhaseNetwork:
    count, _ = scope_counts(doc_tokens, scope.doc_index)
    terms = top_terms(count, top_n)
    contexts = _contexts(documents, scope, unit)
    counts, df = cooccurrence(contexts, terms)
    npmi = npmi_matrix(counts, df, len(contexts))
    pairs = [(a, b) for a in range(len(terms)) for b in range(a + 1, len(terms)) if counts[a, b] > 0]
    edges = pd.DataFrame({"source": [terms[a] for a, _ in pairs], "target": [terms[b] for _, b in pairs],
                          "count": [int(counts[a, b]) for a, b in pairs],
                          "npmi": [round(float(npmi[a, b]), 6) for a, b in pairs]},
                         columns=["source", "target", "count", "npmi"])
    edges["weight"] = edges["count"].astype(float) if weight == "count" else edges["npmi"].astype(float)
    edges = prune_edges(edges, min_count, min_weight, top_k, max_edges)[EDGE_COLUMNS]
    blocks = concor(counts, depth=concor_depth)
    graph = nx.Graph()
    for t in terms:
        graph.add_node(t)
    for s, t, w, c, p in edges.itertuples(index=False):
        graph.add_edge(s, t, weight=float(w), count=int(c), npmi=float(p))
    cent = centralities(graph)
    nodes = pd.DataFrame({"term": terms, "frequency": [int(count[t]) for t in terms]})
    nodes = nodes.join(cent, on="term")
    nodes["concor_block"] = blocks
    nodes = nodes[NODE_COLUMNS].astype({"frequency": "int64", "concor_block": "int64"})
    for row in nodes.itertuples(index=False):
        graph.nodes[row.term].update(
            label=row.term, frequency=int(row.frequency), degree=float(row.degree),
            weighted_degree=float(row.weighted_degree), betweenness=float(row.betweenness),
            eigenvector=float(row.eigenvector), concor_block=int(row.concor_block))
    matrix = pd.DataFrame(counts, index=terms, columns=terms)
    settings = {"unit": unit, "weight": weight, "top_n": top_n, "min_count": min_count, "min_weight": min_weight,
                "top_k": top_k, "max_edges": max_edges, "concor_depth": concor_depth}
    return PhaseNetwork(phase=scope.n, start=scope.start, end=scope.end, label=scope.label, graph=graph,
                        nodes=nodes, edges=edges, matrix=matrix, n_contexts=len(contexts), settings=settings)


def build_phase_networks(documents: Documents, phases_entry: dict, top_n: int = 50, weight: str = "count",
                         unit: str = "document", min_count: int = 2, min_weight: float = 0.0,
                         top_k: int | None = None, max_edges: int | None = None,
                         concor_depth: int = 2) -> list[PhaseNetwork]:
    """One co-occurrence network per phase of ``phases_entry`` (a ``phases.json`` entry).

    ``max_edges`` None means ``3 * top_n``; pass 0 or a negative number for no cap.
    See the module docstring for every definition and default.
    """
    if weight not in WEIGHTS:
        raise ValueError(f"weight must be one of {', '.join(WEIGHTS)}, not {weight!r}")
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {', '.join(UNITS)}, not {unit!r}")
    if top_n < 2:
        raise ValueError("top_n must be at least 2")
    if min_weight < 0:
        raise ValueError("min_weight must be at least 0 (shortest paths use 1 / weight)")
    if max_edges is None:
        max_edges = 3 * top_n
    cap = max_edges if max_edges > 0 else None
    doc_tokens = documents.doc_tokens()
    return [_network(documents, scope, doc_tokens, top_n, weight, unit, min_count, min_weight, top_k, cap,
                     concor_depth)
            for scope in phase_scopes(documents, phases_entry)]


def nodes_long_table(networks: Sequence[PhaseNetwork]) -> pd.DataFrame:
    """Every phase's node table in one (``phase``, ``scope``, ``start``, ``end`` first): for a CSV."""
    frames = [n.nodes.assign(phase=n.phase, scope=n.name, start=n.start, end=n.end) for n in networks if len(n.nodes)]
    cols = ["phase", "scope", "start", "end", *NODE_COLUMNS]
    return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)


def edges_long_table(networks: Sequence[PhaseNetwork]) -> pd.DataFrame:
    """Every phase's edge table in one (``phase``, ``scope`` first): for a CSV."""
    frames = [n.edges.assign(phase=n.phase, scope=n.name) for n in networks if len(n.edges)]
    cols = ["phase", "scope", *EDGE_COLUMNS]
    return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)


# ---------------------------------------------------------------- writers

def gexf_name(network: PhaseNetwork) -> str:
    """``phase1_2015-2017.gexf`` (path-safe)."""
    return re.sub(r"[^\w.-]+", "_", network.name) + ".gexf"


def write_gexf(network: PhaseNetwork, path: str | Path) -> Path:
    """The network as GEXF 1.2 for Gephi (UTF-8, Korean labels as they are): node attributes
    frequency, degree, weighted_degree, betweenness, eigenvector, concor_block; edge weight (and
    count, npmi).  No modification date is written, so the same network gives the same bytes."""
    from networkx.readwrite.gexf import GEXFWriter

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = GEXFWriter(encoding="utf-8", prettyprint=True, version="1.2draft")
    meta = writer.xml.find("meta")
    if meta is not None:
        meta.attrib.pop("lastmodifieddate", None)
    writer.add_graph(network.graph)
    with open(path, "wb") as fh:
        writer.write(fh)
    return path


_SHEET_BAD = re.compile(r"[\[\]:*?/\\']")


def sheet_name(text: str, taken: set[str]) -> str:
    """An Excel sheet name: no ``[]:*?/\\'``, at most 31 characters, unique (case-insensitive)."""
    base = _SHEET_BAD.sub("_", text).strip() or "sheet"
    name = base[:31]
    i = 2
    while name.lower() in taken:
        suffix = f" ({i})"
        name = base[:31 - len(suffix)] + suffix
        i += 1
    taken.add(name.lower())
    return name


def write_network_xlsx(networks: Sequence[PhaseNetwork], path: str | Path) -> Path:
    """``networks.xlsx`` for NetMiner / UCINET users: a ``시기 개요`` sheet (one row per phase),
    then per phase its co-occurrence matrix (``<N>기 <start>-<end> 동시출현``: terms × terms
    counts, diagonal 0, first column 단어) and its centrality table (``<N>기 <start>-<end> 중심성``,
    Korean headers).  Written by :func:`textmine.outputs.xlsx.write_workbook`: no cell is a formula."""
    taken: set[str] = set()
    overview = pd.DataFrame([{
        "시기": n.phase, "시작": n.start, "끝": n.end, "레이블": n.label, "맥락 수": n.n_contexts,
        "단어 수": n.graph.number_of_nodes(), "연결선 수": n.graph.number_of_edges(), "밀도": round(n.density, 6),
        "동시출현 단위": {"document": "문서", "unit": "문장(단위)"}.get(n.settings.get("unit"), n.settings.get("unit")),
        "가중치": {"count": "동시출현 빈도", "npmi": "NPMI"}.get(n.settings.get("weight"), n.settings.get("weight")),
    } for n in networks])
    sheets = [Sheet(sheet_name("시기 개요", taken), overview, fit_rows=XLSX_FIT_ROWS, widest=XLSX_WIDEST)]
    for n in networks:
        prefix = f"{n.phase}기 {n.start}-{n.end}"
        matrix = n.matrix.copy()
        matrix.index.name = "단어"
        sheets.append(Sheet(sheet_name(f"{prefix} 동시출현", taken), matrix, index=True))
        sheets.append(Sheet(sheet_name(f"{prefix} 중심성", taken), n.nodes.rename(columns=NODE_HEADERS),
                            fit_rows=XLSX_FIT_ROWS, widest=XLSX_WIDEST))
    return write_workbook(path, sheets)


_BLOCK_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
                  "#bcbd22", "#7f7f7f"]
_ISOLATE_COLOUR = "#c7c7c7"
LAYOUT_SEED = 42


def layout(network: PhaseNetwork, seed: int = LAYOUT_SEED) -> dict:
    """Node positions: networkx spring layout (energy method) with a fixed seed, weights scaled to at most 1."""
    graph = nx.Graph()
    graph.add_nodes_from(network.graph.nodes)
    top = max((d["weight"] for _, _, d in network.graph.edges(data=True)), default=1.0) or 1.0
    for u, v, d in network.graph.edges(data=True):
        graph.add_edge(u, v, w=d["weight"] / top)
    k = 2.0 / math.sqrt(max(len(graph), 1))
    # The energy method with gravity keeps disconnected parts (and isolated words) near the centre
    # instead of pushing them to the corners, as Fruchterman-Reingold does.
    return nx.spring_layout(graph, weight="w", seed=seed, k=k, iterations=200, method="energy", gravity=1.0)


def plot_network(network: PhaseNetwork, title: str):
    """The network as a matplotlib Figure (no pyplot) in the bundled Korean font: node size by
    frequency, colour by CONCOR block (grey: words with no co-occurrence), edge width by weight,
    a seeded spring layout (the same network is drawn the same way)."""
    from matplotlib import patheffects
    from matplotlib.figure import Figure

    from textmine.outputs import charts

    with charts.korean_style():
        pos = layout(network)
        fig = Figure(figsize=(10, 8.5), layout="constrained")
        ax = fig.subplots()
        nodes = network.nodes.set_index("term")
        top_f = max(int(nodes["frequency"].max()), 1) if len(nodes) else 1
        top_w = max((d["weight"] for _, _, d in network.graph.edges(data=True)), default=1.0) or 1.0
        for u, v, d in sorted(network.graph.edges(data=True), key=lambda e: e[2]["weight"]):
            (x0, y0), (x1, y1) = pos[u], pos[v]
            ax.plot([x0, x1], [y0, y1], color="#8a8a8a", alpha=0.25 + 0.45 * d["weight"] / top_w,
                    lw=0.4 + 3.0 * d["weight"] / top_w, zorder=1, solid_capstyle="round")
        blocks = sorted(set(nodes["concor_block"])) if len(nodes) else []
        for b in blocks:
            members = nodes[nodes["concor_block"] == b]
            colour = _ISOLATE_COLOUR if b == ISOLATE_BLOCK else _BLOCK_COLOURS[(b - 1) % len(_BLOCK_COLOURS)]
            xy = np.array([pos[t] for t in members.index])
            # marker area by the square root of the frequency: rare words stay visible beside the top one
            ax.scatter(xy[:, 0], xy[:, 1], s=150 + 1350 * np.sqrt(members["frequency"].to_numpy() / top_f), color=colour,
                       alpha=0.85, edgecolors="white", linewidths=0.8, zorder=2,
                       label="단어 간 동시출현 없음" if b == ISOLATE_BLOCK else f"CONCOR 블록 {b}")
        for term, (x, y) in pos.items():
            ax.text(x, y, term, ha="center", va="center", fontsize=9, zorder=3, parse_math=False,
                    path_effects=[patheffects.withStroke(linewidth=2.5, foreground="white")])
        ax.set_title(title)
        ax.set_axis_off()
        ax.margins(0.08)
        if blocks:
            legend = ax.legend(loc="lower left", fontsize=8, frameon=False)
            for handle in legend.legend_handles:
                handle.set_sizes([60])
        ax.text(1.0, 0.0, f"단어 {network.graph.number_of_nodes()}개 · 연결선 {network.graph.number_of_edges()}개"
                f" · 밀도 {network.density:.3f}", transform=ax.transAxes, ha="right", va="bottom", fontsize=8,
                color="#555555")
    return fig


# ---------------------------------------------------------------- report section

def report_context(nodes: pd.DataFrame | None, edges: pd.DataFrame | None, phases: dict | None = None,
                   settings: dict | None = None, images: dict[str, str | None] | None = None,
                   files: dict[str, str] | None = None, xlsx: str | None = None, top: int = 15) -> dict | None:
    """What ``templates/networks.html.j2`` shows, from :func:`nodes_long_table` /
    :func:`edges_long_table` (as written to CSV and read back): per phase the network's size, its
    chart (``images``: scope -> ``data:`` URI), its ``top`` words by degree (then weighted degree,
    frequency) with their centralities, and its CONCOR blocks; ``files``: scope -> GEXF path
    relative to the run folder; ``settings``: :attr:`PhaseNetwork.settings`.  None when there is no
    table."""
    if nodes is None or nodes.empty:
        return None
    images, files, settings = images or {}, files or {}, dict(settings or {})
    labels = {phase_scope_name(i, p["start"], p["end"]): str(p.get("label", ""))
              for i, p in enumerate((phases or {}).get("phases", []), start=1)}
    out = []
    for scope in dict.fromkeys(nodes["scope"]):
        rows = nodes[nodes["scope"] == scope]
        n_edges = int((edges["scope"] == scope).sum()) if edges is not None and "scope" in edges else 0
        n_nodes = len(rows)
        ranked = rows.sort_values(["degree", "weighted_degree", "frequency", "term"],
                                  ascending=[False, False, False, True], kind="mergesort").head(top)
        blocks = []
        for b in sorted(set(int(v) for v in rows["concor_block"])):
            members = rows[rows["concor_block"] == b].sort_values(["frequency", "term"], ascending=[False, True])
            blocks.append({"block": b, "isolates": b == ISOLATE_BLOCK, "size": len(members),
                           "terms": ", ".join(map(str, members["term"]))})
        first = rows.iloc[0]
        out.append({
            "n": int(first["phase"]), "scope": str(scope), "start": _plain(first["start"]), "end": _plain(first["end"]),
            "label": labels.get(str(scope), ""), "nodes": n_nodes, "edges": n_edges,
            "density": round(2 * n_edges / (n_nodes * (n_nodes - 1)), 4) if n_nodes > 1 else 0.0,
            "image": images.get(str(scope)), "gexf": files.get(str(scope)),
            "centrality": [{**{k: _plain(v) for k, v in r.items()}, "frequency": int(r["frequency"]),
                            "concor_block": int(r["concor_block"])} for r in ranked[NODE_COLUMNS].to_dict("records")],
            "blocks": blocks,
        })
    top_n = settings.get("top_n") or max(p["nodes"] for p in out)
    return {"unit": settings.get("unit", "document"), "weight": settings.get("weight", "count"),
            "top_n": top_n, "min_count": settings.get("min_count"), "min_weight": settings.get("min_weight"),
            "max_edges": settings.get("max_edges"), "top_k": settings.get("top_k"),
            "concor_depth": settings.get("concor_depth", 2), "xlsx": xlsx, "phases": out}


def _plain(value):
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


# ---------------------------------------------------------------- the analysis (textmine.analysis.analysis)

def network_settings(settings) -> dict:
    """:func:`build_phase_networks`' keyword arguments from the ``[report]`` settings."""
    return {"top_n": settings.network_top_n, "weight": settings.network_weight, "unit": settings.network_unit,
            "min_count": settings.network_min_count, "top_k": settings.network_top_k or None,
            "max_edges": settings.network_max_edges or None, "concor_depth": settings.network_concor_depth}


def network_chart_name(phase: int) -> str:
    return f"network_phase{int(phase)}.png"


def network_from_tables(nodes: pd.DataFrame, edges: pd.DataFrame | None, settings: dict | None = None) -> PhaseNetwork:
    """One phase's :class:`PhaseNetwork` rebuilt from its rows of ``networks/nodes.csv`` and ``edges.csv``
    (nodes and edges in the written order, so the seeded layout draws the same picture)."""
    first = nodes.iloc[0]
    graph = nx.Graph()
    table = nodes[NODE_COLUMNS].reset_index(drop=True)
    for r in table.to_dict("records"):
        graph.add_node(r["term"], label=r["term"], **{k: v for k, v in r.items() if k != "term"})
    rows = edges[EDGE_COLUMNS] if edges is not None and len(edges) else pd.DataFrame(columns=EDGE_COLUMNS)
    for s, t, w, c, p in rows.itertuples(index=False):
        graph.add_edge(s, t, weight=float(w), count=int(c), npmi=float(p))
    return PhaseNetwork(phase=int(first["phase"]), start=first["start"], end=first["end"], label="",
                        graph=graph, nodes=table, edges=rows.reset_index(drop=True), matrix=pd.DataFrame(),
                        n_contexts=0, settings=dict(settings or {}))


def draw_network(nodes: pd.DataFrame, edges: pd.DataFrame | None, settings: dict, title: str):
    return plot_network(network_from_tables(nodes, edges, settings), title)


class Networks(Analysis):
    """A word co-occurrence network per consensus phase (``report.networks``): GEXF, ``networks.xlsx``,
    ``nodes.csv``, ``edges.csv``, a chart per phase, and the report's 의미연결망 section."""

    name = "networks"
    anchor = "networks"
    template = "networks.html.j2"

    def enabled(self, config) -> bool:
        return config.report.networks

    def write(self, run, documents, phases, outputs, config) -> Written | None:
        consensus = consensus_of(phases)
        if not consensus:
            return None
        nets = build_phase_networks(documents, consensus, **network_settings(config.report))
        written = []
        entries = []
        for net in nets:
            name = f"{NETWORKS}/{gexf_name(net)}"
            write_gexf(net, run.file(name))
            written.append(name)
            entries.append({"phase": net.phase, "scope": net.name, "gexf": name, "nodes": net.graph.number_of_nodes(),
                            "edges": net.graph.number_of_edges(), "contexts": net.n_contexts})
        write_network_xlsx(nets, run.file(NETWORK_XLSX))
        run.write_csv(NODES, nodes_long_table(nets))
        run.write_csv(EDGES, edges_long_table(nets))
        written += [NETWORK_XLSX, NODES, EDGES]
        used = nets[0].settings if nets else {**network_settings(config.report), "min_weight": 0.0}
        return Written(written, {"settings": used, "phases": entries, "xlsx": NETWORK_XLSX})

    def load(self, run: Path) -> dict:
        return {"nodes": read_table(run, NODES, term=str, scope=str),
                "edges": read_table(run, EDGES, source=str, target=str, scope=str)}

    def charts(self, data, display) -> dict[str, tuple]:
        nodes, edges = data.get("nodes"), data.get("edges")
        if nodes is None or not len(nodes):
            return {}
        settings = (settings_of(data).get("networks") or {}).get("settings") or {}
        specs = {}
        for scope in dict.fromkeys(nodes["scope"]):
            rows = nodes[nodes["scope"] == scope].reset_index(drop=True)
            links = edges[edges["scope"] == scope].reset_index(drop=True) if edges is not None else None
            first = rows.iloc[0]
            title = f"{int(first['phase'])}기 {first['start']}–{first['end']} 의미연결망"
            specs[network_chart_name(first["phase"])] = (draw_network, rows, links, settings, title)
        return specs

    def context(self, data, image, display) -> dict:
        nodes = data.get("nodes")
        if nodes is None or not len(nodes):
            return {"networks": None}
        net = settings_of(data).get("networks") or {}
        images = {}
        for scope in dict.fromkeys(nodes["scope"]):
            images[scope] = image(network_chart_name(nodes.loc[nodes["scope"] == scope, "phase"].iloc[0]))
        files = {p["scope"]: p["gexf"] for p in net.get("phases", [])}
        return {"networks": report_context(nodes, data.get("edges"), consensus_of(data.get("phases") or {}),
                                           net.get("settings"), images, files, net.get("xlsx"))}
