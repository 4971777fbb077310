"""LDA topic models with gensim: global and per-year, k chosen on evidence, stable across seeds.

- :func:`fit_global_lda` fits a grid of topic counts with several seeds each,
  in parallel processes (each fit alone is exactly reproducible; see
  :func:`fit_lda_model` for ``workers``),
  scores every k by coherence (c_v, c_npmi over the model's own tokens), topic
  diversity and seed stability, picks k (or takes the user's), and keeps the
  most central of that k's runs.
- :func:`fit_yearly_lda` fits one model per year on the global dictionary, so
  topic-word distributions of different years are comparable (for lineage).
- Topic terms come by probability and by LDAvis relevance
  (λ·log p(w|t) + (1-λ)·log(p(w|t)/p(w))), which favours distinctive words.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from textmine import evaluate
from textmine.config import LdaConfig
from textmine.errors import TextmineError


@dataclass
class LdaResult:
    doc_topic: np.ndarray  # (documents, topics), rows sum to 1
    topic_terms: list[list[tuple[str, float]]]  # per topic, top terms by probability
    relevant_terms: list[list[str]]  # per topic, top terms by relevance (distinctive)
    topic_word: np.ndarray  # (topics, vocabulary) p(w|t)
    topic_sizes: np.ndarray  # documents whose most probable topic is each topic
    vocabulary_size: int
    seed: int
    model: object = field(repr=False)
    dictionary: object = field(repr=False)
    stability: dict = field(default_factory=dict)  # seed stability of the chosen k
    selection: list[dict] = field(default_factory=list)  # one row per k of the grid
    selected_by: str = "fixed"
    # Document-topic matrices of every seed's run of the chosen k (the kept run included),
    # for phase-boundary confidence across seeds.
    seed_doc_topics: list[np.ndarray] = field(default_factory=list, repr=False)

    @property
    def num_topics(self) -> int:
        return self.doc_topic.shape[1]

    def labels(self, n_terms: int = 3) -> list[str]:
        return [topic_label(terms, n_terms) for terms in self.relevant_terms]


def topic_label(terms: Sequence, n_terms: int = 3) -> str:
    """A short Korean label from a topic's leading terms: '진로·탐색·설계'."""
    return "·".join((t[0] if isinstance(t, tuple) else t) for t in terms[:n_terms])


