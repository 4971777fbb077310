"""The one step that turns any fitted model into outputs: trajectories with bootstrap bands, lineage between
per-year models, ``topics.csv`` / ``doc_topics`` / representative opinions rows (:func:`summarize`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pandas as pd

from textmine.analysis import align
from textmine.models.topicmodel import OUTLIER, FittedTopics, TopicModel
from textmine.models.topics import doc_topics_table, map_to_global, representative_docs, topics_table
from textmine.text.documents import Documents

OUTLIER_LABEL = "이상치 (outliers)"


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
