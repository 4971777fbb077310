"""Coherence scoring speed: textmine's window counts against gensim's CoherenceModel, on the same tokens.

Both score the same topics over the same token lists (a seeded sample of at most
``COHERENCE_MAX_DOCS``, as every textmine stage scores) for c_v (110-token windows) and
c_npmi (10-token windows):

- gensim:   ``CoherenceModel(..., processes=1).get_coherence()``, its own accumulator.
- textmine: ``quality.coherence_unrounded``: the same CoherenceModel, its window counts from
            ``textmine.models.cooccurrence.WindowAccumulator``.

The scores must be equal to the last bit; the script stops if they are not.  The topics are the
corpus's planted topics (``truth.json``), each as its ``--words`` most distinctive words (share of
the word's documents that carry the topic, among words in at least 20 of them).  One process,
the two sides alternating first and last between repeats; medians are printed.  Usage:

    .venv/bin/python benchmarks/bench_coherence.py --synth-docs 100000
    .venv/bin/python benchmarks/bench_coherence.py --corpus PATH --repeats 5

``--json PATH`` also writes the figures.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def tokens_and_topics(corpus: str, cache_dir: str, n_words: int) -> tuple[list[list[str]], list[list[str]]]:
    from textmine.text.cache import cached_tokenize_years
    from textmine.core.config import TokenizeConfig
    from textmine.io.corpus import load_corpus
    from textmine.analysis.evaluate import load_truth
    from textmine.text.tokenize import load_profile

    docs = load_corpus(corpus).modelling_docs()
    by_year = {int(y): g for y, g in docs.groupby("year")}
    done = cached_tokenize_years({y: g["text"].tolist() for y, g in by_year.items()}, load_profile(corpus),
                                 TokenizeConfig(), 2, cache_dir)
    ids = [d for y in by_year for d in by_year[y]["doc_id"].tolist()]
    tokens = [t for y in by_year for t in done[y][0]]
    truth = load_truth(corpus)
    if truth is None:
        raise SystemExit(f"{corpus}: no truth.json, so no planted topics to score; use a synthetic corpus")
    planted = [truth["doc_topic"].get(d) for d in ids]
    in_docs, in_topic = Counter(), Counter()
    for topic, toks in zip(planted, tokens):
        for w in set(toks):
            in_docs[w] += 1
            in_topic[topic, w] += 1
    topics = []
    for topic in sorted({t for t in planted if t is not None}):
        share = {w: in_topic[topic, w] / n for w, n in in_docs.items() if n >= 20 and in_topic[topic, w]}
        topics.append(sorted(share, key=lambda w: (-share[w], w))[:n_words])
    return tokens, topics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(REPO / "corpora" / "ujp-synthetic"))
    parser.add_argument("--synth-docs", type=int, help="benchmark a synthetic corpus of about this many documents")
    parser.add_argument("--words", type=int, default=10, help="words per topic")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache-dir", default="~/.cache/textmine", help="token cache")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()

    from gensim.corpora import Dictionary
    from gensim.models import CoherenceModel

    from textmine.models.quality import coherence_sample, coherence_unrounded

    corpus = args.corpus
    if args.synth_docs:
        from textmine.synth.synth import SynthSpec, write_corpus

        corpus = str(write_corpus(Path(tempfile.mkdtemp(prefix="bench-coherence-")) / "corpus",
                                  SynthSpec(seed=1, docs_per_year=args.synth_docs // 10)))
    tokens, topics = tokens_and_topics(corpus, args.cache_dir, args.words)
    tokens = coherence_sample(tokens, seed=0)  # what every stage scores on
    dictionary = Dictionary(tokens)

    def gensim_side(measure):
        return CoherenceModel(topics=topics, texts=tokens, dictionary=dictionary, coherence=measure,
                              processes=1).get_coherence()

    def textmine_side(measure):
        return coherence_unrounded(tokens, dictionary, topics, measure)

    sides = {"gensim": gensim_side, "textmine": textmine_side}
    print(f"corpus: {corpus}\n{len(tokens):,} token lists scored ({sum(map(len, tokens)):,} tokens), "
          f"{len(topics)} topics of {args.words} words; {args.repeats} repeats, medians shown")
    figures = {"corpus": corpus, "docs_scored": len(tokens), "topics": len(topics), "words": args.words,
               "repeats": args.repeats, "measures": {}}
    for measure in ("c_v", "c_npmi"):
        seconds, scores = {s: [] for s in sides}, {}
        for repeat in range(args.repeats):
            for side in (sides if repeat % 2 == 0 else list(sides)[::-1]):
                t0 = time.perf_counter()
                scores[side] = sides[side](measure)
                seconds[side].append(time.perf_counter() - t0)
            if scores["gensim"] != scores["textmine"]:
                raise SystemExit(f"{measure}, repeat {repeat + 1}: textmine scored {scores['textmine']!r}, "
                                 f"gensim {scores['gensim']!r}")
        med = {s: statistics.median(v) for s, v in seconds.items()}
        print(f"{measure:<7} gensim {med['gensim']:7.2f} s   textmine {med['textmine']:7.2f} s   "
              f"{med['gensim'] / med['textmine']:6.1f}x faster   score {scores['gensim']:.6f} (equal)")
        figures["measures"][measure] = {"seconds": med, "seconds_all": seconds, "score": scores["gensim"],
                                        "speedup": med["gensim"] / med["textmine"]}
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, ensure_ascii=False), encoding="utf-8")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
