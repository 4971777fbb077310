"""LDA topic models: global and per-year, k chosen on evidence, stable across seeds, on two engines.

The engine (``lda.backend``, registry :data:`textmine.registry.LDA_ENGINES`) only fits one model
for one k and seed and returns plain arrays; everything else here is engine-independent:

- engines: ``gensim`` (LdaModel, online variational Bayes; the default) and ``tomotopy``
  (LDAModel, collapsed Gibbs sampling by Kiwi's author; several times faster at equal coherence,
  see benchmarks/bench_lda.py).  Both fit on the same gensim Dictionary, so vocabularies,
  coherence and relevance labels are computed the same way.
- :func:`fit_global_lda` fits a grid of topic counts with several seeds each,
  in parallel processes (each fit alone is exactly reproducible),
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
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from textmine import evaluate
from textmine.config import LdaConfig
from textmine.errors import TextmineError
from textmine.topicmodel import Documents, FittedTopics, TopicModel, quality_summary
from textmine.topics import topic_label


@dataclass
class LdaResult:
    doc_topic: np.ndarray  # (documents, topics), rows sum to 1
    topic_terms: list[list[tuple[str, float]]]  # per topic, top terms by probability
    relevant_terms: list[list[str]]  # per topic, top terms by relevance (distinctive)
    topic_word: np.ndarray  # (topics, vocabulary) p(w|t)
    topic_sizes: np.ndarray  # documents whose most probable topic is each topic
    vocabulary_size: int
    seed: int
    model: object = field(repr=False)  # the engine's model (gensim LdaModel, tomotopy bytes)
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


@dataclass
class EngineFit:
    """One fitted model as the engine-independent code needs it."""

    topic_word: np.ndarray   # (k, len(dictionary)) p(w|t), rows sum to 1
    doc_topic: np.ndarray    # (documents, k), rows sum to 1 (uniform for a document with no known word)
    model: object            # picklable: it crosses process boundaries in the parallel grid


class LdaEngine(ABC):
    """Fits one LDA model for one k and seed over documents given as bag-of-words on a Dictionary."""

    def __init__(self, config: LdaConfig):
        self.config = config

    @abstractmethod
    def fit(self, bow: list, dictionary, k: int, seed: int) -> EngineFit: ...


class GensimEngine(LdaEngine):
    """gensim ``LdaMulticore`` with ``workers`` > 1, else ``LdaModel``.

    Both run the same online variational Bayes; with one worker LdaMulticore only
    adds a worker process (and tracebacks from its pool at shutdown), and with
    more than one its result depends on the order workers finish in, so the
    reproducible default is the single-process class.
    """

    def fit(self, bow: list, dictionary, k: int, seed: int) -> EngineFit:
        from gensim.models import LdaModel, LdaMulticore

        c = self.config
        common = dict(corpus=bow, id2word=dictionary, num_topics=k, passes=c.passes, iterations=c.iterations,
                      chunksize=c.chunksize, alpha=c.alpha, eta=c.eta, random_state=seed, eval_every=None)
        model = LdaMulticore(workers=c.workers, **common) if c.workers > 1 else LdaModel(**common)
        return EngineFit(model.get_topics(), document_topic_matrix(model, bow, c.chunksize), model)


class TomotopyEngine(LdaEngine):
    """tomotopy ``LDAModel`` (collapsed Gibbs sampling) on the same Dictionary's words.

    ``workers`` = 1 is exactly reproducible for a seed (tomotopy's parallel samplers are not);
    alpha/eta are tomotopy's symmetric priors (``tomotopy_alpha``/``tomotopy_eta``);
    ``gibbs_iterations`` sweeps (200 matched 500 in c_npmi on 100k opinions: 0.208 vs 0.209).
    """

    def fit(self, bow: list, dictionary, k: int, seed: int) -> EngineFit:
        import tomotopy as tp

        c = self.config
        model = tp.LDAModel(k=k, alpha=c.tomotopy_alpha, eta=c.tomotopy_eta, seed=seed)
        added = []
        for i, doc in enumerate(bow):
            words = [dictionary[w] for w, n in doc for _ in range(int(n))]
            if words:
                model.add_doc(words)
                added.append(i)
        model.train(c.gibbs_iterations, workers=c.workers)
        return EngineFit(tomotopy_topic_word(model, dictionary),
                         _spread(np.array([d.get_topic_dist() for d in model.docs]).reshape(-1, k), added, len(bow), k),
                         model.saves())


def tomotopy_topic_word(model, dictionary, timepoint: int | None = None) -> np.ndarray:
    """tomotopy's topic-word rows (its own vocabulary order) laid out on the Dictionary's ids."""
    position = np.array([dictionary.token2id[w] for w in model.used_vocabs])
    out = np.zeros((model.k, len(dictionary)))
    for t in range(model.k):
        dist = model.get_topic_word_dist(t) if timepoint is None else model.get_topic_word_dist(t, timepoint)
        out[t, position] = dist
    return out / out.sum(axis=1, keepdims=True)


def _spread(rows: np.ndarray, added: list[int], n: int, k: int) -> np.ndarray:
    """Rows of the documents an engine kept, back in place; the skipped (empty) ones uniform."""
    out = np.full((n, k), 1.0 / k)
    if added:
        out[np.asarray(added)] = rows / rows.sum(axis=1, keepdims=True)
    return out


def make_engine(config: LdaConfig) -> LdaEngine:
    from textmine.registry import LDA_ENGINES

    return LDA_ENGINES.get(config.backend)(config)


def fit_lda_model(bow: list, dictionary, k: int, config: LdaConfig, seed: int) -> EngineFit:
    """One model of the configured engine (a top-level function, so the parallel grid can pickle it)."""
    return make_engine(config).fit(bow, dictionary, k, seed)


def _n_jobs(config: LdaConfig) -> int:
    return config.n_jobs or (os.cpu_count() or 1)


def fit_many(bow: list, dictionary, jobs: list[tuple[int, int]], config: LdaConfig) -> list:
    """Fit one model per (k, seed) in parallel processes; results in the order of ``jobs``."""
    from textmine.progress import advance

    if _n_jobs(config) == 1 or len(jobs) == 1:
        fits = []
        for k, s in jobs:
            fits.append(fit_lda_model(bow, dictionary, k, config, s))
            advance("LDA grid (k x seed)", len(fits), len(jobs))
        return fits
    from textmine.parallel import map_in_processes

    return map_in_processes(fit_lda_model, [(bow, dictionary, k, config, s) for k, s in jobs], _n_jobs(config),
                            stage="LDA grid (k x seed)")


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


def top_terms(topic_word: np.ndarray, vocab: Sequence[str], topn: int) -> list[list[tuple[str, float]]]:
    """Each topic's ``topn`` most probable words with p(w|t) (ties by word id: deterministic)."""
    order = np.argsort(-topic_word, axis=1, kind="stable")[:, :topn]
    return [[(vocab[i], float(topic_word[t, i])) for i in row] for t, row in enumerate(order)]


def score_runs(fits: list[EngineFit], token_lists, dictionary, config: LdaConfig, seed: int) -> dict:
    """Coherence and diversity of each run of one k, and the runs' seed stability."""
    vocab = _vocab(dictionary)
    k = fits[0].topic_word.shape[0]
    stability = evaluate.seed_stability([f.topic_word for f in fits])
    central = fits[stability["central"]].topic_word
    terms = [[w for w, _ in topic] for topic in top_terms(central, vocab, config.top_n_terms)]
    return {
        "k": k,
        "c_v": evaluate.coherence(None, token_lists, dictionary, terms, "c_v", seed),
        "c_npmi": evaluate.coherence(None, token_lists, dictionary, terms, "c_npmi", seed),
        "diversity": round(evaluate.topic_diversity([[w for w, _ in t] for t in top_terms(central, vocab, 25)]), 4),
        "stability": stability["mean"],
        "_stability": stability,
    }


def choose_k(rows: list[dict]) -> int:
    """The k with the best mean of min-max-scaled c_v, c_npmi, diversity and stability (ties: fewer topics)."""
    scores = evaluate.scaled_scores(rows, {"c_v": 1, "c_npmi": 1, "diversity": 1, "stability": 1})
    best = max(range(len(rows)), key=lambda i: (round(scores[i], 9), -rows[i]["k"]))
    return rows[best]["k"]


def topic_grid(config: LdaConfig, n_docs: int, num_topics=None) -> list[int]:
    """The topic counts to try: the fixed one, or the grid's counts the corpus can support."""
    fixed = config.num_topics if num_topics is None else num_topics
    grid = [int(fixed)] if fixed != "auto" else sorted(set(config.k_grid))
    if not [k for k in grid if k <= n_docs]:
        raise TextmineError(f"{n_docs} documents cannot support {min(grid)} topics",
                            fix="add documents or lower lda.num_topics / lda.k_grid")
    return [k for k in grid if k <= n_docs]


def fit_global_lda(token_lists: Sequence[Sequence[str]], config: LdaConfig, seed: int) -> LdaResult:
    """The global model: k from the grid (or fixed), the most central of ``config.seeds`` runs."""
    grid = topic_grid(config, len(token_lists))
    dictionary = build_dictionary(token_lists, config)
    bow = [dictionary.doc2bow(tokens) for tokens in token_lists]
    seeds = [seed + i for i in range(max(1, config.seeds))]
    fits = fit_many(bow, dictionary, [(k, s) for k in grid for s in seeds], config)
    if len(grid) == 1 and len(seeds) == 1:  # nothing to choose between: scoring is the evaluation stage's job
        result = _result(fits[0], dictionary, bow, config, seeds[0], {}, [], "fixed")
        result.seed_doc_topics = [result.doc_topic]
        return result
    by_k = {k: fits[i * len(seeds):(i + 1) * len(seeds)] for i, k in enumerate(grid)}
    rows = [score_runs(by_k[k], token_lists, dictionary, config, seed) for k in grid]
    k = choose_k(rows) if len(grid) > 1 else grid[0]
    row = next(r for r in rows if r["k"] == k)
    stability = row["_stability"]
    kept = by_k[k][stability["central"]]
    selection = [{key: v for key, v in r.items() if not key.startswith("_")} for r in rows]
    result = _result(kept, dictionary, bow, config, seeds[stability["central"]], stability, selection,
                     "grid (c_v, c_npmi, diversity, stability)" if len(grid) > 1 else "fixed")
    result.seed_doc_topics = [f.doc_topic for f in by_k[k]]
    return result


def _vocab(dictionary) -> list[str]:
    return [dictionary[i] for i in range(len(dictionary))]


def _result(fit: EngineFit, dictionary, bow, config: LdaConfig, seed: int, stability: dict, selection: list[dict],
            selected_by: str) -> LdaResult:
    topic_word, doc_topic = fit.topic_word, fit.doc_topic
    k = topic_word.shape[0]
    # p(w) under the model (topic mass × p(w|t)): unlike raw counts it is never zero, which matters
    # for per-year models whose year lacks words of the shared dictionary.
    lengths = np.array([sum(c for _, c in doc) for doc in bow], dtype=float)
    topic_mass = (doc_topic * lengths[:, None]).sum(axis=0)
    topic_mass = topic_mass / topic_mass.sum() if topic_mass.sum() else np.full(k, 1 / k)
    term_prob = topic_mass @ topic_word
    vocab = _vocab(dictionary)
    return LdaResult(
        doc_topic=doc_topic, topic_terms=top_terms(topic_word, vocab, config.top_n_terms),
        relevant_terms=relevance_terms(np.clip(topic_word, 1e-12, None), np.clip(term_prob, 1e-12, None), vocab,
                                       config.relevance_lambda, config.top_n_terms),
        topic_word=topic_word, topic_sizes=np.bincount(doc_topic.argmax(axis=1), minlength=k),
        vocabulary_size=len(dictionary), seed=seed, model=fit.model, dictionary=dictionary, stability=stability,
        selection=selection, selected_by=selected_by,
    )


def yearly_topic_count(n_docs: int, k_global: int, config: LdaConfig) -> int:
    """Per-year k: the global k, fewer for small years (about one topic per ``docs_per_topic`` documents)."""
    return max(2, min(k_global, n_docs // config.yearly_docs_per_topic))


def dictionary_from_vocabulary(vocabulary: Sequence[str]):
    """A gensim Dictionary holding exactly ``vocabulary`` (ids in its order), e.g. read back from disk."""
    from gensim.corpora import Dictionary

    dictionary = Dictionary()
    dictionary.token2id = {w: i for i, w in enumerate(vocabulary)}
    dictionary.id2token = dict(enumerate(vocabulary))
    return dictionary


def fit_yearly_lda(token_lists: Sequence[Sequence[str]], dictionary, k_global: int, config: LdaConfig,
                   seed: int) -> LdaResult | None:
    """One year's model on the year's own words of the global dictionary; None when the year is too small.

    Its topic-word rows are laid back onto the global dictionary (zero for words the year lacks), so
    every year's topics compare with every other's.  Fitting on the year's own words (not the whole
    dictionary) makes the model depend on that year's documents only: adding a later year leaves
    earlier years' models, and their cache entries, unchanged.
    """
    if len(token_lists) < config.yearly_min_docs:
        return None
    present = {t for tokens in token_lists for t in tokens}
    vocabulary = _vocab(dictionary)
    year_vocabulary = [w for w in vocabulary if w in present]
    year_dictionary = dictionary_from_vocabulary(year_vocabulary)
    bow = [year_dictionary.doc2bow(tokens) for tokens in token_lists]
    k = yearly_topic_count(len(token_lists), k_global, config)
    result = _result(fit_lda_model(bow, year_dictionary, k, config, seed), year_dictionary, bow, config, seed, {}, [],
                     "global k, scaled to the year's size")
    wide = np.zeros((k, len(vocabulary)))
    wide[:, [dictionary.token2id[w] for w in year_vocabulary]] = result.topic_word
    result.topic_word, result.dictionary = wide, dictionary
    return result


def to_fitted(result: LdaResult, data: Documents | None, quality: dict | None = None) -> FittedTopics:
    """An :class:`LdaResult` as the model-independent :class:`FittedTopics` (unit rows -> documents)."""
    doc_topic = data.units_to_documents(result.doc_topic) if data is not None else result.doc_topic
    seeds = [doc_topic if m is result.doc_topic else data.units_to_documents(m) if data is not None else m
             for m in result.seed_doc_topics]
    return FittedTopics(doc_topic=doc_topic, topic_terms=result.topic_terms, topic_word=result.topic_word,
                        vocabulary=_vocab(result.dictionary), relevant_terms=result.relevant_terms,
                        seed_doc_topics=seeds, quality=quality or {"num_topics": result.num_topics},
                        native={"dictionary": result.dictionary, "seed": result.seed,
                                "engine_model": result.model if isinstance(result.model, bytes) else None})


def save_topic_arrays(fitted: FittedTopics, folder: Path, extra: dict) -> None:
    """Topic-word weights (.npy), vocabulary, terms and settings (JSON): readable without textmine or pickle."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "topic_word.npy", fitted.topic_word.astype(np.float32))
    (folder / "textmine.json").write_text(json.dumps({
        "vocabulary": fitted.vocabulary, "topic_terms": fitted.topic_terms, "relevant_terms": fitted.relevant_terms,
        "labels": fitted.labels(), **extra}, ensure_ascii=False), encoding="utf-8")


class LdaTopicModel(TopicModel):
    """LDA: a global model with k chosen on evidence, per-year models on the global dictionary."""

    name = "lda"
    section = "lda"
    engine_packages = ("gensim", "tomotopy")

    def fit(self, data: Documents, warm_start: dict | None = None) -> FittedTopics:
        c = self.settings
        warm = warm_start is not None and c.num_topics == "auto"
        result = fit_global_lda(data.unit_tokens, c.model_copy(update={"num_topics": warm_start["k"]}) if warm else c,
                                self.seed)
        if warm:
            result.selected_by = f"warm start: k={warm_start['k']} from the previous selection (--reselect to search again)"
        if result.selection:
            chosen = next(r for r in result.selection if r["k"] == result.num_topics)
            scores = {m: chosen[m] for m in ("c_v", "c_npmi", "diversity")}
        else:
            terms = [[t for t, _ in topic] for topic in result.topic_terms]
            scores = {m: evaluate.coherence(None, data.unit_tokens, result.dictionary, terms, m, self.seed)
                      for m in ("c_v", "c_npmi")}
            scores["diversity"] = round(evaluate.topic_diversity(
                [[t for t, _ in topic] for topic in top_terms(result.topic_word, _vocab(result.dictionary), 25)]), 4)
        quality = quality_summary(result.num_topics, result.selected_by, result.seed, scores, result.stability,
                                  c.seeds, result.selection, engine=c.backend, vocabulary_size=result.vocabulary_size)
        return to_fitted(result, data, quality)

    def selection(self, fitted: FittedTopics) -> dict | None:
        return {"k": fitted.num_topics} if self.settings.num_topics == "auto" else None

    def fit_year(self, data: Documents, year, fitted: FittedTopics) -> FittedTopics | None:
        """On the year's own dictionary (the vocabulary rules applied to the year alone), so the model
        depends on that year's documents and the global k only: adding a year leaves it, and its
        cache entry, unchanged.  :func:`textmine.topicmodel.relayout` lays it onto the global words."""
        tokens = data.year_units(year)
        if len(tokens) < self.settings.yearly_min_docs:
            return None
        try:
            dictionary = build_dictionary(tokens, self.settings)
        except TextmineError:  # a year whose every word is too rare or too common: nothing to model
            return None
        result = fit_yearly_lda(tokens, dictionary, fitted.num_topics, self.settings, self.seed)
        return None if result is None else to_fitted(result, None, {"num_topics": result.num_topics})

    def year_inputs(self, data: Documents, year, fitted: FittedTopics) -> dict | None:
        return {"k_global": fitted.num_topics}

    def year_note(self, data: Documents, year) -> str:
        return f"skipped: fewer than {self.settings.yearly_min_docs} documents"

    def save(self, fitted: FittedTopics, folder: Path) -> None:
        native = fitted.native
        save_topic_arrays(fitted, folder, {"engine": self.settings.backend, "num_topics": fitted.num_topics,
                                           "seed": native["seed"]})
        if native["engine_model"] is not None:  # tomotopy's own binary format (tomotopy.LDAModel.load)
            (folder / "model.tomotopy.bin").write_bytes(native["engine_model"])

    def save_native(self, native, folder: Path) -> None:
        import json

        (folder / "native.json").write_text(json.dumps({"seed": native["seed"]}), encoding="utf-8")
        if native["engine_model"] is not None:
            (folder / "model.tomotopy.bin").write_bytes(native["engine_model"])

    def load_native(self, folder: Path, fitted: FittedTopics):
        import json

        engine = folder / "model.tomotopy.bin"
        return {"dictionary": dictionary_from_vocabulary(fitted.vocabulary),
                "seed": json.loads((folder / "native.json").read_text(encoding="utf-8"))["seed"],
                "engine_model": engine.read_bytes() if engine.is_file() else None}
