"""The model-specific part of the flow: LDA and BERTopic each turned into the same plain outputs.

Each ``run_<model>`` wires one model's stages as Prefect tasks (one per stage, and per year for
the per-year models) and returns a :class:`ModelOutput`; phases, evaluation, the run folder and
the report take it from there without knowing which model it was.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from textmine import align, bertopic_model, embed, evaluate, lda, report
from textmine.config import Config
from textmine.runfolder import doc_topics_table, topics_table

# Stages are deterministic functions of their inputs: a retry would fail the
# same way, so none are retried.  Inputs are large in-memory tables, so Prefect's
# input hashing is off (textmine caches tokens and embeddings itself, keyed by content).
STAGE = dict(cache_policy=NO_CACHE, retries=0)


@contextmanager
def timed(timings: dict, stage: str, progress=None):
    start = time.perf_counter()
    yield
    timings[stage] = round(time.perf_counter() - start, 3)
    if progress is not None:
        progress.step()


@dataclass
class Shared:
    """What every model gets: documents in year order and their Kiwi tokens (per unit)."""

    docs: pd.DataFrame
    doc_ids: list
    doc_years: list
    doc_periods: list
    years: list
    unit_tokens: list[list[str]]
    unit_owner: list[int]

    def doc_tokens(self) -> list[list[str]]:
        """Each document's tokens (its units' tokens in order)."""
        out: list[list[str]] = [[] for _ in range(len(self.docs))]
        for tokens, owner in zip(self.unit_tokens, self.unit_owner):
            out[owner].extend(tokens)
        return out


@dataclass
class ModelOutput:
    trajectories: pd.DataFrame
    topic_terms: dict[int, list[str]]
    labels: list[str]
    seed_doc_topics: list[np.ndarray]
    dominant: np.ndarray                 # per document; -1 = outlier
    quality: dict
    topics: pd.DataFrame
    doc_topics: pd.DataFrame
    representative: pd.DataFrame
    lineage: pd.DataFrame | None = None
    extra_csv: dict[str, pd.DataFrame] = field(default_factory=dict)
    embedding: dict | None = None


@task(name="trajectories", task_run_name="trajectories-{model}", **STAGE)
def trajectories(doc_topic: np.ndarray, periods: list, labels: list[str], model: str, config: Config,
                 outlier_column: bool = False) -> pd.DataFrame:
    """Shares per period with bootstrap bands; a last outlier column becomes topic -1's own row."""
    names = list(labels) + (["이상치 (outliers)"] if outlier_column else [])
    table = align.topic_shares_by_year(doc_topic, periods, names, model)
    boot = align.bootstrap_shares(doc_topic, periods, config.align.bootstrap, config.run.seed)
    table = align.add_confidence_bands(table, boot, config.align.band_level)
    if outlier_column:
        table.loc[table["topic"] == len(labels), "topic"] = bertopic_model.OUTLIER
    return table


@task(name="lineage", task_run_name="lineage-{model}", **STAGE)
def lineage(model: str, yearly: dict[int, dict], config: Config) -> pd.DataFrame:
    table = align.build_lineage(yearly, config.align.link_threshold)
    table.insert(0, "model", model)
    return table


# ---------------------------------------------------------------- LDA

@task(name="fit-global-lda", **STAGE)
def fit_global_lda(tokens: list[list[str]], config: Config) -> lda.LdaResult:
    return lda.fit_global_lda(tokens, config.lda, config.run.seed)


@task(name="fit-yearly-lda", task_run_name="fit-lda-{year}", **STAGE)
def fit_yearly_lda(year: int, tokens: list[list[str]], dictionary, k_global: int, config: Config) -> lda.LdaResult | None:
    return lda.fit_yearly_lda(tokens, dictionary, k_global, config.lda, config.run.seed)


