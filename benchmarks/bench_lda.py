"""LDA speed and quality: textmine's LDA stage against bare gensim and tomotopy, on the same tokens.

- textmine: ``fit_global_lda`` with k fixed and one seed (dictionary, training,
  batched document-topic inference, probability and relevance terms).
- gensim:   the bare call with the same settings: Dictionary + filter_extremes +
  doc2bow + the same gensim class textmine uses for ``workers`` (LdaModel at 1,
  LdaMulticore above); also bare LdaMulticore at the same worker count for reference.
- tomotopy: LDAModel (Gibbs sampling) on the same vocabulary, at several iteration
  counts, so time can be compared at matched quality (c_npmi of the top-10 terms,
  gensim CoherenceModel on the same tokens for every model).

Medians of ``--repeats`` runs.  Usage:

    .venv/bin/python benchmarks/bench_lda.py                      # bundled corpus, k=12
    .venv/bin/python benchmarks/bench_lda.py --synth-docs 100000 --repeats 1
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def load_tokens(corpus: str, cache_dir: str) -> list[list[str]]:
    from textmine.cache import cached_tokenize_units
    from textmine.config import TokenizeConfig
    from textmine.corpus import load_corpus
    from textmine.tokenize import load_profile

    docs = load_corpus(corpus).modelling_docs()
    profile = load_profile(corpus)
    tokens = []
    for _, group in docs.groupby("year"):
        toks, _, _ = cached_tokenize_units(group["text"].tolist(), profile, TokenizeConfig(), 2, cache_dir)
        tokens += toks
    return [t for t in tokens if t]


def npmi(topics: list[list[str]], tokens, dictionary) -> float:
    from gensim.models import CoherenceModel

    return CoherenceModel(topics=topics, texts=tokens, dictionary=dictionary, coherence="c_npmi",
                          processes=1).get_coherence()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(REPO / "corpora" / "ujp-synthetic"))
    parser.add_argument("--synth-docs", type=int)
    parser.add_argument("--k", type=int, default=12)
    parser.add_argument("--workers", type=int, default=1, help="gensim/tomotopy workers")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tomotopy-iterations", default="200,500,1000")
    parser.add_argument("--cache-dir", default="~/.cache/textmine")
    args = parser.parse_args()

    import tomotopy as tp
    from gensim.corpora import Dictionary
    from gensim.models import LdaModel, LdaMulticore

    from textmine.config import LdaConfig
    from textmine.lda import fit_global_lda

    corpus = args.corpus
    if args.synth_docs:
        from textmine.synth import SynthSpec, write_corpus

        corpus = str(write_corpus(Path(tempfile.mkdtemp(prefix="bench-lda-")) / "corpus",
                                  SynthSpec(seed=1, docs_per_year=args.synth_docs // 10)))
    tokens = load_tokens(corpus, args.cache_dir)
    config = LdaConfig(num_topics=args.k, seeds=1, workers=args.workers, n_jobs=1)
    print(f"corpus: {corpus}\n{len(tokens):,} documents, {sum(map(len, tokens)):,} tokens; k={args.k}, "
          f"passes={config.passes}, iterations={config.iterations}, workers={args.workers}; "
          f"{args.repeats} repeats, medians shown")

    def bare(cls, **extra):
        def run():
            dictionary = Dictionary(tokens)
            dictionary.filter_extremes(no_below=config.no_below, no_above=config.no_above, keep_n=config.keep_n)
            bow = [dictionary.doc2bow(t) for t in tokens]
            model = cls(corpus=bow, id2word=dictionary, num_topics=args.k, passes=config.passes,
                        iterations=config.iterations, chunksize=config.chunksize, alpha=config.alpha,
                        eta=config.eta, random_state=42, eval_every=None, **extra)
            return [[w for w, _ in model.show_topic(i, 10)] for i in range(args.k)], dictionary
        return run

    def textmine_run():
        result = fit_global_lda(tokens, config, seed=42)
        return [[w for w, _ in terms] for terms in result.topic_terms], result.dictionary

    same_class = bare(LdaMulticore, workers=args.workers) if args.workers > 1 else bare(LdaModel)
    modes = {"textmine LDA stage": textmine_run, "bare gensim (same class)": same_class}
    if args.workers == 1:
        modes["bare gensim LdaMulticore(workers=1)"] = bare(LdaMulticore, workers=1)

    dictionary = Dictionary(tokens)
    dictionary.filter_extremes(no_below=config.no_below, no_above=config.no_above, keep_n=config.keep_n)
    vocab = set(dictionary.token2id)
    for iters in map(int, args.tomotopy_iterations.split(",")):
        def tomotopy_run(iters=iters):
            model = tp.LDAModel(k=args.k, seed=42)
            for t in tokens:
                words = [w for w in t if w in vocab]
                if words:
                    model.add_doc(words)
            model.train(iters, workers=args.workers)
            return [[w for w, _ in model.get_topic_words(i, top_n=10)] for i in range(args.k)], dictionary
        modes[f"tomotopy LDAModel {iters} iterations"] = tomotopy_run

    rows = {}
    for name, fn in modes.items():
        times, scores = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            topics, dic = fn()
            times.append(time.perf_counter() - start)
            scores.append(npmi(topics, tokens, dic))
        rows[name] = (statistics.median(times), statistics.median(scores))
    base = rows["bare gensim (same class)"][0]
    print(f"{'model':<40}{'seconds':>10}{'vs bare gensim':>16}{'c_npmi':>9}")
    for name, (sec, score) in rows.items():
        print(f"{name:<40}{sec:>10.2f}{sec / base:>15.2f}x{score:>9.3f}")
    print(f"textmine overhead over bare gensim: {rows['textmine LDA stage'][0] / base:.2f}x   (goal <= 1.1x)")


if __name__ == "__main__":
    main()
