"""LDA topic models: global and per-year, k chosen on evidence, stable across seeds, on two engines.

The engine (``lda.backend``, registry :data:`textmine.core.registry.LDA_ENGINES`) only fits one model
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
- Seeded (guided) topics, from the profile's ``[seed_topics]``: seed i gets topic i through word
  priors (gensim ``eta`` as a k × V matrix, tomotopy ``set_word_prior``): its words get a large
  prior in its topic and a lowered one in every other topic.  The model-independent part (uptake,
  matching, names) is :mod:`textmine.models.seeds`; dictionary and terms :mod:`textmine.models.terms`; scores
  :mod:`textmine.models.quality`.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import functools
import hashlib
import json
import os
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from threadpoolctl import threadpool_limits

from textmine.core import scale
from textmine.core.config import LdaConfig
from textmine.core.errors import TextmineError
from textmine.core.files import publish
from textmine.core.parallel import FitTasks, map_in_processes
from textmine.core.progress import advance, check_stop
from textmine.core.registry import LDA_ENGINES
from textmine.models.quality import quality_summary, scaled_scores, score_topics, seed_stability
from textmine.models.seeds import (
    SEED_OTHER_FACTOR, log_unknown_seed_words, seed_names, seed_settings, seed_uptake, seed_weight)
from textmine.models.terms import build_dictionary, dictionary_from_vocabulary, relevant_terms, top_terms, vocabulary_of
from textmine.models.topicmodel import EngineState, FittedTopics, TopicModel, save_topic_arrays
from textmine.text.cache import write_parquet_atomically
from textmine.text.documents import Documents, documents_at


@dataclass(kw_only=True)
class LdaState(EngineState):
    """LDA's own part of a fit (:attr:`FittedTopics.native`), besides how k was chosen."""

    dictionary: object = field(default=None, repr=False)  # gensim Dictionary; FittedTopics.vocabulary is its words
    engine_model: bytes | None = field(default=None, repr=False)  # tomotopy's saved model (gensim's is not kept)


# Up to this many documents the bag-of-words is built once and kept (a list of (id, count) tuples
# costs ~4 KB a document); past it, it is made chunk by chunk on each pass (BagOfWords), as gensim's
# streamed corpora are, so 1,000,000 opinions do not hold ~4 GB of tuples.
KEEP_BOW_DOCS = 200_000


class BagOfWords(collections.abc.Sequence):
    """Token lists as gensim bag-of-words, made on demand (a re-iterable, sliceable corpus)."""

    def __init__(self, token_lists: Sequence[Sequence[str]], dictionary):
        self.token_lists, self.dictionary = token_lists, dictionary

    def __len__(self) -> int:
        return len(self.token_lists)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self.dictionary.doc2bow(t) for t in self.token_lists[i]]
        return self.dictionary.doc2bow(self.token_lists[i])

    def __iter__(self):
        doc2bow = self.dictionary.doc2bow
        return (doc2bow(t) for t in self.token_lists)


def bag_of_words(token_lists: Sequence[Sequence[str]], dictionary) -> Sequence:
    """The documents as bag-of-words: a list, or a :class:`BagOfWords` past KEEP_BOW_DOCS documents."""
    if len(token_lists) > KEEP_BOW_DOCS:
        return BagOfWords(token_lists, dictionary)
    return [dictionary.doc2bow(tokens) for tokens in token_lists]


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
    def fit(self, bow: list, dictionary, k: int, seed: int, seed_topics: dict | None = None) -> EngineFit:
        """``seed_topics`` (name -> words, in order): seed i's words are favoured in topic i."""


class GensimEngine(LdaEngine):
    """gensim ``LdaMulticore`` with ``workers`` > 1, else ``LdaModel``.

    Both run the same online variational Bayes; with one worker LdaMulticore only
    adds a worker process (and tracebacks from its pool at shutdown), and with
    more than one its result depends on the order workers finish in, so the
    reproducible default is the single-process class.
    """

    def fit(self, bow: list, dictionary, k: int, seed: int, seed_topics: dict | None = None) -> EngineFit:
        from gensim.models import LdaModel, LdaMulticore

        c = self.config
        # Seeded: eta as a (k, V) matrix, the symmetric prior (gensim's 1/k) with the seed words raised in
        # their topics and lowered in the others (it replaces lda.eta, a learned "auto" eta included).
        eta = seeded_eta(dictionary, k, seed_topics, seed_weight(c)) if seed_topics else c.eta
        common = dict(corpus=None if seed_topics else bow, id2word=dictionary, num_topics=k, passes=c.passes,
                      iterations=c.iterations, chunksize=c.chunksize, alpha=c.alpha, eta=eta, random_state=seed,
                      eval_every=None)
        model = LdaMulticore(workers=c.workers, **common) if c.workers > 1 else LdaModel(**common)
        if seed_topics:  # what the constructor does with a corpus, from a seeded starting state
            seed_initial_state(model, bow, dictionary, k, seed_topics)
            model.update(bow)
        return EngineFit(model.get_topics(), document_topic_matrix(model, bow, c.chunksize), model)


