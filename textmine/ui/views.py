"""What the workspace's pages show, as plain data (lists and dicts) for the templates and the scripts.

Built from a loaded run (:meth:`textmine.ui.runs.RunStore.load`, labels applied) and, for the
opinions, :class:`textmine.ui.queries.Opinions`.  The topic terms use LDAvis' relevance
(Sievert & Shirley 2014): relevance(w | t, λ) = λ·log p(w|t) + (1−λ)·log(p(w|t) / p(w)); the page
gets each candidate term's two logarithms and re-ranks them in the browser as λ moves.  The
comparison of two runs is :mod:`textmine.analysis.identity`'s matching, the one ``--previous`` uses.
"""
from __future__ import annotations

import math
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pandas as pd

from textmine.analysis.identity import DEFAULT_THRESHOLD, identify, load_previous_topics
from textmine.report import narrative as narrative_mod
from textmine.ui.runs import PageError, _display, global_topics, plain

SHOWN_TERMS = 30          # terms listed on a topic page (LDAvis shows 30)
LAMBDA_STEPS = 11         # λ = 0, 0.1, ..., 1: the candidates are the top terms at each of them
# Topic-word matrices kept in memory (one per run and model; 50 topics × 50,000 words is 20 MB).
CACHED_MATRICES = 4

_matrices: OrderedDict = OrderedDict()
_matrices_lock = threading.Lock()


def period_column(frame: pd.DataFrame) -> str:
    return "period" if "period" in frame.columns else "year"


def _phase_list(entry: dict) -> list[dict]:
    conf = entry.get("boundary_confidence") or {}
    out = []
    for i, p in enumerate(entry.get("phases") or [], 1):
        out.append({"n": i, "start": plain(p.get("start")), "end": plain(p.get("end")), "label": p.get("label", ""),
                    "confidence": plain(p.get("confidence", conf.get(str(p.get("start"))))),
                    "topics": [{"topic": int(c["topic"]), "label": c.get("label", "")}
                               for c in p.get("characteristic_topics") or []]})
    return out


def phases_context(data: dict) -> list[dict]:
    """Per model, then the consensus: the phases with their confidence and characteristic topics."""
    out = []
    for key in [*data["models"], "consensus"]:
        entry = (data.get("phases") or {}).get(key)
        if isinstance(entry, dict) and entry.get("phases"):
            out.append({"model": key, "name": "모델 합의" if key == "consensus" else _display(key),
                        "phases": _phase_list(entry), "method": entry.get("method", "")})
    return out


def trajectories_data(data: dict) -> dict:
    """``{model: {name, periods, topics: [{topic, label, share, lo, hi}], phases: [{start, end}]}}`` for the
    run page's chart (one model drawn at a time; switching needs no request)."""
    traj = data.get("trajectories")
    out: dict = {}
    if traj is None or not len(traj):
        return out
    col = period_column(traj)
    for model in data["models"]:
        rows = traj[traj["model"] == model]
        if rows.empty:
            continue
        periods = [str(p) for p in sorted(rows[col].unique(), key=lambda v: (str(type(v)), v))]
        topics = []
        for topic, part in rows.groupby("topic", sort=True):
            by = {str(p): r for p, r in zip(part[col], part.to_dict("records"))}
            topics.append({
                "topic": int(topic), "label": str(part["label"].iloc[0]),
                "share": [plain(by[p]["share"]) if p in by else None for p in periods],
                "lo": [plain(by[p].get("share_lo")) if p in by else None for p in periods],
                "hi": [plain(by[p].get("share_hi")) if p in by else None for p in periods]})
        entry = (data.get("phases") or {}).get(model) or {}
        out[model] = {"name": _display(model), "periods": periods, "topics": topics,
                      "phases": [{"start": str(p.get("start")), "end": str(p.get("end"))}
                                 for p in entry.get("phases") or []]}
    return out


def topics_table(data: dict, model: str) -> list[dict]:
    rows = global_topics(data, model)
    return [{"topic": int(r["topic"]), "label": r.get("label", ""), "top_terms": r.get("top_terms", ""),
             "size": plain(r.get("size")), "identity": r.get("identity")} for r in rows.to_dict("records")]


def narrative(data: dict) -> list[dict]:
    traj = data.get("trajectories")
    if traj is None:
        return []
    if "period" not in traj and "year" in traj:
        traj = traj.assign(period=traj["year"])
    models = data["models"]
    return narrative_mod.narrative_context(data["phases"], traj, models,
                                           boundaries="consensus" if len(models) > 1 else None, display=_display)