def build_dictionary(token_lists: Sequence[Sequence[str]], config: LdaConfig):
    from gensim.corpora import Dictionary

    dictionary = Dictionary(token_lists)
    n_docs = len(token_lists)
    # On small corpora a fixed no_below would wipe the vocabulary out: scale it down.
    no_below = min(config.no_below, max(1, n_docs // 50))
    dictionary.filter_extremes(no_below=no_below, no_above=config.no_above, keep_n=config.keep_n)
    if len(dictionary) == 0:
        raise TextmineError(
            f"no vocabulary left to model: {n_docs} documents, and every word is too rare or too common",
            fix="add documents, or lower lda.no_below / raise lda.no_above",
        )
    return dictionary


def fit_lda_model(bow: list, dictionary, k: int, config: LdaConfig, seed: int):
    """One gensim model: ``LdaMulticore`` with ``workers`` > 1, else ``LdaModel``.

    Both run the same online variational Bayes; with one worker LdaMulticore only
    adds a worker process (and tracebacks from its pool at shutdown), and with
    more than one its result depends on the order workers finish in, so the
    reproducible default is the single-process class.
    """
    from gensim.models import LdaModel, LdaMulticore

    common = dict(corpus=bow, id2word=dictionary, num_topics=k, passes=config.passes, iterations=config.iterations,
                  chunksize=config.chunksize, alpha=config.alpha, eta=config.eta, random_state=seed, eval_every=None)
    if config.workers > 1:
        return LdaMulticore(workers=config.workers, **common)
    return LdaModel(**common)


def _n_jobs(config: LdaConfig) -> int:
    return config.n_jobs or (os.cpu_count() or 1)


def fit_many(bow: list, dictionary, jobs: list[tuple[int, int]], config: LdaConfig) -> list:
    """Fit one model per (k, seed) in parallel processes; results in the order of ``jobs``."""
    if _n_jobs(config) == 1 or len(jobs) == 1:
        return [fit_lda_model(bow, dictionary, k, config, s) for k, s in jobs]
    from joblib import Parallel, delayed

    return Parallel(n_jobs=_n_jobs(config), backend="loky")(
        delayed(fit_lda_model)(bow, dictionary, k, config, s) for k, s in jobs)


def relevance_terms(topic_word: np.ndarray, term_prob: np.ndarray, vocab: Sequence[str], lam: float,
                    topn: int) -> list[list[str]]:
    """LDAvis relevance ranking (Sievert & Shirley 2014)."""
    with np.errstate(divide="ignore"):
        rel = lam * np.log(topic_word) + (1 - lam) * np.log(topic_word / term_prob[None, :])
    order = np.argsort(-rel, axis=1, kind="stable")[:, :topn]
    return [[vocab[i] for i in row] for row in order]


def document_topic_matrix(model, bow: list, chunksize: int = 2000) -> np.ndarray:
    """Dense document-topic probabilities (rows sum to 1; empty documents are uniform).

    Batched variational inference (what ``get_document_topics`` does one
    document at a time), which is several times faster on large corpora.
    """
    k = model.num_topics
    parts = [model.inference(bow[i:i + chunksize])[0] for i in range(0, len(bow), chunksize)]
    gamma = np.vstack(parts) if parts else np.zeros((0, k))
    empty = np.array([len(doc) == 0 for doc in bow])
    matrix = gamma / gamma.sum(axis=1, keepdims=True)
    matrix[empty] = 1.0 / k
    return matrix


def _top_terms(model, k: int, topn: int) -> list[list[tuple[str, float]]]:
    return [[(t, float(w)) for t, w in model.show_topic(i, topn=topn)] for i in range(k)]


def score_runs(models: list, token_lists, dictionary, config: LdaConfig, seed: int) -> dict:
    """Coherence and diversity of each run of one k, and the runs' seed stability."""
    k = models[0].num_topics
    terms = [[[t for t, _ in topic] for topic in _top_terms(m, k, config.top_n_terms)] for m in models]
    stability = evaluate.seed_stability([m.get_topics() for m in models])
    central = stability["central"]
    return {
        "k": k,
        "c_v": evaluate.coherence(models[central], token_lists, dictionary, terms[central], "c_v", seed),
        "c_npmi": evaluate.coherence(models[central], token_lists, dictionary, terms[central], "c_npmi", seed),
        "diversity": round(evaluate.topic_diversity(
            [[t for t, _ in topic] for topic in _top_terms(models[central], k, 25)]), 4),
        "stability": stability["mean"],
        "_stability": stability,
    }


def choose_k(rows: list[dict]) -> int:
    """The k with the best mean of min-max-scaled c_v, c_npmi, diversity and stability (ties: fewer topics)."""
    scores = evaluate.scaled_scores(rows, {"c_v": 1, "c_npmi": 1, "diversity": 1, "stability": 1})
    best = max(range(len(rows)), key=lambda i: (round(scores[i], 9), -rows[i]["k"]))
    return rows[best]["k"]


def fit_global_lda(token_lists: Sequence[Sequence[str]], config: LdaConfig, seed: int) -> LdaResult:
    """The global model: k from the grid (or fixed), the most central of ``config.seeds`` runs."""
    grid = [config.num_topics] if config.num_topics != "auto" else sorted(set(config.k_grid))
    if not [k for k in grid if k <= len(token_lists)]:
        raise TextmineError(f"{len(token_lists)} documents cannot support {min(grid)} topics",
                            fix="add documents or lower lda.num_topics / lda.k_grid")
    grid = [k for k in grid if k <= len(token_lists)]
    dictionary = build_dictionary(token_lists, config)
    bow = [dictionary.doc2bow(tokens) for tokens in token_lists]
    seeds = [seed + i for i in range(max(1, config.seeds))]
    models = fit_many(bow, dictionary, [(k, s) for k in grid for s in seeds], config)
    if len(grid) == 1 and len(seeds) == 1:  # nothing to choose between: scoring is the evaluation stage's job
        result = _result(models[0], dictionary, bow, config, seeds[0], {}, [], "fixed")
        result.seed_doc_topics = [result.doc_topic]
        return result
    by_k = {k: models[i * len(seeds):(i + 1) * len(seeds)] for i, k in enumerate(grid)}
    rows = [score_runs(by_k[k], token_lists, dictionary, config, seed) for k in grid]
    k = choose_k(rows) if len(grid) > 1 else grid[0]
    row = next(r for r in rows if r["k"] == k)
    stability = row["_stability"]
    model = by_k[k][stability["central"]]
    selection = [{key: v for key, v in r.items() if not key.startswith("_")} for r in rows]
    result = _result(model, dictionary, bow, config, seeds[stability["central"]], stability, selection,
                     "grid (c_v, c_npmi, diversity, stability)" if len(grid) > 1 else "fixed")
    result.seed_doc_topics = [result.doc_topic if m is model else document_topic_matrix(m, bow) for m in by_k[k]]
    return result


def _result(model, dictionary, bow, config: LdaConfig, seed: int, stability: dict, selection: list[dict],
            selected_by: str) -> LdaResult:
    k = model.num_topics
    doc_topic = document_topic_matrix(model, bow)
    topic_word = model.get_topics()
    # p(w) under the model (topic mass × p(w|t)): unlike raw counts it is never zero, which matters
    # for per-year models whose year lacks words of the shared dictionary.
    lengths = np.array([sum(c for _, c in doc) for doc in bow], dtype=float)
    topic_mass = (doc_topic * lengths[:, None]).sum(axis=0)
    topic_mass = topic_mass / topic_mass.sum() if topic_mass.sum() else np.full(k, 1 / k)
    term_prob = topic_mass @ topic_word
    vocab = [dictionary[i] for i in range(len(dictionary))]
    return LdaResult(
        doc_topic=doc_topic, topic_terms=_top_terms(model, k, config.top_n_terms),
        relevant_terms=relevance_terms(topic_word, np.clip(term_prob, 1e-12, None), vocab,
                                       config.relevance_lambda, config.top_n_terms),
        topic_word=topic_word, topic_sizes=np.bincount(doc_topic.argmax(axis=1), minlength=k),
        vocabulary_size=len(dictionary), seed=seed, model=model, dictionary=dictionary, stability=stability,
        selection=selection, selected_by=selected_by,
    )


def yearly_topic_count(n_docs: int, k_global: int, config: LdaConfig) -> int:
    """Per-year k: the global k, fewer for small years (about one topic per ``docs_per_topic`` documents)."""
    return max(2, min(k_global, n_docs // config.yearly_docs_per_topic))


def fit_yearly_lda(token_lists: Sequence[Sequence[str]], dictionary, k_global: int, config: LdaConfig,
                   seed: int) -> LdaResult | None:
    """One year's model on the global dictionary; None when the year is too small to model."""
    if len(token_lists) < config.yearly_min_docs:
        return None
    bow = [dictionary.doc2bow(tokens) for tokens in token_lists]
    k = yearly_topic_count(len(token_lists), k_global, config)
    model = fit_lda_model(bow, dictionary, k, config, seed)
    return _result(model, dictionary, bow, config, seed, {}, [], "global k, scaled to the year's size")
