"""LDA and DTM speed and quality: textmine's stages against the bare engines, on the same tokens.

- textmine: ``fit_global_lda`` with k fixed and one seed (dictionary, training,
  batched document-topic inference, probability and relevance terms), on each
  engine (``lda.backend`` gensim and tomotopy).
- gensim:   the bare call with the same settings: Dictionary + filter_extremes +
  doc2bow + the same gensim class textmine uses for ``workers`` (LdaModel at 1,
  LdaMulticore above); also bare LdaMulticore at the same worker count for reference.
- tomotopy: LDAModel (Gibbs sampling) on the same vocabulary, at several iteration
  counts, so time can be compared at matched quality (c_npmi of the top-10 terms,
  gensim CoherenceModel on the same tokens for every model).

- dtm: textmine's DTM model (``DtmTopicModel.fit`` at k fixed, one seed: DTModel, document
  and per-period topic-word arrays, relevance terms, coherence) against a bare tomotopy
  DTModel with the same settings (``--dtm``).

Medians of ``--repeats`` runs.  Usage:

    .venv/bin/python benchmarks/bench_lda.py --dtm                # bundled corpus, k=12
    .venv/bin/python benchmarks/bench_lda.py --synth-docs 100000 --repeats 1 --dtm

``--json PATH`` also writes the figures (every repeat, medians, ratios) as JSON (benchmarks/run_all.py).
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def load_tokens(corpus: str, cache_dir: str) -> list[list[str]]:
    from textmine.text.cache import cached_tokenize_units
    from textmine.core.config import TokenizeConfig
    from textmine.io.corpus import load_corpus
    from textmine.text.tokenize import load_profile

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
    parser.add_argument("--dtm", action="store_true", help="also time the dynamic topic model")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()

    import tomotopy as tp
    from gensim.corpora import Dictionary
    from gensim.models import LdaModel, LdaMulticore

    from textmine.core.config import LdaConfig
    from textmine.models.lda import fit_global_lda

    corpus = args.corpus
    if args.synth_docs:
        from textmine.synth.synth import SynthSpec, write_corpus

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

    def textmine_run(engine: str):
        def run():
            result = fit_global_lda(tokens, config.model_copy(update={"backend": engine}), seed=42)
            return [[w for w, _ in terms] for terms in result.topic_terms], result.native.dictionary
        return run

    same_class = bare(LdaMulticore, workers=args.workers) if args.workers > 1 else bare(LdaModel)
    modes = {"textmine LDA stage": textmine_run("gensim"), "bare gensim (same class)": same_class,
             f"textmine LDA stage, tomotopy {config.gibbs_iterations} it.": textmine_run("tomotopy")}
    if args.workers == 1:
        modes["bare gensim LdaMulticore(workers=1)"] = bare(LdaMulticore, workers=1)

    dictionary = Dictionary(tokens)
    dictionary.filter_extremes(no_below=config.no_below, no_above=config.no_above, keep_n=config.keep_n)
    vocab = set(dictionary.token2id)
    for iters in map(int, args.tomotopy_iterations.split(",")):
        def tomotopy_run(iters=iters):
            model = tp.LDAModel(k=args.k, alpha=config.tomotopy_alpha, eta=config.tomotopy_eta, seed=42)
            for t in tokens:
                words = [w for w in t if w in vocab]
                if words:
                    model.add_doc(words)
            model.train(iters, workers=args.workers)
            return [[w for w, _ in model.get_topic_words(i, top_n=10)] for i in range(args.k)], dictionary
        modes[f"tomotopy LDAModel {iters} iterations"] = tomotopy_run

    if args.dtm:
        modes.update(dtm_modes(corpus, args, tokens_by_period(corpus, args.cache_dir)))

    rows, figures = {}, {"corpus": corpus, "docs": len(tokens), "tokens": sum(map(len, tokens)), "k": args.k,
                         "workers": args.workers, "repeats": args.repeats, "modes": {}, "ratios": {}}
    for name, fn in modes.items():
        times, scores = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            topics, dic = fn()
            times.append(time.perf_counter() - start)
            scores.append(npmi(topics, tokens, dic))
        rows[name] = (statistics.median(times), statistics.median(scores))
        figures["modes"][name] = {"seconds": rows[name][0], "seconds_all": times, "c_npmi": rows[name][1],
                                  "c_npmi_all": scores, "docs_per_s": len(tokens) / rows[name][0]}
    base = rows["bare gensim (same class)"][0]
    print(f"{'model':<40}{'seconds':>10}{'vs bare gensim':>16}{'c_npmi':>9}")
    for name, (sec, score) in rows.items():
        print(f"{name:<40}{sec:>10.2f}{sec / base:>15.2f}x{score:>9.3f}")
    print(f"textmine overhead over bare gensim: {rows['textmine LDA stage'][0] / base:.2f}x   (goal <= 1.1x)")
    figures["ratios"]["textmine_over_bare_gensim"] = rows["textmine LDA stage"][0] / base
    tomo = f"tomotopy LDAModel {config.gibbs_iterations} iterations"
    if tomo in rows:
        ratio = rows[f"textmine LDA stage, tomotopy {config.gibbs_iterations} it."][0] / rows[tomo][0]
        print(f"textmine tomotopy engine over bare tomotopy: {ratio:.2f}x")
        figures["ratios"]["textmine_tomotopy_over_bare_tomotopy"] = ratio
    if args.dtm:
        print(f"textmine DTM over bare DTModel: {rows['textmine DTM'][0] / rows['bare tomotopy DTModel'][0]:.2f}x")
        figures["ratios"]["textmine_dtm_over_bare_dtmodel"] = rows["textmine DTM"][0] / rows["bare tomotopy DTModel"][0]
    if args.json:  # one process runs every mode: its peak RSS is the largest of them (tokens included)
        figures["process_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        figures["gibbs_iterations"] = config.gibbs_iterations
        Path(args.json).write_text(json.dumps(figures, indent=1, sort_keys=True), encoding="utf-8")


def tokens_by_period(corpus: str, cache_dir: str):
    """(documents as token lists, each one's year) in year order, as textmine's DTM sees them."""
    from textmine.text.cache import cached_tokenize_units
    from textmine.core.config import Config
    from textmine.io.corpus import load_corpus
    from textmine.text.tokenize import load_profile
    from textmine.text.documents import build_documents

    config = Config()
    docs = load_corpus(corpus).modelling_docs()
    profile = load_profile(corpus)
    per_year = {}
    for year, group in docs.groupby("year"):
        toks, owners, _ = cached_tokenize_units(group["text"].tolist(), profile, config.tokenize, 2, cache_dir)
        per_year[year] = {"tokens": toks, "owners": owners}
    data, _ = build_documents(docs, per_year, config, corpus)
    return data


def dtm_modes(corpus: str, args, data) -> dict:
    """textmine's DTM stage and a bare tomotopy DTModel with the same settings and vocabulary."""
    import numpy as np
    import tomotopy as tp

    from textmine.core.config import load_config
    from textmine.models.dtm import DtmTopicModel
    from textmine.models.terms import build_dictionary

    config = load_config(None, {"dtm.num_topics": str(args.k), "dtm.seeds": "1", "dtm.workers": str(args.workers)})
    tokens = data.doc_tokens()
    periods = sorted(set(data.periods))
    timepoints = [periods.index(p) for p in data.periods]

    shared_dictionary = build_dictionary(tokens, config.lda)

    def textmine_dtm():
        fitted = DtmTopicModel(config).fit(data)
        return [[w for w, _ in t] for t in fitted.topic_terms], shared_dictionary

    def bare_dtm():
        c = config.dtm
        dictionary = build_dictionary(tokens, config.lda)
        model = tp.DTModel(k=args.k, t=len(periods), alpha_var=c.alpha_var, eta_var=c.eta_var, phi_var=c.phi_var,
                           lr_a=c.lr_a, lr_b=c.lr_b, lr_c=c.lr_c, seed=42)
        for doc, t in zip(tokens, timepoints):
            words = [w for w in doc if w in dictionary.token2id]
            if words:
                model.add_doc(words, timepoint=t)
        model.train(c.iterations, workers=c.workers)
        weights = np.mean([[model.get_topic_word_dist(k, t) for k in range(args.k)] for t in range(len(periods))], axis=0)
        vocab = list(model.used_vocabs)
        return [[vocab[i] for i in np.argsort(-row)[:10]] for row in weights], dictionary

    return {"textmine DTM": textmine_dtm, "bare tomotopy DTModel": bare_dtm}


if __name__ == "__main__":
    main()