# ---------------------------------------------------------------- a topic

def topic_row(data: dict, model: str, topic: int) -> dict:
    if model not in data["models"]:
        raise PageError(404, f"이 실행에는 모델 '{model}'이(가) 없습니다.",
                        f"다음 중 하나를 고르세요: {', '.join(data['models'])}")
    rows = global_topics(data, model)
    hit = rows[rows["topic"] == topic]
    if hit.empty:
        if topic == -1 and ((data["trajectories"]["model"] == model) & (data["trajectories"]["topic"] == -1)).any():
            return {"topic": -1, "label": "이상치", "top_terms": "", "size": None}
        raise PageError(404, f"{_display(model)}에는 토픽 {topic}이(가) 없습니다.", "실행 페이지의 토픽 목록에서 고르세요.")
    return {k: plain(v) for k, v in hit.iloc[0].to_dict().items()}


def _topic_word(folder: Path, model: str):
    key = (str(folder), model, (folder / "topics.csv").stat().st_mtime)
    with _matrices_lock:
        if key in _matrices:
            _matrices.move_to_end(key)
            return _matrices[key]
    try:
        found = load_previous_topics(folder, model)
    except Exception:  # an older or damaged folder: the page lists the top terms instead
        found = None
    with _matrices_lock:
        _matrices[key] = found
        while len(_matrices) > CACHED_MATRICES:
            _matrices.popitem(last=False)
    return found


def relevance_terms(folder: Path, data: dict, model: str, topic: int) -> dict | None:
    """The candidate terms of ``topic`` with log p(w|t) and log lift, for the λ slider; None when the run has
    no topic-word weights for it."""
    found = _topic_word(folder, model)
    if found is None or topic not in found.topic_ids:
        return None
    tw = np.asarray(found.topic_word, dtype=float)
    sums = tw.sum(axis=1, keepdims=True)
    tw = tw / np.where(sums > 0, sums, 1)
    sizes = global_topics(data, model).set_index("topic").get("size")
    weights = np.array([float(sizes.get(t, 1.0)) if sizes is not None else 1.0 for t in found.topic_ids])
    weights = np.where(np.isfinite(weights) & (weights > 0), weights, 1.0)
    marginal = (weights / weights.sum()) @ tw
    row = tw[found.topic_ids.index(topic)]
    usable = row > 0
    logp = np.log(np.where(usable, row, 1.0))
    lift = logp - np.log(np.where(marginal > 0, marginal, 1.0))
    candidates: set[int] = set()
    for lam in np.linspace(0, 1, LAMBDA_STEPS):
        score = np.where(usable, lam * logp + (1 - lam) * lift, -np.inf)
        candidates.update(int(i) for i in np.argsort(-score, kind="stable")[:SHOWN_TERMS] if usable[i])
    terms = [{"term": found.vocabulary[i], "logp": round(float(logp[i]), 5), "lift": round(float(lift[i]), 5),
              "p": round(float(row[i]), 6)} for i in sorted(candidates)]
    return {"terms": terms, "shown": SHOWN_TERMS, "source": found.source,
            "partial": found.top_n is not None}


def share_series(data: dict, model: str, topic: int) -> dict:
    traj = data["trajectories"]
    rows = traj[(traj["model"] == model) & (traj["topic"] == topic)]
    col = period_column(traj)
    rows = rows.sort_values(col)
    entry = (data.get("phases") or {}).get(model) or {}
    return {"periods": [str(p) for p in rows[col]], "share": [plain(v) for v in rows["share"]],
            "lo": [plain(v) for v in rows.get("share_lo", pd.Series([None] * len(rows)))],
            "hi": [plain(v) for v in rows.get("share_hi", pd.Series([None] * len(rows)))],
            "phases": [{"start": str(p.get("start")), "end": str(p.get("end"))} for p in entry.get("phases") or []]}


def words_per_period(data: dict, model: str, topic: int) -> list[dict]:
    table = data.get("over_time")
    if table is None or not len(table):
        return []
    rows = table[(table["model"] == model) & (table["topic"] == topic)]
    return [{"period": plain(r["period"]), "words": r.get("words", ""), "frequency": plain(r.get("frequency"))}
            for r in rows.to_dict("records")]