def run_lda(shared: Shared, cfg: Config, timings: dict, progress) -> ModelOutput:
    s = shared
    n_docs = len(s.docs)
    weights = [len(t) for t in s.unit_tokens]
    to_docs = (lambda m: m) if cfg.tokenize.unit == "document" else \
        (lambda m: align.aggregate_units(m, s.unit_owner, weights, n_docs))
    with timed(timings, "lda", progress):
        fitted = fit_global_lda(s.unit_tokens, cfg)
        doc_topic = to_docs(fitted.doc_topic)
    yearly: dict[int, lda.LdaResult | None] = {}
    if cfg.lda.yearly:
        with timed(timings, "lda_yearly"):
            unit_year = np.asarray(s.doc_years)[s.unit_owner]
            for y in s.years:
                year_tokens = [t for t, uy in zip(s.unit_tokens, unit_year) if uy == y]
                yearly[y] = fit_yearly_lda(y, year_tokens, fitted.dictionary, fitted.num_topics, cfg)
    labels = fitted.labels()
    with timed(timings, "trajectories_lda", progress):
        table = trajectories(doc_topic, s.doc_periods, labels, "lda", cfg)
    modelled = {y: r for y, r in yearly.items() if r is not None}
    lineage_table = None
    if len(modelled) >= 2:
        with timed(timings, "lineage_lda"):
            lineage_table = lineage("lda", {y: {
                "topic_word": r.topic_word, "labels": r.labels(), "terms": r.relevant_terms,
                "shares": r.topic_sizes / max(1, r.topic_sizes.sum())} for y, r in modelled.items()}, cfg)
    chosen = next((r for r in fitted.selection if r["k"] == fitted.num_topics), {})
    prob_terms = [[t for t, _ in terms] for terms in fitted.topic_terms]
    quality = {
        "num_topics": fitted.num_topics, "selected_by": fitted.selected_by, "seed": fitted.seed,
        "vocabulary_size": fitted.vocabulary_size,
        **{f"coherence_{m}": chosen[m] if m in chosen else evaluate.coherence(
            fitted.model, s.unit_tokens, fitted.dictionary, prob_terms, m, cfg.run.seed) for m in ("c_v", "c_npmi")},
        "topic_diversity": round(evaluate.topic_diversity(
            [[t for t, _ in terms] for terms in lda._top_terms(fitted.model, fitted.num_topics, 25)]), 4),
        "stability": {"mean": fitted.stability.get("mean"), "per_topic": fitted.stability.get("per_topic"),
                      "seeds": cfg.lda.seeds},
        "k_selection": fitted.selection,
        "yearly_models": {str(y): (r.num_topics if r is not None else
                                   f"skipped: fewer than {cfg.lda.yearly_min_docs} documents")
                          for y, r in yearly.items()},
    }
    sizes = np.bincount(doc_topic.argmax(axis=1), minlength=fitted.num_topics)
    topic_rows = [topics_table("lda", fitted.topic_terms, sizes, relevant=fitted.relevant_terms)]
    for y, r in modelled.items():
        rows = topics_table("lda", r.topic_terms, r.topic_sizes, scope=str(y), relevant=r.relevant_terms)
        best, sim = align.map_to_global(r.topic_word, fitted.topic_word)
        rows["global_topic"], rows["global_similarity"] = best, sim.round(4)
        topic_rows.append(rows)
    return ModelOutput(
        trajectories=table, topic_terms={k: list(t) for k, t in enumerate(fitted.relevant_terms)}, labels=labels,
        seed_doc_topics=[doc_topic if m is fitted.doc_topic else to_docs(m) for m in fitted.seed_doc_topics],
        dominant=doc_topic.argmax(axis=1), quality=quality, topics=pd.concat(topic_rows, ignore_index=True),
        doc_topics=doc_topics_table("lda", s.doc_ids, s.doc_years, doc_topic),
        representative=report.representative_docs("lda", s.doc_ids, s.doc_years, s.docs["text"].tolist(),
                                                  doc_topic, labels),
        lineage=lineage_table)


# ---------------------------------------------------------------- BERTopic

@task(name="embed", **STAGE)
def embed_years(groups: dict[int, list[str]], config: Config) -> tuple[dict, dict, embed.Embedder]:
    """Embeddings per year through the cache: (vectors per year, backend info, the embedder)."""
    e = config.embed
    embedder = embed.make_embedder(e.backend, e.model, e.num_threads, config.run.seed, e.max_chars, e.dim)
    vectors, hits = embed.embed_groups(embedder, groups, config.run.cache_dir if e.cache else None)
    info = {"backend": e.backend, "name": embedder.name, "version": embedder.version,
            "dimensions": int(next(iter(vectors.values())).shape[1]) if vectors else None,
            "cache_hits": [y for y, h in hits.items() if h], "cache_misses": [y for y, h in hits.items() if not h]}
    return vectors, info, embedder


@task(name="fit-global-bertopic", **STAGE)
def fit_global_bertopic(documents: list[str], embeddings: np.ndarray, tokens: list[list[str]], config: Config,
                        embedder=None) -> bertopic_model.BertopicResult:
    return bertopic_model.fit_global_bertopic(documents, embeddings, tokens, config.bertopic, config.run.seed, embedder)


@task(name="fit-yearly-bertopic", task_run_name="fit-bertopic-{year}", **STAGE)
def fit_yearly_bertopic(year: int, documents: list[str], embeddings: np.ndarray, vocabulary: list[str],
                        fraction: float, config: Config) -> bertopic_model.BertopicResult | None:
    return bertopic_model.fit_yearly_bertopic(documents, embeddings, vocabulary, fraction, config.bertopic,
                                              config.run.seed)


@task(name="topics-over-time", **STAGE)
def topics_over_time(result: bertopic_model.BertopicResult, documents: list[str], periods: list,
                     config: Config) -> pd.DataFrame:
    return bertopic_model.topics_over_time(result, documents, periods, config.bertopic)


def _per_year_outliers(topics: np.ndarray, years: list) -> dict[str, float]:
    years_arr = np.asarray(years)
    return {str(y): round(float(np.mean(topics[years_arr == y] == bertopic_model.OUTLIER)), 4)
            for y in sorted(set(years))}


