"""The dynamic topic model's cost and quality: the full method against the large-corpus plan, and where
the time goes (k choice, each seed, iterations to convergence).

- full: ``scale.mode = off`` and ``dtm.convergence = 0``: k from LDA's grid on the tomotopy engine over
  every document, ``dtm.seeds`` seeds one after another, each for ``dtm.iterations`` iterations on every
  document (what textmine did before the plan covered the DTM);
- plan: the defaults on a large corpus (``scale.mode = on`` below scale.large_docs): k as the run's LDA
  chose it (here: the full method's k, so the grid is not timed twice), seeds in worker processes, at most
  ``scale.dtm_docs_per_period`` documents a period fitted and the others' topic mixes inferred, training
  stopped on convergence of the log-likelihood;
- ``--curve STEP``: one seed trained STEP iterations at a time up to dtm.iterations, with the
  log-likelihood per word, the planted-topic NMI and c_npmi after each step (how quality grows with
  iterations).

Quality: NMI (and ARI) of each document's dominant topic against the corpus's truth.json, c_npmi of the
topics, and the NMI between the plan's and the full method's topics.  ``--long N`` makes a corpus of long
documents first: each N opinions of one planted topic and one year become one document (its truth that
topic), as reports or petitions are long where opinions are short.

    .venv/bin/python benchmarks/bench_dtm.py --corpus corpora/ujp-synthetic
    .venv/bin/python benchmarks/bench_dtm.py --corpus /tmp/synth-20k --curve 100 --modes curve
    .venv/bin/python benchmarks/bench_dtm.py --corpus /tmp/synth-30y --long 10 --json out.json
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))


def long_documents(data, truth: dict, per_doc: int):
    """``data`` regrouped: each ``per_doc`` opinions of one planted topic and year (in order) become one
    document, its tokens theirs in order; returns (documents, truth with their doc_topic)."""
    import pandas as pd

    from textmine.text.documents import Documents

    tokens = data.doc_tokens()
    groups: dict[tuple, list[int]] = {}
    for i, (doc_id, year) in enumerate(zip(data.doc_ids, data.doc_years)):
        topic = truth["doc_topic"].get(str(doc_id))
        if topic is not None:
            groups.setdefault((year, topic), []).append(i)
    rows, unit_tokens, doc_topic = [], [], {}
    for (year, topic), members in sorted(groups.items(), key=lambda g: (g[0][0], str(g[0][1]))):
        for j in range(0, len(members) - per_doc + 1, per_doc):
            doc_id = f"L{year}-{topic}-{j // per_doc}"
            rows.append({"doc_id": doc_id, "year": year, "text": ""})
            unit_tokens.append([t for i in members[j:j + per_doc] for t in tokens[i]])
            doc_topic[doc_id] = topic
    docs = pd.DataFrame(rows)
    return (Documents(docs=docs, periods=docs["year"].tolist(), unit_tokens=unit_tokens,
                      unit_owner=list(range(len(rows)))), {**truth, "doc_topic": doc_topic})


def load(corpus: str, cache_dir: str, per_doc: int):
    from bench_lda import tokens_by_period

    from textmine.analysis.evaluate import load_truth

    data = tokens_by_period(corpus, cache_dir)
    truth = load_truth(corpus)
    if per_doc > 1:
        if not truth or not truth.get("doc_topic"):
            raise SystemExit("bench_dtm: --long needs a corpus with truth.json's doc_topic (textmine synth)")
        data, truth = long_documents(data, truth, per_doc)
    return data, truth


def agreement(data, dominant, truth) -> dict:
    from textmine.analysis.evaluate import topic_agreement

    if not truth or not truth.get("doc_topic"):
        return {}
    return topic_agreement(data.doc_ids, dominant, truth["doc_topic"])


def run_mode(data, truth, overrides: dict, k_from_lda: int | None = None) -> dict:
    """One ``DtmTopicModel.fit`` with ``overrides``: wall time, k choice and per-seed times, peak memory
    (this process and its workers), quality."""
    from textmine.core import progress
    from textmine.models import dtm
    from textmine.core.config import load_config

    config = load_config(None, overrides)
    model = dtm.DtmTopicModel(config)
    model.lda_k = k_from_lda
    seed_done: dict[str, float] = {}  # seed -> seconds from the start to its last progress report
    started = time.perf_counter()
    k_seconds = None

    def listen(stage: str, done: int, total: int) -> None:
        if stage.startswith("DTM seed "):
            seed_done[stage.split()[2].rstrip(",")] = time.perf_counter() - started

    choose_k = dtm.choose_k

    def timed_choose_k(*args, **kwargs):
        nonlocal k_seconds
        t = time.perf_counter()
        out = choose_k(*args, **kwargs)
        k_seconds = time.perf_counter() - t
        return out

    dtm.choose_k = timed_choose_k
    try:
        with progress.listening(listen), progress.PeakMemory() as peak:
            fitted = model.fit(data)
    finally:
        dtm.choose_k = choose_k
    seconds = time.perf_counter() - started
    q = fitted.quality
    return {"overrides": overrides, "seconds": seconds, "k_seconds": k_seconds, "seeds_done_at": seed_done,
            "peak_rss_mb": peak.bytes / 2**20, "k": fitted.num_topics, "selected_by": q.get("selected_by"),
            "training": q.get("training"), "large_corpus": q.get("large_corpus"),
            "c_npmi": q.get("coherence_c_npmi"), "c_v": q.get("coherence_c_v"),
            **agreement(data, fitted.dominant, truth), "_dominant": fitted.dominant}


def curve(data, truth, k: int, step: int, overrides: dict) -> list[dict]:
    """One seed's quality after every ``step`` iterations (on every document)."""
    import numpy as np
    import tomotopy as tp

    from textmine.models import dtm, quality
    from textmine.models import terms as topic_terms
    from textmine.core.config import load_config

    c = load_config(None, overrides)
    tokens = data.doc_tokens()
    periods = sorted(set(data.periods))
    timepoints = [periods.index(p) for p in data.periods]
    dictionary = topic_terms.build_dictionary(tokens, c.lda)
    vocab = topic_terms.vocabulary_of(dictionary)
    s = c.dtm
    lr_a = dtm.step_size(s, dtm.tokens_per_period(dtm.modelled_tokens(tokens, dictionary), timepoints, len(periods),
                                                  range(len(tokens))))
    print(f"  SGLD step lr_a {lr_a:.4g}", flush=True)
    model = tp.DTModel(k=k, t=len(periods), alpha_var=s.alpha_var, eta_var=s.eta_var, phi_var=s.phi_var,
                       lr_a=lr_a, lr_b=s.lr_b, lr_c=s.lr_c, seed=c.run.seed)
    added = []
    for i, doc in enumerate(tokens):
        words = [w for w in doc if w in dictionary.token2id]
        if words:
            model.add_doc(words, timepoint=timepoints[i])
            added.append(i)
    sample = quality.coherence_sample(tokens, c.run.seed)
    weights = np.bincount(timepoints, minlength=len(periods)) / len(timepoints)
    rows, done, fit_seconds = [], 0, 0.0
    while done < s.iterations:
        t = time.perf_counter()
        model.train(step, workers=s.workers)
        fit_seconds += time.perf_counter() - t
        done += step
        dominant = np.full(len(tokens), -1)
        dominant[added] = [int(np.argmax(d.get_topic_dist())) for d in model.docs]
        topic_word = np.tensordot(weights, dtm._period_topic_word(model, dictionary, len(periods)), axes=1)
        terms = [[w for w, _ in t] for t in topic_terms.top_terms(topic_word, vocab, 10)]
        row = {"iterations": done, "fit_seconds": fit_seconds, "ll_per_word": float(model.ll_per_word),
               "c_npmi": quality.coherence_unrounded(sample, dictionary, terms, "c_npmi"),
               **agreement(data, dominant, truth)}
        if rows:  # how much moved since the last point: the ll's rise (a share), the topics' words, the documents
            last = rows[-1]
            row["ll_gain"] = (row["ll_per_word"] - last["ll_per_word"]) / abs(last["ll_per_word"])
            row["top_words_kept"] = float(np.mean([len(set(a) & set(b)) / len(a)
                                                   for a, b in zip(terms, last["_terms"])]))
            row["dominant_kept"] = float(np.mean(dominant[added] == last["_dominant"][added]))
        rows.append({**row, "_terms": terms, "_dominant": dominant})
        print(f"  {done:5d} it.  {fit_seconds:7.1f} s  ll/word {row['ll_per_word']:.4f}  "
              f"gain {row.get('ll_gain', 0):.4f}  words kept {row.get('top_words_kept', 0):.3f}  "
              f"docs kept {row.get('dominant_kept', 0):.3f}  nmi {row.get('nmi', '-')}  c_npmi {row['c_npmi']:.4f}",
              flush=True)
    for row in rows:
        row.pop("_terms"), row.pop("_dominant")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(REPO / "corpora" / "ujp-synthetic"))
    parser.add_argument("--cache-dir", default=str(Path(tempfile.gettempdir()) / "textmine-bench-tokens"))
    parser.add_argument("--long", type=int, default=1, help="opinions per long document (1: the corpus as it is)")
    parser.add_argument("--modes", default="full,plan", help="full, plan, curve (comma-separated)")
    parser.add_argument("--k", default="auto", help="dtm.num_topics of the full method ('auto': LDA's grid)")
    parser.add_argument("--curve", type=int, default=100, help="iterations between two points of the curve")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting for every mode (e.g. dtm.iterations=300)")
    parser.add_argument("--repeats", type=int, default=1, help="accepted for run_all; the fits are seeded")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    common = dict(s.split("=", 1) for s in args.set)
    modes = args.modes.split(",")

    started = time.perf_counter()
    data, truth = load(args.corpus, args.cache_dir, args.long)
    tokens = data.doc_tokens()
    figures = {"corpus": args.corpus, "long": args.long, "docs": len(data), "periods": len(set(data.periods)),
               "tokens": sum(map(len, tokens)), "load_seconds": time.perf_counter() - started, "settings": common,
               "modes": {}}
    print(f"{figures['docs']:,} documents, {figures['tokens']:,} tokens, {figures['periods']} periods", flush=True)
    k = None if args.k == "auto" else int(args.k)
    if "full" in modes:
        full = run_mode(data, truth, {**common, "scale.mode": "off", "dtm.convergence": "0", "dtm.n_jobs": "1",
                                      "dtm.num_topics": args.k})
        figures["modes"]["full"] = full
        k = full["k"]
        print(f"full: {full['seconds']:.1f} s (k {k} in {full['k_seconds'] or 0:.1f} s), NMI {full.get('nmi')}, "
              f"c_npmi {full['c_npmi']}", flush=True)
    if "plan" in modes:
        if k is None:
            raise SystemExit("bench_dtm: the plan reuses the full method's k: run mode full too, or give --k")
        plan = run_mode(data, truth, {**common, "scale.mode": "on"}, k_from_lda=k)
        figures["modes"]["plan"] = plan
        print(f"plan: {plan['seconds']:.1f} s, NMI {plan.get('nmi')}, c_npmi {plan['c_npmi']}, "
              f"{plan['training']}", flush=True)
        if "full" in figures["modes"]:
            from sklearn.metrics import normalized_mutual_info_score

            full = figures["modes"]["full"]
            figures["plan_over_full_seconds"] = plan["seconds"] / full["seconds"]
            figures["plan_vs_full_nmi"] = float(normalized_mutual_info_score(full["_dominant"], plan["_dominant"]))
            if "nmi" in full and "nmi" in plan:
                figures["nmi_difference"] = plan["nmi"] - full["nmi"]
            print(f"plan / full: {figures['plan_over_full_seconds']:.2f} of the time; their topics' NMI "
                  f"{figures['plan_vs_full_nmi']:.3f}", flush=True)
    if "curve" in modes:
        print(f"curve (k={k or 12}, every {args.curve} iterations):", flush=True)
        figures["curve"] = curve(data, truth, k or 12, args.curve, common)
    for mode in figures["modes"].values():
        mode.pop("_dominant", None)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1, sort_keys=True, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