def lineage_chain(data: dict, model: str, topic: int) -> list[dict]:
    """The per-period topics matched to this global topic (``topics.csv``'s ``global_topic``), oldest first,
    with how each one continues into the next period (``lineage.csv``)."""
    topics = data.get("topics")
    if topics is None or "global_topic" not in topics:
        return []
    rows = topics[(topics["model"] == model) & (topics["scope"].astype(str) != "global")
                  & (pd.to_numeric(topics["global_topic"], errors="coerce") == topic)]
    lineage = data.get("lineage")
    kinds = {"continue": "이어짐", "split": "분화", "merge": "통합", "birth": "등장", "death": "소멸"}
    out = []
    for r in rows.sort_values(["scope", "topic"]).to_dict("records"):
        nxt = []
        if lineage is not None and len(lineage):
            links = lineage[(lineage["model"] == model) & (lineage["from_year"].astype(str) == str(r["scope"]))
                            & (pd.to_numeric(lineage["from_topic"], errors="coerce") == r["topic"])]
            nxt = [{"year": plain(l["to_year"]), "topic": plain(l["to_topic"]), "label": l.get("to_label", ""),
                    "kind": kinds.get(l.get("kind"), l.get("kind")), "similarity": plain(l.get("similarity"))}
                   for l in links.to_dict("records")]
        out.append({"period": r["scope"], "topic": int(r["topic"]), "label": r.get("label", ""),
                    "similarity": plain(r.get("global_similarity")), "next": nxt})
    return out


def breakdowns(data: dict, model: str, topic: int) -> list[dict]:
    table = data.get("breakdowns")
    if table is None or not len(table):
        return []
    rows = table[(table["model"] == model) & (table["topic"] == topic) & table["phase"].isna()]
    out = []
    for column, part in rows.groupby("column", sort=False):
        values = [{"value": r["value"], "share": plain(r["share"]), "low": plain(r.get("low")),
                   "high": plain(r.get("high")), "n_docs": plain(r.get("n_docs"))} for r in part.to_dict("records")]
        top = max([v["high"] or v["share"] or 0 for v in values] + [1e-9])
        out.append({"column": column, "values": values, "scale": top})
    return out


def topic_words(row: dict, relevance: dict | None) -> list[str]:
    """The words highlighted in the topic's opinions: its top terms."""
    words = [w.strip() for w in str(row.get("top_terms") or "").split(",") if w.strip()]
    if not words and relevance:
        words = [t["term"] for t in sorted(relevance["terms"], key=lambda t: -t["logp"])[:10]]
    return words


# ---------------------------------------------------------------- two runs

def compare(store, a: str, b: str) -> dict:
    """Run ``b`` against the earlier run ``a``: per model both fitted, continuing / new / vanished topics
    (:func:`textmine.analysis.identity.identify`, the matching of ``--previous``), the share change of each
    topic, and both runs' phase boundaries."""
    if a == b:
        raise PageError(400, "같은 실행끼리는 비교할 수 없습니다.", "서로 다른 두 실행을 고르세요.")
    old, new = store.load(a), store.load(b)
    out = {"a": a, "b": b, "models": [], "phases": [], "threshold": DEFAULT_THRESHOLD}
    for key in dict.fromkeys([*old["models"], *new["models"], "consensus"]):
        pa, pb = (old["phases"].get(key) or {}), (new["phases"].get(key) or {})
        out["phases"].append({"model": key, "name": "모델 합의" if key == "consensus" else _display(key),
                              "a": [plain(s) for s in pa.get("phase_starts", [])],
                              "b": [plain(s) for s in pb.get("phase_starts", [])]})
    for model in [m for m in new["models"] if m in old["models"]]:
        prev = load_previous_topics(store.path(a), model)
        cur = load_previous_topics(store.path(b), model)
        if prev is None or cur is None:
            continue
        ident = identify(model, cur.topic_word, cur.vocabulary, prev, DEFAULT_THRESHOLD)
        mean_a, mean_b = _mean_shares(old, model), _mean_shares(new, model)
        label_a = dict(zip(global_topics(old, model)["topic"], global_topics(old, model)["label"]))
        label_b = dict(zip(global_topics(new, model)["topic"], global_topics(new, model)["label"]))
        continuing, born = [], []
        for i, was in ident.mapping.items():
            t = cur.topic_ids[i]
            row = {"topic": t, "label": label_b.get(t, ""), "share_b": mean_b.get(t),
                   "similarity": plain(ident.similarity.get(i))}
            if was is None:
                born.append(row)
            else:
                sa = mean_a.get(was)
                change = None if sa is None or row["share_b"] is None else row["share_b"] - sa
                continuing.append({**row, "previous": was, "previous_label": label_a.get(was, ""),
                                   "share_a": sa, "change": change})
        vanished = [{"topic": v["previous_topic"], "label": label_a.get(v["previous_topic"], v.get("label", "")),
                     "share_a": mean_a.get(v["previous_topic"]), "best": v.get("best_similarity")}
                    for v in ident.vanished]
        continuing.sort(key=lambda r: -abs(r["change"] or 0))
        out["models"].append({"model": model, "name": _display(model), "continuing": continuing, "new": born,
                              "vanished": vanished, "source": f"{prev.source} / {cur.source}"})
    out["only_a"] = [_display(m) for m in old["models"] if m not in new["models"]]
    out["only_b"] = [_display(m) for m in new["models"] if m not in old["models"]]
    return out