class TomotopyEngine(LdaEngine):
    """tomotopy ``LDAModel`` (collapsed Gibbs sampling) on the same Dictionary's words.

    ``workers`` = 1 is exactly reproducible for a seed (tomotopy's parallel samplers are not);
    alpha/eta are tomotopy's symmetric priors (``tomotopy_alpha``/``tomotopy_eta``);
    ``gibbs_iterations`` sweeps (200 matched 500 in c_npmi on 100k opinions: 0.208 vs 0.209).
    """

    def fit(self, bow: list, dictionary, k: int, seed: int, seed_topics: dict | None = None) -> EngineFit:
        import tomotopy as tp

        c = self.config
        model = tp.LDAModel(k=k, alpha=c.tomotopy_alpha, eta=c.tomotopy_eta, seed=seed)
        added = []
        for i, doc in enumerate(bow):
            words = [dictionary[w] for w, n in doc for _ in range(int(n))]
            if words:
                model.add_doc(words)
                added.append(i)
        if seed_topics:  # the same recipe as gensim's eta, on tomotopy's symmetric eta
            known = set(model.vocabs)  # used_vocabs is empty before training
            for word, prior in seeded_priors(dictionary, k, seed_topics, seed_weight(c), c.tomotopy_eta).items():
                if word in known:
                    model.set_word_prior(word, prior)
        # no report of its own: the grid and the per-year stage count whole fits (a slice is a stop point)
        train_in_slices(model, c.gibbs_iterations, c.workers)
        return EngineFit(tomotopy_topic_word(model, dictionary),
                         _spread(np.array([d.get_topic_dist() for d in model.docs]).reshape(-1, k), added, len(bow), k),
                         model.saves())


# tomotopy's train() does not return to Python until its iterations are done (Ctrl-C waited for a whole
# fit: 90 s and more on a large corpus), so its models are trained in slices of about this many seconds,
# between which progress is reported and an interrupt is seen.  Slicing does not change the model
# (tomotopy 0.14: LDAModel and DTModel trained in one call and in slices of 1, 3, 7, 19, 70 iterations
# ended with the same word weights to the last bit), so slices may be sized by time.
TRAIN_SLICE_SECONDS = 1.0