def run_bertopic(shared: Shared, cfg: Config, timings: dict, progress, run) -> ModelOutput:
    s = shared
    tokens = s.doc_tokens()
    documents = [" ".join(t) for t in tokens]
    year_arr = np.asarray(s.doc_years)
    with timed(timings, "embed"):
        vectors, info, embedder = embed_years({y: s.docs.loc[year_arr == y, "text"].tolist() for y in s.years}, cfg)
        embeddings = np.vstack([vectors[y] for y in s.years])
    with timed(timings, "bertopic", progress):
        fitted = fit_global_bertopic(documents, embeddings, tokens, cfg, embedder)
    k = fitted.num_topics
    labels = fitted.labels()
    fraction = fitted.min_cluster_size / len(documents)
    yearly: dict[int, bertopic_model.BertopicResult | None] = {}
    if cfg.bertopic.yearly:
        with timed(timings, "bertopic_yearly"):
            for y in s.years:
                idx = np.flatnonzero(year_arr == y)
                yearly[y] = fit_yearly_bertopic(y, [documents[i] for i in idx], embeddings[idx], fitted.vocabulary,
                                                fraction, cfg)
    doc_topic = fitted.doc_topic()
    with timed(timings, "trajectories_bertopic", progress):
        table = trajectories(doc_topic, s.doc_periods, labels, "bertopic", cfg, outlier_column=True)
        over_time = topics_over_time(fitted, documents, s.doc_periods, cfg)
        over_time.insert(0, "model", "bertopic")
    modelled = {y: r for y, r in yearly.items() if r is not None}
    lineage_table = None
    if len(modelled) >= 2:
        with timed(timings, "lineage_bertopic"):
            lineage_table = lineage("bertopic", {y: {
                "topic_word": r.topic_word, "labels": r.labels(), "terms": [[w for w, _ in t] for t in r.topic_terms],
                "shares": r.topic_sizes / max(1, r.topic_sizes.sum())} for y, r in modelled.items()}, cfg)
    if cfg.bertopic.save_models:
        with timed(timings, "save_bertopic"):
            bertopic_model.save_model(fitted, run.file("models/bertopic-global"))
            for y, r in modelled.items():
                bertopic_model.save_model(r, run.file(f"models/bertopic-{y}"))

    quality = {
        "num_topics": k, "selected_by": fitted.selected_by, "seed": fitted.seed,
        "min_cluster_size": fitted.min_cluster_size, "vocabulary_size": len(fitted.vocabulary),
        "representation": cfg.bertopic.representation,
        "coherence_c_v": fitted.scores["c_v"], "coherence_c_npmi": fitted.scores["c_npmi"],
        "topic_diversity": fitted.scores["diversity"],
        "stability": {"mean": fitted.stability.get("mean"), "per_topic": fitted.stability.get("per_topic"),
                      "seeds": cfg.bertopic.seeds},
        "k_selection": fitted.selection,
        "outliers": {**fitted.outliers,
                     "per_year_before": _per_year_outliers(fitted.topics_before, s.doc_years),
                     "per_year_after": _per_year_outliers(fitted.topics, s.doc_years)},
        "embedding": info,
        "yearly_models": {str(y): ({"num_topics": r.num_topics, "min_cluster_size": r.min_cluster_size,
                                    "outliers": r.outliers} if r is not None else
                                   f"skipped: fewer than {cfg.bertopic.yearly_min_docs} documents or no topic structure")
                          for y, r in yearly.items()},
    }
    topic_rows = [topics_table("bertopic", fitted.topic_terms, fitted.topic_sizes)]
    for y, r in modelled.items():
        rows = topics_table("bertopic", r.topic_terms, r.topic_sizes, scope=str(y))
        best, sim = align.map_to_global(r.topic_word, fitted.topic_word)
        rows["global_topic"], rows["global_similarity"] = best, sim.round(4)
        topic_rows.append(rows)
    typical = bertopic_model.typicality(fitted.topics, embeddings, k)
    return ModelOutput(
        trajectories=table, topic_terms={t: [w for w, _ in terms] for t, terms in enumerate(fitted.topic_terms)},
        labels=labels, seed_doc_topics=[bertopic_model.one_hot(t, int(t.max()) + 1)[:, :-1] for t in fitted.seed_topics],
        dominant=fitted.topics, quality=quality, topics=pd.concat(topic_rows, ignore_index=True),
        doc_topics=doc_topics_table("bertopic", s.doc_ids, s.doc_years, doc_topic,
                                    topic_ids=list(range(k)) + [bertopic_model.OUTLIER]),
        representative=report.representative_docs("bertopic", s.doc_ids, s.doc_years, s.docs["text"].tolist(),
                                                  typical, labels),
        lineage=lineage_table, extra_csv={"topics_over_time.csv": over_time}, embedding=info)
