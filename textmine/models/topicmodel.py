"""The seam every topic model plugs into.

A model is a small class registered in :data:`textmine.core.registry.MODELS`:

- ``TopicModel(config)`` only stores settings (sklearn's habit); ``fit(data)`` returns the global
  model as :class:`FittedTopics`, ``fit_year(data, year, fitted)`` one year's model for the lineage
  (or None), ``save(fitted, folder)`` writes it without pickle.
- :class:`FittedTopics` is plain arrays: document-topic matrix, topic-word weights over a
  vocabulary, top terms, per-seed replicates and a quality dict.  Whatever the engine, it is all
  that trajectories, lineage, phases, evaluation, the report and the xlsx ever read, and the only
  result type: an engine's fit functions return it too, their own state in ``native`` (an
  :class:`EngineState` subclass that only the model's class reads).
- A model's settings are the Config section it names (``settings_section``/``settings_class``),
  read through the registry (:func:`model_settings`, :meth:`TopicModel.settings_of`).
- :func:`textmine.analysis.summaries.summarize` turns any of them into outputs;
  :mod:`textmine.models.store` keeps them on disk and fits through the cache;
  :mod:`textmine.text.documents` is what they are fitted on.

Adding a model is a module with a ``TopicModel`` subclass, a registry line and its tests (README, Models).
"""
from __future__ import annotations

import logging
import threading

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel

from textmine.core import scale
from textmine.core.config import Config
from textmine.core.registry import MODELS
from textmine.models import embed
from textmine.models.topics import topic_label
from textmine.text.documents import Documents

log = logging.getLogger(__name__)

OUTLIER = -1


def embed_documents(data: Documents, config, embed_groups=None) -> dict:
    """Attach embeddings (per year, through the cache) to ``data``; returns what the manifest records.
    On a large corpus only a per-year sample is embedded (``data.embedded`` says which)."""
    e = config.embed
    embedder = embed.make_embedder(e, config.run.seed, config.run.cache_dir)
    chosen = np.arange(len(data))
    if scale.is_large(len(data), config):  # a large corpus: a per-year sample (textmine.core.scale)
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


