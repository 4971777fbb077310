"""Run folders for the workspace's tests, written in a second from a synthetic corpus (no model fitted).

Each opinion's topic is its planted theme (truth.json's ``doc_topic``); the topic-word weights are
the themes' word counts.  Everything else is the layout ``textmine run`` writes today
(docs/contract.md §3): manifest, phases, topics (global and per year), trajectories with bands,
lineage, breakdowns by 지역, representative opinions, ``doc_topics.parquet``, ``documents.parquet``
and ``models/<model>-global/topic_word.npy`` with its vocabulary.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'
REMOTE = "원격 상담 운영을 확대할 것."   # a phrase the synthetic corpus never writes, for the search test


def read_corpus(corpus: Path) -> tuple[pd.DataFrame, dict]:
    frames = [pd.read_csv(p, encoding="utf-8-sig", dtype={"연번": str}) if p.suffix == ".csv" else pd.read_parquet(p)
              for p in sorted([*corpus.glob("*.csv"), *corpus.glob("*.parquet")])]
    docs = pd.concat(frames, ignore_index=True).rename(columns={"연번": "doc_id", "연도": "year", "평가의견": "text"})
    truth = json.loads((corpus / "truth.json").read_text(encoding="utf-8"))
    docs["theme"] = docs["doc_id"].map(truth["doc_topic"])
    docs = docs.dropna(subset=["theme"]).reset_index(drop=True)
    # a few opinions that mention 원격, one that holds HTML (it must be shown as text)
    for i in docs.index[docs["year"] == 2019][:4]:
        docs.loc[i, "text"] = docs.loc[i, "text"] + " " + REMOTE
    docs.loc[docs.index[docs["year"] == 2020][0], "text"] = EVIL + " 진로 상담"
    return docs, truth


def write_run(folder: Path, docs: pd.DataFrame, truth: dict, *, run_id: str, themes: list[str], merged: dict,
              models=("lda", "bertopic"), started="2026-03-01T06:00:00+00:00", started_by="cli") -> Path:
    """A finished run folder whose topics are ``themes`` (in this order: topic id = position); the opinions of
    a theme not listed go to the theme ``merged`` names for it."""
    folder.mkdir(parents=True)
    theme_id = {t: i for i, t in enumerate(themes)}
    docs = docs.assign(topic=docs["theme"].map(lambda t: theme_id[merged.get(t, t)]).astype(int))
    years = sorted(int(y) for y in docs["year"].unique())
    meta = ["대학명", "지역", "평가위원", "평가영역"]

    words = [str(t).split() for t in docs["text"]]
    vocab = sorted({w for ws in words for w in ws})
    pos = {w: i for i, w in enumerate(vocab)}
    counts = np.zeros((len(themes), len(vocab)))
    for t, ws in zip(docs["topic"], words):
        for w, n in Counter(ws).items():
            counts[t, pos[w]] += n
    smooth = (counts + 0.01) / (counts + 0.01).sum(axis=1, keepdims=True)
    distinct = smooth * np.log(smooth / smooth.mean(axis=0))
    # each topic keeps its 40 most distinctive words (as a fitted model's mass concentrates): words every
    # theme shares would make all topics look alike to the identity matching
    keep = np.zeros_like(smooth, dtype=bool)
    np.put_along_axis(keep, np.argsort(-distinct, axis=1, kind="stable")[:, :40], True, axis=1)
    topic_word = np.where(keep, smooth, 0.0)
    topic_word /= topic_word.sum(axis=1, keepdims=True)

    topics, trajectories, lineage, reps, breakdowns, doc_topics = [], [], [], [], [], []
    for model in models:
        labels = {}
        for t in range(len(themes)):
            top = [vocab[i] for i in np.argsort(-distinct[t], kind="stable")[:10]]
            labels[t] = "·".join(top[:3])
            weights = "; ".join(f"{vocab[i]}:{topic_word[t, i]:.4f}" for i in np.argsort(-topic_word[t], kind="stable")[:10])
            topics.append({"model": model, "scope": "global", "topic": t, "label": labels[t], "top_terms": ", ".join(top),
                           "term_weights": weights, "relevant_terms": ", ".join(top), "size": int((docs["topic"] == t).sum()),
                           "global_topic": None, "global_similarity": None})
            for y in years:
                if ((docs["year"] == y) & (docs["topic"] == t)).any():
                    topics.append({"model": model, "scope": str(y), "topic": t, "label": labels[t],
                                   "top_terms": ", ".join(top), "term_weights": weights, "relevant_terms": ", ".join(top),
                                   "size": int(((docs["year"] == y) & (docs["topic"] == t)).sum()),
                                   "global_topic": t, "global_similarity": 0.9})
        for y in years:
            of_year = docs[docs["year"] == y]
            for t in range(len(themes)):
                share = float((of_year["topic"] == t).mean())
                trajectories.append({"model": model, "topic": t, "label": labels[t], "year": y, "period": y, "share": share,
                                     "share_lo": max(0.0, share - 0.03), "share_hi": min(1.0, share + 0.03),
                                     "n_docs": len(of_year)})
        for y in years[:-1]:
            for t in range(len(themes)):
                lineage.append({"model": model, "from_year": y, "from_topic": t, "to_year": y + 1, "to_topic": t,
                                "similarity": 0.9, "kind": "continue", "from_label": labels[t], "to_label": labels[t],
                                "from_share": 0.1, "to_share": 0.1, "chain": t, "chain_label": labels[t]})
        for t in range(len(themes)):
            best = docs[docs["topic"] == t].head(2)
            reps += [{"model": model, "topic": t, "label": labels[t], "doc_id": r.doc_id, "year": r.year,
                      "probability": 0.9, "text": r.text} for r in best.itertuples()]
            for region, part in docs.groupby("지역"):
                share = float((part["topic"] == t).mean())
                breakdowns.append({"model": model, "column": "지역", "value": region, "phase": None, "topic": t,
                                   "label": labels[t], "share": share, "low": max(0.0, share - 0.05),
                                   "high": share + 0.05, "n_docs": len(part), "plotted": True})
        second = (docs["topic"] + 1) % len(themes)
        for dominant in (True, False):
            doc_topics.append(pd.DataFrame({
                "doc_id": docs["doc_id"], "year": docs["year"], "model": model,
                "topic": docs["topic"] if dominant else second,
                "probability": (0.8 if dominant else 0.2) - (docs.index % 7) * 0.01, "is_dominant": dominant,
                "period": docs["year"], **{c: docs[c] for c in meta}}))
        target = folder / "models" / f"{model}-global"
        target.mkdir(parents=True)
        np.save(target / "topic_word.npy", topic_word)
        (target / "textmine.json").write_text(json.dumps({"vocabulary": vocab}, ensure_ascii=False), encoding="utf-8")

    def phase_entry():
        starts = truth["phase_starts"]
        ends = [s - 1 for s in starts[1:]] + [years[-1]]
        return {"phases": [{"start": s, "end": e, "label": p["name"], "top_terms": [], "confidence": 0.9,
                            "characteristic_topics": [{"topic": theme_id[k], "label": "", "share_inside": 0.3,
                                                       "share_outside": 0.1} for k in p["topics"] if k in theme_id]}
                           for s, e, p in zip(starts, ends, truth["phases"])],
                "phase_starts": starts, "method": "optimal segmentation (dynamic programming)", "periods": years}

    phases = {m: phase_entry() for m in models}
    phases["consensus"] = {k: v for k, v in phase_entry().items()}
    manifest = {"run_id": run_id, "started": started, "finished": started, "started_by": started_by,
                "corpus": {"path": "/data/synthetic", "metadata_columns": meta}, "seed": 7,
                "config": {"align": {"time_unit": "year"}}, "models": {m: m for m in models},
                "documents": {"modelled": len(docs)},
                "documents_per_year": {str(y): int((docs["year"] == y).sum()) for y in years},
                "analyses": {"metadata_columns": meta, "breakdowns": {"columns": ["지역"], "min_docs": 10}}}
    for name, value in (("manifest.json", manifest), ("phases.json", phases),
                        ("evaluation.json", {"models": {m: {"num_topics": len(themes)} for m in models}})):
        (folder / name).write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
    for name, rows in (("topics.csv", topics), ("trajectories.csv", trajectories), ("lineage.csv", lineage),
                       ("representative_docs.csv", reps), ("breakdowns.csv", breakdowns)):
        pd.DataFrame(rows).to_csv(folder / name, index=False, encoding="utf-8-sig")
    pd.concat(doc_topics, ignore_index=True).to_parquet(folder / "doc_topics.parquet", index=False)
    docs[["doc_id", "year"]].assign(period=docs["year"], **{c: docs[c] for c in meta}, text=docs["text"]) \
        .to_parquet(folder / "documents.parquet", index=False)
    return folder


def write_words(folder: Path, docs: pd.DataFrame, truth: dict, top: int = 12) -> None:
    """``word_frequency.csv`` (per period and per phase) and ``networks/nodes.csv``, ``edges.csv`` (per phase:
    the most frequent words, linked when they share an opinion), as the analyses stage writes them."""
    starts = truth["phase_starts"]
    ends = [s - 1 for s in starts[1:]] + [int(docs["year"].max())]
    freq, nodes, edges = [], [], []
    scopes = [("period", str(y), docs[docs["year"] == y]) for y in sorted(docs["year"].unique())]
    scopes += [("phase", f"phase{i}_{s}-{e}", docs[docs["year"].between(s, e)])
               for i, (s, e) in enumerate(zip(starts, ends), 1)]
    for kind, scope, part in scopes:
        words = [set(str(t).split()) for t in part["text"]]
        counts = Counter(w for t in part["text"] for w in str(t).split())
        df = Counter(w for ws in words for w in ws)
        ranked = [w for w, _ in counts.most_common(30)]
        by_idf = sorted(ranked, key=lambda w: (-counts[w] * np.log(len(part) / df[w]), w))
        freq += [{"scope_kind": kind, "scope": scope, "term": w, "count": counts[w], "doc_freq": df[w],
                  "n_docs": len(part), "tfidf": counts[w] * np.log(len(part) / df[w]), "rank": i,
                  "tfidf_rank": by_idf.index(w) + 1} for i, w in enumerate(ranked, 1)]
        if kind == "phase":
            phase, (start, end) = int(scope[5]), scope.split("_")[1].split("-")
            kept = ranked[:top]
            nodes += [{"phase": phase, "scope": scope, "start": int(start), "end": int(end), "term": w,
                       "frequency": counts[w], "degree": 0.5, "weighted_degree": 1.0, "betweenness": 0.0,
                       "eigenvector": 0.1, "concor_block": i % 2 + 1} for i, w in enumerate(kept)]
            pairs = Counter((a, b) for ws in words for a in kept for b in kept if a < b and a in ws and b in ws)
            edges += [{"phase": phase, "scope": scope, "source": a, "target": b, "weight": n / len(part), "count": n,
                       "npmi": 0.1} for (a, b), n in pairs.most_common(30)]
    pd.DataFrame(freq).to_csv(folder / "word_frequency.csv", index=False, encoding="utf-8-sig")
    (folder / "networks").mkdir()
    pd.DataFrame(nodes).to_csv(folder / "networks" / "nodes.csv", index=False, encoding="utf-8-sig")
    pd.DataFrame(edges).to_csv(folder / "networks" / "edges.csv", index=False, encoding="utf-8-sig")


def write_runs(root: Path, corpus: Path) -> tuple[str, str]:
    """Two runs of one corpus: the later one numbers its topics in reverse, has lost one theme (merged
    into another) and gained one; returns (earlier id, later id)."""
    docs, truth = read_corpus(corpus)
    themes = sorted(truth["topics"])
    first, second = "run-20250301-060000-aaaaaa", "run-20260301-060000-bbbbbb"
    write_run(root / first, docs, truth, run_id=first, themes=themes[:-1], merged={themes[-1]: themes[1]},
              started="2025-03-01T06:00:00+00:00")
    # themes[0] vanishes (its opinions join themes[2]), themes[-1] is new, the ids run in reverse
    write_run(root / second, docs, truth, run_id=second, themes=list(reversed(themes[1:])),
              merged={themes[0]: themes[2]}, started="2026-03-01T06:00:00+00:00", started_by="watch")
    write_words(root / second, docs, truth)
    return first, second