def _mean_shares(data: dict, model: str) -> dict[int, float]:
    traj = data["trajectories"]
    rows = traj[traj["model"] == model]
    return {int(t): float(s) for t, s in rows.groupby("topic")["share"].mean().items() if not math.isnan(s)}


# ---------------------------------------------------------------- networks and words

WORDS_SHOWN = 30   # terms per frequency table


def words_context(data: dict, scope: str | None) -> dict:
    """The semantic network of one consensus phase (``networks/nodes.csv``, ``edges.csv``: positions from a
    seeded spring layout, CONCOR blocks as colours) and the phase's or period's word frequencies
    (``word_frequency.csv``).  ``scope`` is a scope of those files ("phase1_2015-2017", "2019"); None: the
    first phase."""
    import networkx as nx

    freq, nodes, edges = data.get("word_frequency"), data.get("nodes"), data.get("edges")
    scopes = []
    if freq is not None and len(freq):
        scopes = [{"scope": s, "kind": k} for s, k in
                  freq[["scope", "scope_kind"]].drop_duplicates().itertuples(index=False)]
        scopes.sort(key=lambda s: (s["kind"] != "phase", s["scope"]))
    elif nodes is not None and len(nodes):
        scopes = [{"scope": s, "kind": "phase"} for s in dict.fromkeys(nodes["scope"])]
    if not scopes:
        return {"scopes": [], "scope": None, "network": None, "by_count": [], "by_tfidf": []}
    if scope is None:
        scope = scopes[0]["scope"]
    if scope not in {s["scope"] for s in scopes}:
        raise PageError(404, f"'{scope}'은(는) 이 실행의 시기나 기간이 아닙니다.", "목록에서 시기나 기간을 고르세요.")
    by_count, by_tfidf = [], []
    if freq is not None and len(freq):
        rows = freq[freq["scope"] == scope]
        by_count = [{"term": r.term, "count": plain(r.count), "doc_freq": plain(r.doc_freq)}
                    for r in rows.sort_values("rank").head(WORDS_SHOWN).itertuples()]
        by_tfidf = [{"term": r.term, "tfidf": plain(r.tfidf)}
                    for r in rows.sort_values("tfidf_rank").head(WORDS_SHOWN).itertuples()]
    network = None
    if nodes is not None and len(nodes) and scope in set(nodes["scope"]):
        part = nodes[nodes["scope"] == scope]
        links = edges[edges["scope"] == scope] if edges is not None else edges
        graph = nx.Graph()
        graph.add_nodes_from(part["term"])
        if links is not None:
            graph.add_weighted_edges_from(links[["source", "target", "weight"]].itertuples(index=False))
        seed = int((data.get("manifest") or {}).get("seed") or 0)
        pos = nx.spring_layout(graph, seed=seed, weight="weight")
        network = {
            "nodes": [{"term": r.term, "x": round(float(pos[r.term][0]), 4), "y": round(float(pos[r.term][1]), 4),
                       "frequency": plain(r.frequency), "block": plain(getattr(r, "concor_block", 0)),
                       "degree": plain(r.weighted_degree)} for r in part.itertuples()],
            "edges": [{"a": [round(float(pos[s][0]), 4), round(float(pos[s][1]), 4)],
                       "b": [round(float(pos[t][0]), 4), round(float(pos[t][1]), 4)], "w": plain(w)}
                      for s, t, w in (links[["source", "target", "weight"]].itertuples(index=False)
                                      if links is not None else [])]}
    return {"scopes": scopes, "scope": scope, "network": network, "by_count": by_count, "by_tfidf": by_tfidf}