def train_in_slices(model, iterations: int, workers: int, label: str = "", check_every: int = 0, stop=None) -> int:
    """``model.train`` for ``iterations`` in slices (progress: ``label`` with the log-likelihood per word;
    no label: no report, but a stop point all the same); every ``check_every`` iterations
    ``stop(log-likelihood per word)`` may end training early.  Returns the iterations run."""
    import time

    done, per_iteration = 0, None
    while done < iterations:
        boundary = min(iterations, (done // check_every + 1) * check_every) if check_every else iterations
        n = 1 if per_iteration is None else max(1, min(boundary - done, int(TRAIN_SLICE_SECONDS / per_iteration)))
        started = time.perf_counter()
        model.train(n, workers=workers)
        per_iteration = max((time.perf_counter() - started) / n, 1e-6)
        done += n
        ll = float(model.ll_per_word)
        if label:
            advance(f"{label}, log-likelihood/word {ll:.3f}", done, iterations)
        else:
            check_stop("training")
        if done == boundary and stop is not None and stop(ll):
            break
    return done


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


# ---------------------------------------------------------------- seeded (guided) topics

def seeded_priors(dictionary, k: int, seed_topics: dict, weight: float, base: float) -> dict[str, list[float]]:
    """Per seed word of the dictionary, its prior in each of the k topics: ``weight`` in the topics it
    seeds (seed i -> topic i), ``base`` × :data:`SEED_OTHER_FACTOR` in the others."""
    topics: dict[str, set[int]] = {}
    for i, words in enumerate(seed_topics.values()):
        if i >= k:
            break
        for word in words:
            if word in dictionary.token2id:
                topics.setdefault(word, set()).add(i)
    return {word: [weight if t in seeded else base * SEED_OTHER_FACTOR for t in range(k)]
            for word, seeded in topics.items()}


def seeded_eta(dictionary, k: int, seed_topics: dict, weight: float) -> np.ndarray:
    """gensim's eta as a (k, V) matrix: its symmetric prior 1/k, seed words' columns from :func:`seeded_priors`."""
    eta = np.full((k, len(dictionary)), 1.0 / k)
    for word, prior in seeded_priors(dictionary, k, seed_topics, weight, 1.0 / k).items():
        eta[:, dictionary.token2id[word]] = prior
    return eta


def seed_initial_state(model, bow: list, dictionary, k: int, seed_topics: dict) -> None:
    """gensim's random starting topics with each seed word's mass moved into its seeded topics.

    Priors alone barely move online variational Bayes: its random start (about one pseudo-count per
    word and topic) outweighs a lowered prior, and the first E-step decides where the seed words'
    documents go.  Measured on the synthetic corpus (k=8, 10 passes): eta alone left the seeded
    topic unrelated to its seed (seed words ranked 27-232, F1 0.01 against the planted topic) at every
    weight from 0.125 to 20; with this start as well, ranks 1-8 and F1 0.94 at every weight.
    """
    counts = np.zeros(len(dictionary))
    for doc in bow:
        for word, n in doc:
            counts[word] += n
    sstats = model.state.sstats
    for word, prior in seeded_priors(dictionary, k, seed_topics, 1.0, 0.0).items():
        j = dictionary.token2id[word]
        seeded = np.asarray(prior) == 1.0
        sstats[~seeded, j] *= SEED_OTHER_FACTOR
        sstats[seeded, j] = max(counts[j], 1.0) / seeded.sum()
    model.sync_state()


def make_engine(config: LdaConfig) -> LdaEngine:
    return LDA_ENGINES.get(config.backend)(config)


def fit_lda_model(bow: list, dictionary, k: int, config: LdaConfig, seed: int,
                  seed_topics: dict | None = None) -> EngineFit:
    """One model of the configured engine (a top-level function, so the parallel grid can pickle it)."""
    return make_engine(config).fit(bow, dictionary, k, seed, seed_topics or None)


def _n_jobs(config: LdaConfig) -> int:
    return config.n_jobs or (os.cpu_count() or 1)


def _timed_fit(bow: list, dictionary, k: int, config: LdaConfig, seed: int, seed_topics: dict | None) -> tuple:
    """:func:`single_threaded_fit` and its seconds (what the manifest's stage_tasks records)."""
    start = time.perf_counter()
    fit = single_threaded_fit(bow, dictionary, k, config, seed, seed_topics)
    return fit, time.perf_counter() - start


def single_threaded_fit(bow: list, dictionary, k: int, config: LdaConfig, seed: int,
                        seed_topics: dict | None) -> EngineFit:
    """:func:`fit_lda_model` with numpy's BLAS on one thread, wherever it runs: a grid fit holds one core
    (the pool or the cluster holds the cores), and a BLAS reduction split over another number of threads
    could end in other bits, so a fit in a Dask worker (one BLAS thread: Dask's nanny sets it) and one
    here or in a process pool are the same to the last bit."""
    with threadpool_limits(limits=1, user_api="blas"):
        return fit_lda_model(bow, dictionary, k, config, seed, seed_topics)


def fit_many(bow: list, dictionary, jobs: list[tuple[int, int]], config: LdaConfig,
             seed_topics: dict | None = None, *, token_lists: Sequence[Sequence[str]] | None = None,
             tasks: FitTasks | None = None, stage: str = "lda_grid") -> list:
    """Fit one model per (k, seed); results in the order of ``jobs``.  As tasks on the flow's runner
    when ``tasks`` has one (each a :func:`fit_candidate` over ``token_lists`` on disk), else in parallel
    processes here (one at a time with ``n_jobs`` = 1); ``stage`` names them in the manifest."""
    if tasks is not None and tasks.submit is not None:
        return fit_as_tasks(token_lists, jobs, config, seed_topics, tasks, stage)
    if _n_jobs(config) == 1 or len(jobs) == 1:
        timed, how = [], "local (in process)"
        for k, s in jobs:
            timed.append(_timed_fit(bow, dictionary, k, config, s, seed_topics))
            advance("LDA grid (k x seed)", len(timed), len(jobs))
    else:
        timed, how = map_in_processes(_timed_fit, [(bow, dictionary, k, config, s, seed_topics) for k, s in jobs],
                                      _n_jobs(config), stage="LDA grid (k x seed)"), "local (process pool)"
    if tasks is not None and tasks.record is not None:
        tasks.record(stage, [seconds for _, seconds in timed], how)
    return [fit for fit, _ in timed]


# ---------------------------------------------------------------- the fits as tasks (process and Dask runners)

def fit_as_tasks(token_lists: Sequence[Sequence[str]], jobs: list[tuple[int, int]], config: LdaConfig,
                 seed_topics: dict | None, tasks: FitTasks, stage: str) -> list[EngineFit]:
    """Each (k, seed) as a :func:`fit_candidate` task: what crosses to a worker is the token lists' path,
    the settings and where to write; what comes back, where the result is.  Read back here in the order
    of ``jobs``, so the fits are those of :func:`fit_many` in this process, to the last bit."""
    tokens = tokens_file(token_lists, tasks)
    settings = config.model_dump_json()
    seeded = dict(seed_topics or {})
    arguments = [(tokens, k, s, settings, seeded, candidate_path(tasks.folder, tokens, k, s, settings, seeded))
                 for k, s in jobs]
    return [read_candidate(r["entry"]) for r in tasks.submit(stage, fit_candidate, arguments)]


def tokens_file(token_lists: Sequence[Sequence[str]], tasks: FitTasks) -> str:
    """The token lists as a file workers read: the documents' own units.parquet when they are the
    documents' units (the fit on every document), else a Parquet file named by their content (a sample)."""
    if tasks.documents and token_lists is documents_at(tasks.documents).unit_tokens:
        return str(Path(tasks.documents) / "units.parquet")
    digest = hashlib.sha256(json.dumps(list(token_lists), ensure_ascii=False).encode()).hexdigest()[:32]
    path = Path(tasks.folder) / "tokens" / f"{digest}.parquet"
    if not path.is_file():
        write_parquet_atomically(pa.table({"tokens": pa.array(list(token_lists), pa.list_(pa.string()))}), path)
    return str(path)


def candidate_path(folder, tokens: str, k: int, seed: int, settings: str, seed_topics: dict) -> str:
    """Where one fit's result goes, named by everything it depends on (a task Dask runs again after a
    worker was lost finds it written, or writes the same bytes)."""
    key = json.dumps([tokens, k, seed, settings, seed_topics], ensure_ascii=False, sort_keys=True)
    return str(Path(folder) / "fits" / f"k{k}-s{seed}-{hashlib.sha256(key.encode()).hexdigest()[:24]}.npz")


@functools.lru_cache(maxsize=1)
def _candidate_corpus(tokens: str, settings: str) -> tuple:
    """A worker's token lists, dictionary and bag-of-words for the fits over one file (kept for the
    next candidate of the same grid: the grid's fits share them)."""
    token_lists = pq.read_table(tokens, columns=["tokens"]).column("tokens").to_pylist()
    dictionary = build_dictionary(token_lists, LdaConfig.model_validate_json(settings))
    return dictionary, bag_of_words(token_lists, dictionary)


def fit_candidate(tokens: str, k: int, seed: int, settings: str, seed_topics: dict, out: str) -> dict:
    """One LDA fit in a worker: the token lists at ``tokens`` (Parquet, column ``tokens``), the [lda]
    settings as JSON, one k and seed; the dictionary is built here as the flow builds it.  Writes the
    topic-word and document-topic arrays (and tomotopy's saved model) to ``out`` and returns
    ``{"entry": out, "seconds": ...}``."""
    start = time.perf_counter()
    if not Path(out).is_file():
        if not Path(tokens).is_file():
            raise TextmineError(f"the token lists {tokens} the run wrote cannot be read on this worker",
                                file=tokens, fix="give every worker the same run.cache_dir on shared storage")
        dictionary, bow = _candidate_corpus(tokens, settings)
        fit = single_threaded_fit(bow, dictionary, k, LdaConfig.model_validate_json(settings), seed,
                                  seed_topics or None)
        model = np.frombuffer(fit.model, dtype=np.uint8) if isinstance(fit.model, bytes) else np.zeros(0, np.uint8)
        with publish(Path(out)) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, topic_word=fit.topic_word, doc_topic=fit.doc_topic, model=model,
                         has_model=np.array(isinstance(fit.model, bytes)))
        if isinstance(bow, BagOfWords):  # a whole large corpus (the seed fits): not kept in a long-lived worker
            _candidate_corpus.cache_clear()
    return {"entry": out, "seconds": time.perf_counter() - start}


def read_candidate(path: str) -> EngineFit:
    """A :func:`fit_candidate` result as the :class:`EngineFit` it was (gensim's model object is not kept)."""
    try:
        with np.load(path) as saved:
            model = saved["model"].tobytes() if bool(saved["has_model"]) else None
            return EngineFit(saved["topic_word"], saved["doc_topic"], model)
    except FileNotFoundError:
        raise TextmineError(f"the LDA fit {path} a worker wrote cannot be read here", file=path,
                            fix="give every worker and this machine the same run.cache_dir on shared storage") from None


def document_topic_matrix(model, bow: list, chunksize: int = 2000) -> np.ndarray:
    """Dense document-topic probabilities (rows sum to 1; empty documents are uniform).

    Batched variational inference (what ``get_document_topics`` does one
    document at a time), which is several times faster on large corpora.
    """
    k = model.num_topics
    parts, empty = [], []
    for i in range(0, len(bow), chunksize):
        chunk = bow[i:i + chunksize]
        parts.append(model.inference(chunk)[0])
        empty += [len(doc) == 0 for doc in chunk]
    gamma = np.vstack(parts) if parts else np.zeros((0, k))
    empty = np.array(empty, dtype=bool)
    matrix = gamma / gamma.sum(axis=1, keepdims=True)
    matrix[empty] = 1.0 / k
    return matrix


def score_runs(fits: list[EngineFit], token_lists, dictionary, config: LdaConfig, seed: int) -> dict:
    """Coherence and diversity of each run of one k, and the runs' seed stability."""
    vocab = vocabulary_of(dictionary)
    k = fits[0].topic_word.shape[0]
    stability = seed_stability([f.topic_word for f in fits])
    central = fits[stability["central"]].topic_word
    terms = [[w for w, _ in topic] for topic in top_terms(central, vocab, config.top_n_terms)]
    return {
        "k": k,
        **score_topics(token_lists, dictionary, terms, seed, [[w for w, _ in t] for t in top_terms(central, vocab, 25)]),
        "stability": stability["mean"],
        "_stability": stability,
    }


def choose_k(rows: list[dict]) -> int:
    """The k with the best mean of min-max-scaled c_v, c_npmi, diversity and stability (ties: fewer topics)."""
    scores = scaled_scores(rows, {"c_v": 1, "c_npmi": 1, "diversity": 1, "stability": 1})
    best = max(range(len(rows)), key=lambda i: (round(scores[i], 9), -rows[i]["k"]))
    return rows[best]["k"]


def topic_grid(config: LdaConfig, n_docs: int, num_topics=None, n_seeds: int = 0) -> list[int]:
    """The topic counts to try: the fixed one, or the grid's counts the corpus can support (and, with
    seeded topics, at least one topic per seed: smaller counts are dropped)."""
    fixed = config.num_topics if num_topics is None else num_topics
    grid = [int(fixed)] if fixed != "auto" else sorted(set(config.k_grid))
    if n_seeds and not [k for k in grid if k >= n_seeds]:
        setting = "lda.num_topics" if fixed != "auto" else "lda.k_grid"
        raise TextmineError(f"the profile seeds {n_seeds} topics but {setting} allows at most {max(grid)}",
                            fix=f"raise {setting} to at least {n_seeds}, or remove seed topics from [seed_topics] "
                                "in profile.toml")
    grid = [k for k in grid if k >= n_seeds]
    if not [k for k in grid if k <= n_docs]:
        raise TextmineError(f"{n_docs} documents cannot support {min(grid)} topics",
                            fix="add documents or lower lda.num_topics / lda.k_grid")
    return [k for k in grid if k <= n_docs]


def fit_global_lda(token_lists: Sequence[Sequence[str]], config: LdaConfig, seed: int,
                   seed_topics: dict | None = None, tasks: FitTasks | None = None) -> FittedTopics:
    """The global model: k from the grid (or fixed), the most central of ``config.seeds`` runs.  Its rows
    are ``token_lists``' (units: :func:`on_documents` makes them documents); ``native`` is an :class:`LdaState`.

    ``seed_topics`` (name -> words, in order) seeds topic i with seed i in every run of the grid;
    grid values below the number of seeds are dropped (``selected_by`` says so).  ``tasks``: where the
    grid's fits run (:func:`fit_many`; stage ``lda_grid``).
    """
    seed_topics = dict(seed_topics or {})
    grid = topic_grid(config, len(token_lists), n_seeds=len(seed_topics))
    full = topic_grid(config, len(token_lists)) if seed_topics else grid
    dropped = [k for k in full if k not in grid]
    note = f"; k below the {len(seed_topics)} seeded topics dropped: {dropped}" if dropped else ""
    dictionary = build_dictionary(token_lists, config)
    bow = bag_of_words(token_lists, dictionary)
    seeds = [seed + i for i in range(max(1, config.seeds))]
    fits = fit_many(bow, dictionary, [(k, s) for k in grid for s in seeds], config, seed_topics,
                    token_lists=token_lists, tasks=tasks, stage="lda_grid")
    if len(grid) == 1 and len(seeds) == 1:  # nothing to choose between: scoring is the evaluation stage's job
        result = _fitted(fits[0], dictionary, bow, config, seeds[0], {}, [], "fixed" + note)
        result.seed_doc_topics = [result.doc_topic]
        return result
    by_k = {k: fits[i * len(seeds):(i + 1) * len(seeds)] for i, k in enumerate(grid)}
    rows = [score_runs(by_k[k], token_lists, dictionary, config, seed) for k in grid]
    k = choose_k(rows) if len(grid) > 1 else grid[0]
    row = next(r for r in rows if r["k"] == k)
    stability = row["_stability"]
    kept = by_k[k][stability["central"]]
    selection = [{key: v for key, v in r.items() if not key.startswith("_")} for r in rows]
    result = _fitted(kept, dictionary, bow, config, seeds[stability["central"]], stability, selection,
                     ("grid (c_v, c_npmi, diversity, stability)" if len(grid) > 1 else "fixed") + note)
    result.seed_doc_topics = [f.doc_topic for f in by_k[k]]
    return result


def infer_with_topics(topic_word: np.ndarray, dictionary, bow: list, alpha, seed: int,
                      chunksize: int = 2000) -> np.ndarray:
    """Document-topic rows of ``bow`` under fixed topics ``topic_word`` (rows over ``dictionary``), by gensim's
    variational inference (its E-step, seeded), whichever engine fitted the topics.  The topics' own word
    weights stand in for gensim's exp(E[log beta]), which a stored fit does not keep."""
    from gensim.models import LdaModel

    model = LdaModel(id2word=dictionary, num_topics=topic_word.shape[0], alpha=alpha, random_state=seed,
                     dtype=np.float64)  # no corpus: nothing is trained
    model.expElogbeta = np.asarray(topic_word, dtype=np.float64)
    return document_topic_matrix(model, bow, chunksize)


def topic_order(rows: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """For each topic (column) of ``rows``, the column of ``reference`` it matches (one to one, by the cosine
    of their document columns over the same documents): ``reference_rows[:, order]`` is in ``rows``' order."""
    from scipy.optimize import linear_sum_assignment

    def unit(m: np.ndarray) -> np.ndarray:
        return m / np.maximum(np.linalg.norm(m, axis=0, keepdims=True), 1e-12)

    _, order = linear_sum_assignment(-(unit(rows).T @ unit(reference)))
    return order


def fit_seeds(token_lists: Sequence[Sequence[str]], k: int, config: LdaConfig, seed: int,
              seed_topics: dict | None = None, tasks: FitTasks | None = None) -> FittedTopics:
    """``config.seeds`` runs of one k on every document (seeds ``seed``, ``seed + 1``, ...), keeping the
    most central, as the grid keeps it: the large-corpus plan's final fit (textmine.core.scale).

    Measured on 99,377 synthetic opinions (k = 12, 3 passes): the three seeds' runs agreed with the
    planted topics at NMI 0.670, 0.585 and 0.674, and the most central was the first; one run with the
    sample grid's central seed had drawn the 0.585.  Past KEEP_BOW_DOCS documents the runs go one after
    another in this process (each worker process would hold its own copy of every token list), unless
    ``tasks`` sends them to the flow's runner (stage ``lda_seeds``): a cluster's workers hold the copies.
    """
    topic_grid(config, len(token_lists), num_topics=k, n_seeds=len(seed_topics or {}))  # k the data and seeds allow
    dictionary = build_dictionary(token_lists, config)
    bow = bag_of_words(token_lists, dictionary)
    seeds = [seed + i for i in range(max(1, config.seeds))]
    in_turn = config.model_copy(update={"n_jobs": 1}) if isinstance(bow, BagOfWords) else config
    fits = fit_many(bow, dictionary, [(k, s) for s in seeds], in_turn, seed_topics, token_lists=token_lists,
                    tasks=tasks, stage="lda_seeds")
    stability = seed_stability([f.topic_word for f in fits]) if len(fits) > 1 else {}
    central = stability.get("central", 0)
    result = _fitted(fits[central], dictionary, bow, config, seeds[central], stability, [], "fixed")
    result.seed_doc_topics = [f.doc_topic for f in fits]
    return result


def _fitted(fit: EngineFit, dictionary, bow, config: LdaConfig, seed: int, stability: dict, selection: list[dict],
            selected_by: str) -> FittedTopics:
    topic_word, doc_topic = fit.topic_word, fit.doc_topic
    lengths = np.array([sum(c for _, c in doc) for doc in bow], dtype=float)
    vocab = vocabulary_of(dictionary)
    return FittedTopics(
        doc_topic=doc_topic, topic_terms=top_terms(topic_word, vocab, config.top_n_terms), topic_word=topic_word,
        vocabulary=vocab, relevant_terms=relevant_terms(topic_word, doc_topic, lengths, vocab, config.relevance_lambda,
                                                        config.top_n_terms),
        quality={"num_topics": topic_word.shape[0]},
        native=LdaState(dictionary=dictionary, seed=seed, selected_by=selected_by, selection=selection,
                        stability=stability, engine_model=fit.model if isinstance(fit.model, bytes) else None),
    )


def yearly_topic_count(n_docs: int, k_global: int, config: LdaConfig) -> int:
    """Per-year k: the global k, fewer for small years (about one topic per ``docs_per_topic`` documents)."""
    return max(2, min(k_global, n_docs // config.yearly_docs_per_topic))


def fit_yearly_lda(token_lists: Sequence[Sequence[str]], dictionary, k_global: int, config: LdaConfig,
                   seed: int, seed_topics: dict | None = None) -> FittedTopics | None:
    """One year's model on the year's own words of the global dictionary; None when the year is too small.

    Its topic-word rows are laid back onto the global dictionary (zero for words the year lacks), so
    every year's topics compare with every other's.  Fitting on the year's own words (not the whole
    dictionary) makes the model depend on that year's documents only: adding a later year leaves
    earlier years' models, and their cache entries, unchanged.

    Seeded like the global model (seed i -> topic i, on the words of the seed the year has), with at
    least one topic per seed, so a seed's topic is the same topic in every year of the lineage.
    """
    if len(token_lists) < config.yearly_min_docs:
        return None
    present = {t for tokens in token_lists for t in tokens}
    vocabulary = vocabulary_of(dictionary)
    year_vocabulary = [w for w in vocabulary if w in present]
    year_dictionary = dictionary_from_vocabulary(year_vocabulary)
    bow = bag_of_words(token_lists, year_dictionary)
    k = yearly_topic_count(len(token_lists), k_global, config)
    if seed_topics:
        k = max(k, min(len(seed_topics), k_global))
    result = _fitted(fit_lda_model(bow, year_dictionary, k, config, seed, seed_topics), year_dictionary, bow, config,
                     seed, {}, [], "global k, scaled to the year's size")
    wide = np.zeros((k, len(vocabulary)))
    wide[:, [dictionary.token2id[w] for w in year_vocabulary]] = result.topic_word
    result.topic_word, result.vocabulary, result.native.dictionary = wide, vocabulary, dictionary
    return result


def on_documents(fitted: FittedTopics, data: Documents) -> FittedTopics:
    """A fit over ``data``'s units (what LDA is fitted on) with its rows, and its seeds' rows, as documents."""
    doc_topic = data.units_to_documents(fitted.doc_topic)
    seeds = [doc_topic if m is fitted.doc_topic else data.units_to_documents(m) for m in fitted.seed_doc_topics]
    return dataclasses.replace(fitted, doc_topic=doc_topic, seed_doc_topics=seeds)


class LdaTopicModel(TopicModel):
    """LDA: a global model with k chosen on evidence, per-year models on the global dictionary."""

    name = "lda"
    settings_section, settings_class = "lda", LdaConfig
    engine_packages = ("gensim", "tomotopy")

    def related_settings(self) -> dict:
        return seed_settings(self.seed_topics, self.settings)

    @classmethod
    def load_engine(cls) -> None:
        import gensim.models  # noqa: F401  (both engines: gensim infers for placed documents and scores coherence)

    @classmethod
    def check_corpus(cls, config, n_docs: int, source: str) -> None:
        """The k grid's smallest count (or the fixed k) needs at least as many documents."""
        settings = cls.settings_of(config)
        fixed = [settings.num_topics] if settings.num_topics != "auto" else settings.k_grid
        if n_docs < min(fixed):
            raise TextmineError(f"{n_docs} documents cannot support {min(fixed)} topics", file=source,
                                fix="add documents or lower lda.num_topics / lda.k_grid")

    @classmethod
    def large_corpus_switches(cls, n_docs: int, docs_per_year: dict, docs_per_period: dict, config,
                              why: str) -> list[dict]:
        """k searched on a stratified sample, then fitted on every document; gensim's passes lowered."""
        s, switches, settings = config.scale, [], cls.settings_of(config)
        if scale.selects_on_sample(n_docs, config) and settings.num_topics == "auto":
            grid = f"{len(settings.k_grid)} k x {settings.seeds} seeds"
            seeds = settings.seeds
            switches.append({"setting": "lda k selection", "value": f"grid ({grid}) on a stratified sample of "
                             f"{s.selection_docs:,} documents, then the chosen k fitted on all {n_docs:,} with "
                             f"{seeds} seed{'s' if seeds > 1 else ''}" + (", the most central kept" if seeds > 1 else ""),
                             "why": why, "override": "scale.selection_docs, or scale.mode = off",
                             "ko": f"LDA 토픽 수(k)를 연도별 층화 표본 {s.selection_docs:,}건에서 고른 뒤 전체 "
                                   f"{n_docs:,}건에 시드 {seeds}개로 적합" + ("해 가장 중심적인 결과 채택" if seeds > 1 else "")})
        if settings.backend == "gensim":
            passes = scale.lda_passes(n_docs, config)
            if passes < settings.passes:
                switches.append({"setting": "lda.passes", "value": passes,
                                 "why": f"{why}; about scale.lda_doc_passes = {s.lda_doc_passes:,} documents seen",
                                 "override": "scale.lda_doc_passes, or scale.mode = off",
                                 "ko": f"LDA(gensim) 학습 반복(passes)을 {settings.passes}회에서 {passes}회로 줄임"})
        return switches

    def fit(self, data: Documents, warm_start: dict | None = None) -> FittedTopics:
        c = self.settings
        seeds = self.seed_topics
        warm = warm_start is not None and c.num_topics == "auto" and warm_start["k"] >= len(seeds)
        scored_on = data.unit_tokens
        if scale.selects_on_sample(len(data), self.config):
            result, scored_on = self._fit_large(data, warm_start["k"] if warm else None)
        else:
            result = fit_global_lda(data.unit_tokens, c.model_copy(update={"num_topics": warm_start["k"]}) if warm else c,
                                    self.seed, seeds, self.fit_tasks)
        state = result.native
        if warm:
            how = state.selected_by.partition("; ")[2]  # the large-corpus fit says how it was fitted
            state.selected_by = (f"warm start: k={warm_start['k']} from the previous selection (--reselect to search "
                                 "again)" + (f"; {how}" if how else ""))
        if state.selection and scored_on is data.unit_tokens:
            chosen = next(r for r in state.selection if r["k"] == result.num_topics)
            scores = {m: chosen[m] for m in ("c_v", "c_npmi", "diversity")}
        else:
            scores = score_topics(scored_on, state.dictionary, [[t for t, _ in topic] for topic in result.topic_terms],
                                  self.seed, [[t for t, _ in topic] for topic in
                                              top_terms(result.topic_word, result.vocabulary, 25)])
        extra = {}
        if seeds:
            slots = {n: i for i, n in enumerate(seeds)}
            uptake = seed_uptake(result.topic_word, result.vocabulary, seeds, slots)
            log_unknown_seed_words(self.name, uptake)
            extra = {"seed_topics": uptake, "seed_weight": seed_weight(c)}
            if c.backend == "gensim" and c.eta == "auto":
                extra["eta"] = "the seeded prior matrix (lda.eta = auto is not learned when topics are seeded)"
        quality = quality_summary(result.num_topics, state.selected_by, state.seed, scores, state.stability,
                                  c.seeds, state.selection, engine=c.backend, vocabulary_size=len(state.dictionary),
                                  **extra)
        return dataclasses.replace(on_documents(result, data), quality=quality,
                                   seed_names=seed_names(extra["seed_topics"]) if seeds else {})

    def _fit_large(self, data: Documents, warm_k: int | None) -> tuple[FittedTopics, list]:
        """The large-corpus plan (textmine.core.scale): k searched on a stratified sample (unless fixed or
        warm-started), then one fit of it on every document with the sample grid's most central seed
        and passes lowered to the plan's budget.  Returns the result and the sample's tokens, on which
        the final topics are scored (coherence over every document would cost more than the fit)."""
        c, plan = self.settings, self.config.scale
        sample = data.subset(scale.stratified_sample(data.doc_years, plan.selection_docs, self.seed))
        k, searched = warm_k, None
        if k is None and c.num_topics == "auto":
            searched = fit_global_lda(sample.unit_tokens, c, self.seed, self.seed_topics, self.fit_tasks)
            k = searched.num_topics
        elif k is None:
            k = int(c.num_topics)
        passes = scale.lda_passes(len(data), self.config)
        result = fit_seeds(data.unit_tokens, k, c.model_copy(update={"passes": passes}), self.seed, self.seed_topics,
                           self.fit_tasks)
        how = (f"{c.seeds} seed{'s' if c.seeds > 1 else ''} of k={k} on all {len(data):,} documents"
               + (f" ({passes} passes)" if c.backend == "gensim" else "")
               + (f", the most central kept (seed {result.native.seed})" if c.seeds > 1 else ""))
        if searched is not None:
            result.native.selection = searched.native.selection
            result.native.selected_by = (f"{searched.native.selected_by} on a stratified sample of {len(sample):,} "
                                         f"documents; {how}")
        else:
            result.native.selected_by = f"{'fixed' if warm_k is None else 'warm start'}; {how}"
        return result, sample.unit_tokens

    def selection(self, fitted: FittedTopics) -> dict | None:
        return {"k": fitted.num_topics} if self.settings.num_topics == "auto" else None

    def place(self, data: Documents, earlier: FittedTopics, plan) -> tuple[FittedTopics | None, str]:
        """The earlier fit's topics and the earlier documents' rows (every seed's too) kept; the new documents'
        rows inferred with the topics fixed (:func:`infer_with_topics`); coherence scored again on every
        document (a large corpus: on the stratified sample its fit is scored on)."""
        c = self.settings
        dictionary = dictionary_from_vocabulary(earlier.vocabulary)
        new = data.subset(plan.new)
        words = dictionary.token2id
        tokens = sum(len(t) for t in new.unit_tokens)
        known = sum(1 for unit in new.unit_tokens for w in unit if w in words) / tokens if tokens else 1.0
        if known < c.place_min_known_share:
            return None, (f"{known:.1%} of the new documents' tokens are words of the model "
                          f"(place_min_known_share = {c.place_min_known_share:.0%}): a new kind of text")
        k = earlier.num_topics
        alpha = np.full(k, c.tomotopy_alpha) if c.backend == "tomotopy" else ("symmetric" if c.alpha == "auto" else c.alpha)
        placed = new.units_to_documents(infer_with_topics(earlier.topic_word, dictionary,
                                                          bag_of_words(new.unit_tokens, dictionary), alpha, self.seed,
                                                          c.chunksize))

        def rows(earlier_rows: np.ndarray) -> np.ndarray:
            """A seed run's rows: its earlier rows kept, the placed rows in its own topic order (the seed runs
            are not aligned with each other: each topic matched to the kept run's by its earlier rows)."""
            kept = earlier_rows[plan.previous_rows]
            order = np.arange(k) if earlier_rows is earlier.doc_topic else topic_order(kept, central_kept)
            out = np.zeros((len(data), k))
            out[plan.kept] = kept
            out[plan.new] = placed[:, order]
            return out

        central_kept = earlier.doc_topic[plan.previous_rows]

        scored_on = data.unit_tokens  # a large corpus: on a stratified sample, as its full fit was scored
        if scale.selects_on_sample(len(data), self.config):
            scored_on = data.subset(scale.stratified_sample(data.doc_years, self.config.scale.selection_docs,
                                                            self.seed)).unit_tokens
        scores = score_topics(scored_on, dictionary, [[t for t, _ in topic] for topic in earlier.topic_terms],
                              self.seed, [[t for t, _ in topic] for topic in top_terms(earlier.topic_word,
                                                                                       earlier.vocabulary, 25)])
        quality = {**earlier.quality, "coherence_c_v": scores.get("c_v"), "coherence_c_npmi": scores.get("c_npmi"),
                   "topic_diversity": scores.get("diversity"),
                   "selected_by": f"placed in the earlier fit ({earlier.quality.get('selected_by')})",
                   "placement": {"known_token_share": round(known, 4)}}
        return dataclasses.replace(earlier, doc_topic=rows(earlier.doc_topic), quality=quality,
                                   seed_doc_topics=[rows(m) for m in earlier.seed_doc_topics],
                                   native=dataclasses.replace(earlier.native, dictionary=dictionary,
                                                              selected_by=quality["selected_by"])), ""

    def fit_year(self, data: Documents, year, fitted: FittedTopics) -> FittedTopics | None:
        """On the year's own dictionary (the vocabulary rules applied to the year alone), so the model
        depends on that year's documents and the global k only: adding a year leaves it, and its
        cache entry, unchanged.  :func:`textmine.models.topicmodel.relayout` lays it onto the global words."""
        idx = data.year_index(year)
        settings = self.settings
        if scale.is_large(len(data), self.config):  # at most scale.yearly_docs of the year's documents
            keep = scale.sample_per_year(np.asarray(data.doc_years)[idx], self.config.scale.yearly_docs, self.seed)
            idx = idx[keep]
            settings = settings.model_copy(update={"passes": scale.lda_passes(len(idx), self.config)})
        tokens = data.subset(idx).unit_tokens
        if len(tokens) < self.settings.yearly_min_docs:
            return None
        try:
            # The year's rare words are pruned as globally, but not its dominant ones: a word in most
            # of one year's opinions (진로 in 2015) is that year's story, not noise.  Words common in
            # the whole corpus are left out when the model is laid onto the global dictionary.
            dictionary = build_dictionary(tokens, settings.model_copy(update={"no_above": 1.0}))
        except TextmineError:  # a year whose every word is too rare or too common: nothing to model
            return None
        result = fit_yearly_lda(tokens, dictionary, fitted.num_topics, settings, self.seed, self.seed_topics)
        if result is None:
            return None
        if self.seed_topics:  # each year's topic i is seeded with seed i too: named when taken up
            uptake = seed_uptake(result.topic_word, result.vocabulary, self.seed_topics,
                                 {n: i for i, n in enumerate(self.seed_topics)})
            result.seed_names = seed_names(uptake)
            result.quality["seed_topics"] = {n: e["topic"] if e["taken_up"] else None for n, e in uptake.items()}
        return result

    def year_inputs(self, data: Documents, year, fitted: FittedTopics) -> dict | None:
        return {"k_global": fitted.num_topics}

    def year_note(self, data: Documents, year) -> str:
        return f"skipped: fewer than {self.settings.yearly_min_docs} documents"

    def save(self, fitted: FittedTopics, folder: Path) -> None:
        native = fitted.native
        save_topic_arrays(fitted, folder, {"engine": self.settings.backend, "num_topics": fitted.num_topics,
                                           "seed": native.seed})
        if native.engine_model is not None:  # tomotopy's own binary format (tomotopy.LDAModel.load)
            (folder / "model.tomotopy.bin").write_bytes(native.engine_model)

    def save_native(self, native: LdaState, folder: Path) -> None:
        import json

        (folder / "native.json").write_text(json.dumps({"seed": native.seed}), encoding="utf-8")
        if native.engine_model is not None:
            (folder / "model.tomotopy.bin").write_bytes(native.engine_model)

    def load_native(self, folder: Path, fitted: FittedTopics) -> LdaState:
        import json

        engine = folder / "model.tomotopy.bin"
        return LdaState(dictionary=dictionary_from_vocabulary(fitted.vocabulary),
                        seed=json.loads((folder / "native.json").read_text(encoding="utf-8"))["seed"],
                        engine_model=engine.read_bytes() if engine.is_file() else None)