@dataclass(kw_only=True)
class EngineState:
    """What an engine's fit says about itself beyond :class:`FittedTopics`' arrays: how the topic count was
    chosen (the grid's rows, the rule, the kept seed and the seeds' stability).  Each engine subclasses it
    with its own state (LDA's dictionary, BERTopic's model and clustering, the DTM's per-period words) and
    puts it in :attr:`FittedTopics.native`; the seam never reads it, only the model's own class does
    (quality, saving, per-year fits).  Read back from the cache only what ``load_native`` restores is set."""

    seed: int = 0                                       # the kept run's seed
    selected_by: str = "fixed"                          # how the topic count was chosen (evaluation.json)
    selection: list[dict] = field(default_factory=list)  # one row per candidate of the grid
    stability: dict = field(default_factory=dict)       # seed stability of the chosen candidate


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
    native: EngineState | None = field(default=None, repr=False)  # the engine's own state (saving, per-year fits)
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
    """One kind of topic model.  Subclasses set ``name``, ``settings_section``/``settings_class`` and
    implement ``fit``."""

    name: ClassVar[str]
    # Where this model's settings are: the Config section (``[lda]``, ``--set lda.k_grid=...``) and its pydantic
    # class.  The classes stay in textmine.core.config (core never imports models, and the Config, the Prefect
    # flow's typed parameter, is validated before any model module loads); a model registers which one is its
    # own, checked when the class is defined, and everything reads a model's settings through
    # :meth:`settings_of`.  Several models may share a section (DTM reads LDA's vocabulary rules from [lda]).
    settings_section: ClassVar[str]
    settings_class: ClassVar[type[BaseModel]]
    needs_embeddings: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        section = cls.__dict__.get("settings_section")
        if section is None:
            return  # inherited (a variant of a model), or an abstract helper
        declared = Config.model_fields.get(section)
        if declared is None or declared.annotation is not cls.settings_class:
            found = f"is of {declared.annotation.__name__}" if declared is not None else "is not a section of Config"
            raise TypeError(f"model {cls.__dict__.get('name', cls.__name__)!r}: settings section {section!r} {found}, "
                            f"not {cls.settings_class.__name__}; add `{section}: {cls.settings_class.__name__} = "
                            "Field(default_factory=...)` to textmine.core.config.Config or name the section that holds "
                            "its settings")

    @classmethod
    def settings_of(cls, config: Config) -> BaseModel:
        """This model's settings in ``config`` (the section it registered)."""
        return getattr(config, cls.settings_section)

    def __init__(self, config, seed_topics: dict[str, list[str]] | None = None):
        self.config = config               # the whole textmine.core.config.Config (run.seed, align...)
        self.settings = self.settings_of(config)
        self.seed = config.run.seed
        self.seed_topics = dict(seed_topics or {})  # the profile's [seed_topics]: name -> words, in order
        # Where the global fit's independent fits run (textmine.core.parallel.FitTasks), set by the flow
        # around one global fit; None: the model's own way.  It is no part of the fit's cache key: every
        # runner gives the same fit.
        self.fit_tasks = None

    @abstractmethod
    def fit(self, data: Documents, warm_start: dict | None = None) -> FittedTopics:
        """The global model over every document.  ``warm_start`` is a previous :meth:`selection`
        (k, cluster size...) to use instead of searching the grid again (incremental reruns)."""

    def selection(self, fitted: FittedTopics) -> dict | None:
        """What the grid chose (None when nothing was chosen): the warm start of the next fit."""
        return None

    def place(self, data: Documents, earlier: FittedTopics, plan) -> tuple[FittedTopics | None, str]:
        """The global model over ``data`` made from ``earlier`` (a previous run's global fit) by placing the new
        documents of ``plan`` (textmine.models.placement.PlacementPlan) in its topics; (None, why) when this
        model does not place new years or these documents do not fit its topics (then it is fitted)."""
        return None, f"{self.name} does not place new years"

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

    @classmethod
    def load_engine(cls) -> None:
        """Import the engine's libraries (:func:`load_engines` does it beside the stages before the fits)."""

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

    @classmethod
    def check_corpus(cls, config, n_docs: int, source: str) -> None:
        """Refuse, before the engine starts (textmine.preflight), a corpus of ``n_docs`` modelled documents
        this model cannot fit under ``config``: a :class:`~textmine.core.errors.TextmineError` naming ``source``."""

    @classmethod
    def large_corpus_switches(cls, n_docs: int, docs_per_year: dict, docs_per_period: dict, config,
                              why: str) -> list[dict]:
        """What this model does differently on a large corpus (textmine.core.scale.plan; called only then):
        one {"setting", "value", "why", "override", "ko"} per switch taken, ``why`` the plan's reason."""
        return []

    @property
    def yearly(self) -> bool:
        return bool(getattr(self.settings, "yearly", False))

    @property
    def save_models(self) -> bool:
        return bool(getattr(self.settings, "save_models", False))


# ---------------------------------------------------------------- fitted models on disk (no pickle)

def save_topic_arrays(fitted: FittedTopics, folder: Path, extra: dict) -> None:
    """Topic-word weights (.npy), vocabulary, terms and settings (JSON): readable without textmine or pickle."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "topic_word.npy", fitted.topic_word.astype(np.float32))
    (folder / "textmine.json").write_text(json.dumps({
        "vocabulary": fitted.vocabulary, "topic_terms": fitted.topic_terms, "relevant_terms": fitted.relevant_terms,
        "labels": fitted.labels(), **extra}, ensure_ascii=False), encoding="utf-8")


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


def model_settings(config: Config, name: str) -> BaseModel:
    """The settings of the registered model ``name`` in ``config``, found through the registry."""
    return MODELS.get(name).settings_of(config)


def fit_order(names: Sequence[str]) -> list[str]:
    """The run's models in the order to fit them: each after the models it reuses (``fitted_after``),
    otherwise in the order given."""
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


def load_engines(names: Sequence[str], also: Sequence[str] = ()) -> threading.Thread:
    """Import the engines of the models ``names`` in a background thread, while the stages before the fits
    (masking, tokenizing, embedding) run: most of their time is Kiwi's and the embedder's native code, which
    leaves the interpreter free.  Importing BERTopic and gensim took 1.6 s and 0.6 s of a new year's 15 s run
    in the flow's own thread (bundled corpus; session 12); ``also``: other modules to import meanwhile.  An
    import that fails here fails again, with its error, where it is used."""
    import importlib

    def load() -> None:
        for name in names:
            try:
                MODELS.get(name).load_engine()
            except Exception:  # noqa: BLE001 - reported where the model is used
                log.debug("loading %s's engine beforehand failed", name, exc_info=True)
        for module in also:
            try:
                importlib.import_module(module)
            except Exception:  # noqa: BLE001 - reported where it is used
                log.debug("importing %s beforehand failed", module, exc_info=True)

    thread = threading.Thread(target=load, name="textmine-load-engines", daemon=True)
    thread.start()
    return thread
