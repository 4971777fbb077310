"""A true dynamic topic model: tomotopy's ``DTModel`` (Blei & Lafferty 2006; SGLD sampler of
Bhadury et al. 2016) over the run's periods.

Unlike LDA + per-year models aligned afterwards, one model holds every period: each topic has a
word distribution per period that drifts smoothly (``phi_var``), and each document's topic
distribution comes from its period's prior.  So:

- shares per period come from the documents' own distributions (trajectories, phases);
- each topic's words per period go to ``topics_over_time.csv``;
- each year's slice of the model (its documents, its periods' word distributions) is that year's
  model for the lineage, so links follow the same topic's drift, and a topic no document of a
  year belongs to is born or dies there.

k: fixed by ``dtm.num_topics``, or chosen the way LDA's k is (the same ``lda.k_grid``, seeds and
scores: c_v, c_npmi, diversity, seed stability) with LDA on the tomotopy engine over the same
vocabulary — fitting the grid with DTModel itself would cost k-grid × seeds dynamic fits.

Cost (tokens × periods × k × iterations × seeds): each seed trains in slices of about a second
(:func:`textmine.models.lda.train_in_slices`: progress with the log-likelihood, Ctrl-C seen between slices)
and stops once the log-likelihood is flat (``dtm.convergence``); the seeds run in ``dtm.n_jobs``
worker processes; on a large corpus (textmine.core.scale) k is LDA's of the same run and each period
is fitted on a seeded sample, the other documents' topic mixes inferred.

Seeded topics (the profile's ``[seed_topics]``) cannot steer it: ``DTModel`` inherits
``set_word_prior(word, prior)`` (one prior per topic, length k; no per-period form) from LDAModel,
but its sampler never reads it — measured in tomotopy 0.14: a model with priors of 5 and 50 on three
seed words for one topic (1e-4 elsewhere), set before or after ``add_doc``, gave the same topics to
the last digit as one without.  So the DTM is fitted unseeded (k selection included), and each seed
names the topic whose words rank its seed words best (:func:`textmine.models.seeds.match_seeds`, as for
BERTopic), when one has a seed word in its top 10; every year's slice keeps those names.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from textmine.core import scale
from textmine.core.config import DtmConfig
from textmine.core.errors import TextmineError
from textmine.core.parallel import map_in_processes
from textmine.core.periods import period_year
from textmine.core.progress import advance
from textmine.models import lda
from textmine.models.quality import quality_summary, score_topics, seed_stability
from textmine.models.seeds import log_unknown_seed_words, match_seeds, seed_names, seed_settings, seed_uptake
from textmine.models.terms import build_dictionary, relevant_terms, top_terms, vocabulary_of
from textmine.models.topicmodel import EngineState, FittedTopics, TopicModel, save_topic_arrays
from textmine.text.documents import Documents

log = logging.getLogger(__name__)

# Documents inferred per call of ``infer()`` (large corpora), so that Ctrl-C is seen between calls, as
# training is seen between slices (textmine.models.lda.train_in_slices); batching does not
# change the result (each document is inferred on its own: measured equal to one call).
INFER_BATCH = 2_000
# Sampling iterations for a document the model was not fitted on.  Measured on 19,883 synthetic opinions
# (k=12, fitted on 200 a period, 17,883 inferred): NMI against the planted topics 0.480 / 0.487 / 0.486
# after 10 / 30 / 100 iterations (tomotopy's default), the inference taking 8.6 / 12.3 / 19.1 s (loaded
# machine); at 100,000 opinions inference is most of the fit, so 30.
INFER_ITERATIONS = 30


def dtm_reuses_lda_k(n_docs: int, config) -> bool:
    """Whether the DTM takes LDA's chosen k instead of a second grid: a large corpus, both models run, and
    k on 'auto' for the DTM."""
    return scale.is_large(n_docs, config) and "lda" in config.run.models and config.dtm.num_topics == "auto"


def choose_k(tokens: list[list[str]], config, seed: int, warm_start: dict | None = None, lda_k: int | None = None,
             doc_years=None) -> tuple[int, list[dict], str]:
    """(k, the selection table, how it was chosen) for ``config`` (a whole textmine Config).

    ``lda_k``: the run's LDA chose this k (both models run on a large corpus): it is reused instead of
    a second grid.  Otherwise the grid runs with LDA on the tomotopy engine, on a stratified sample of
    ``scale.selection_docs`` documents when the corpus is large, as LDA's own grid does."""
    if config.dtm.num_topics != "auto":
        return int(config.dtm.num_topics), [], "fixed"
    if lda_k is not None:
        return int(lda_k), [], f"LDA's k ({lda_k}) of this run, reused (large corpus: no second grid)"
    if warm_start is not None:
        return int(warm_start["k"]), [], f"warm start: k={warm_start['k']} from the previous selection"
    grid_config = config.lda.model_copy(update={"backend": "tomotopy", "num_topics": "auto"})
    on, where = tokens, ""
    if doc_years is not None and scale.selects_on_sample(len(tokens), config):
        keep = scale.stratified_sample(doc_years, config.scale.selection_docs, seed)
        on, where = [tokens[i] for i in keep], f" on a stratified sample of {len(keep):,} documents"
    result = lda.fit_global_lda(on, grid_config, seed)
    return result.num_topics, result.native.selection, f"LDA's k selection (tomotopy engine, same grid and scores){where}"


def step_size(settings, tokens_per_period) -> float:
    """The SGLD step a of a * (b + t) ** -c for a fit whose periods hold ``tokens_per_period`` modelled
    tokens: ``dtm.lr_a`` while the largest period has at most ``dtm.lr_reference_tokens``, scaled down in
    proportion above (a period's phi gradient sums over its tokens, so a fixed step overshoots and blurs
    the topics of large periods; see DtmConfig for the measured figures)."""
    largest = max(tokens_per_period, default=0)
    if not settings.lr_reference_tokens or largest <= settings.lr_reference_tokens:
        return settings.lr_a
    return float(settings.lr_a * settings.lr_reference_tokens / largest)


def modelled_tokens(tokens: list[list[str]], dictionary) -> np.ndarray:
    """Each document's tokens of the vocabulary (what the fit sees of it; 0: the document is not usable)."""
    known = dictionary.token2id
    return np.array([sum(w in known for w in doc) for doc in tokens], dtype=int)


def tokens_per_period(counts: np.ndarray, timepoints: list[int], n_timepoints: int, docs) -> np.ndarray:
    """The modelled tokens (:func:`modelled_tokens`) of the documents ``docs``, summed per period."""
    docs = np.asarray(docs, dtype=int)
    return np.bincount(np.asarray(timepoints, dtype=int)[docs], weights=counts[docs],
                       minlength=n_timepoints).astype(int)


def train(model, settings, label: str) -> dict:
    """Train ``model`` in slices (textmine.models.lda.train_in_slices) up to ``settings.iterations``, stopping early
    once the log-likelihood per word improves by less than ``settings.convergence`` (a share) over
    ``settings.convergence_window`` iterations.  Returns what happened (for evaluation.json)."""
    checks: list[float] = []

    def converged(ll: float) -> bool:
        checks.append(ll)
        return settings.convergence > 0 and len(checks) >= 2 and checks[-1] - checks[-2] < settings.convergence * abs(checks[-2])

    done = lda.train_in_slices(model, settings.iterations, settings.workers, label, settings.convergence_window,
                               converged)
    return {"iterations": done, "ll_per_word": round(float(model.ll_per_word), 4),
            "converged": done < settings.iterations}


@dataclass
class SeedFit:
    """One seed's dynamic model, as plain arrays (it crosses process boundaries)."""

    seed: int
    per_period: np.ndarray  # (periods, k, V) word distributions on the dictionary's ids
    doc_topic: np.ndarray   # (documents, k): fitted, inferred (documents outside the sample) or uniform (no word)
    model: bytes            # tomotopy.DTModel.saves()
    training: dict = field(default_factory=dict)


def fit_seed(tokens: list[list[str]], timepoints: list[int], n_timepoints: int, dictionary, k: int, settings,
             seed: int, fitted_on: list[int] | None = None) -> SeedFit:
    """One DTModel fitted on the documents ``fitted_on`` (all when None); every other document's topic
    mix is inferred from it (a top-level function: the seeds run in worker processes)."""
    import tomotopy as tp

    model = tp.DTModel(k=k, t=n_timepoints, alpha_var=settings.alpha_var, eta_var=settings.eta_var,
                       phi_var=settings.phi_var, lr_a=settings.lr_a, lr_b=settings.lr_b, lr_c=settings.lr_c,
                       seed=seed)
    known = dictionary.token2id
    fitted = range(len(tokens)) if fitted_on is None else fitted_on
    added = []
    for i in fitted:
        words = [w for w in tokens[i] if w in known]
        if words:
            model.add_doc(words, timepoint=timepoints[i])
            added.append(i)
    training = train(model, settings, f"DTM seed {seed}")  # the seeds' own progress is what the stage shows
    rows = np.full((len(tokens), k), 1.0 / k)
    if added:
        dist = np.array([d.get_topic_dist() for d in model.docs], dtype=float).reshape(-1, k)
        rows[np.asarray(added)] = dist / dist.sum(axis=1, keepdims=True)
    saved = model.saves()
    if fitted_on is not None:
        chosen = np.zeros(len(tokens), dtype=bool)
        chosen[np.asarray(fitted_on, dtype=int)] = True
        rest = [i for i in np.flatnonzero(~chosen) if any(w in known for w in tokens[i])]
        for start in range(0, len(rest), INFER_BATCH):
            batch = rest[start:start + INFER_BATCH]
            docs = [model.make_doc([w for w in tokens[i] if w in known], timepoint=timepoints[i]) for i in batch]
            dist, _ = model.infer(docs, iterations=INFER_ITERATIONS, workers=settings.workers)
            dist = np.array(dist, dtype=float).reshape(-1, k)
            rows[np.asarray(batch)] = dist / dist.sum(axis=1, keepdims=True)
            advance(f"DTM seed {seed}, topic mixes inferred", min(start + INFER_BATCH, len(rest)), len(rest))
        training["inferred_documents"] = len(rest)
    return SeedFit(seed, _period_topic_word(model, dictionary, n_timepoints), rows, saved, training)


def fit_seeds(jobs: list[tuple], n_jobs: int) -> list[SeedFit]:
    """:func:`fit_seed` for each job, in worker processes when more than one can run at once (the same
    results either way: each fit is seeded on its own)."""
    if n_jobs == 1 or len(jobs) == 1:
        return [fit_seed(*job) for job in jobs]

    # no count of finished seeds beside the seeds' own iterations: two series would move the bar back and forth
    return map_in_processes(fit_seed, jobs, n_jobs)


def _period_topic_word(model, dictionary, n_timepoints: int) -> np.ndarray:
    """(periods, k, V) word distributions on the dictionary's ids: softmax of the model's natural
    parameters phi (beta_{t,k} of Blei & Lafferty).  Not ``get_topic_word_dist``: in tomotopy 0.14 it
    returns values that differ in the last float32 bits from call to call on the same model
    (measured: 1.5e-5 on raw weights of ~400), which would break byte-identical reruns; phi is stable."""
    position = np.array([dictionary.token2id[w] for w in model.used_vocabs])
    out = np.zeros((n_timepoints, model.k, len(dictionary)))
    for t in range(n_timepoints):
        phi = np.array([model.get_phi(t, k) for k in range(model.k)], dtype=np.float64)
        weights = np.exp(phi - phi.max(axis=1, keepdims=True))
        out[t][:, position] = weights / weights.sum(axis=1, keepdims=True)
    return out


@dataclass(kw_only=True)
class DtmState(EngineState):
    """The dynamic model's own part of a fit (:attr:`FittedTopics.native`): what a year's slice and saving need."""

    model: bytes = field(default=b"", repr=False)  # tomotopy.DTModel.saves() of the kept seed
    periods: list = field(default_factory=list)    # the model's time points, in order
    period_topic_word: np.ndarray | None = field(default=None, repr=False)  # (periods, k, V) word distributions


class DtmTopicModel(TopicModel):
    """tomotopy DTModel over the periods of the run (``align.time_unit``)."""

    name = "dtm"
    settings_section, settings_class = "dtm", DtmConfig
    engine_packages = ("tomotopy", "gensim")

    @classmethod
    def load_engine(cls) -> None:
        import tomotopy  # noqa: F401
    fitted_after = ("lda",)  # LDA's k may be reused (use_earlier)

    def related_settings(self) -> dict:
        # The vocabulary follows LDA's rules, k may come from LDA's grid (or LDA's own k), the periods from
        # the time unit; seeds only name topics here, but the names are stored with the fit.
        return {"lda": self.config.lda.model_dump(mode="json"), "time_unit": self.config.align.time_unit,
                **seed_settings(self.seed_topics), **({"k_from_lda": self.lda_k} if self.lda_k else {})}

    @classmethod
    def check_corpus(cls, config, n_docs: int, source: str) -> None:
        """LDA's k grid chooses its k (or dtm.num_topics fixes it): both need enough documents."""
        lda.LdaTopicModel.check_corpus(config, n_docs, source)
        settings = cls.settings_of(config)
        if settings.num_topics != "auto" and n_docs < settings.num_topics:
            raise TextmineError(f"{n_docs} documents cannot support {settings.num_topics} DTM topics",
                                file=source, fix="add documents or lower dtm.num_topics")

    @classmethod
    def large_corpus_switches(cls, n_docs: int, docs_per_year: dict, docs_per_period: dict, config,
                              why: str) -> list[dict]:
        """The large-corpus plan's switches for the dynamic topic model."""
        s, out = config.scale, []
        if dtm_reuses_lda_k(n_docs, config):
            out.append({"setting": "dtm k selection", "value": "LDA's chosen k of this run (no second grid)", "why": why,
                        "override": "dtm.num_topics, or scale.mode = off",
                        "ko": "DTM 토픽 수(k)는 같은 실행의 LDA가 고른 k를 그대로 사용(격자 탐색 생략)"})
        elif config.dtm.num_topics == "auto" and scale.selects_on_sample(n_docs, config):
            out.append({"setting": "dtm k selection", "value": f"LDA's grid (tomotopy) on a stratified sample of "
                        f"{s.selection_docs:,} documents", "why": why,
                        "override": "scale.selection_docs, dtm.num_topics, or scale.mode = off",
                        "ko": f"DTM 토픽 수(k)를 층화 표본 {s.selection_docs:,}건에서 고름"})
        fitted = sum(min(n, s.dtm_docs_per_period) for n in docs_per_period.values())
        if fitted < n_docs:
            out.append({"setting": "dtm documents", "value": f"{fitted:,} fitted (at most {s.dtm_docs_per_period:,} a "
                        f"period); the other {n_docs - fitted:,} topic mixes inferred from the model", "why": why,
                        "override": "scale.dtm_docs_per_period, or scale.mode = off",
                        "ko": f"DTM은 기간별 최대 {s.dtm_docs_per_period:,}건, 모두 {fitted:,}건으로 적합하고 나머지 "
                              f"{n_docs - fitted:,}건의 토픽 구성은 모델로 추정"})
        return out

    def selection(self, fitted: FittedTopics) -> dict | None:
        return {"k": fitted.num_topics} if self.settings.num_topics == "auto" else None

    lda_k: int | None = None  # LDA's k of the same run, reused on a large corpus (use_earlier)

    def use_earlier(self, fitted: dict[str, FittedTopics]) -> None:
        """On a large corpus with LDA in the run and k on 'auto', LDA's chosen k is this model's k."""
        if "lda" in fitted and dtm_reuses_lda_k(len(fitted["lda"].doc_topic), self.config):
            self.lda_k = fitted["lda"].num_topics

    def fit(self, data: Documents, warm_start: dict | None = None) -> FittedTopics:
        c = self.settings
        tokens = data.doc_tokens()
        periods = sorted(set(data.periods))
        index = {p: i for i, p in enumerate(periods)}
        timepoints = [index[p] for p in data.periods]
        dictionary = build_dictionary(tokens, self.config.lda)
        k, selection, selected_by = choose_k(tokens, self.config, self.seed, warm_start, self.lda_k, data.doc_years)
        counts = modelled_tokens(tokens, dictionary)  # one pass: which documents are usable, and the step size
        usable = np.flatnonzero(counts)
        empty = [str(periods[t]) for t in sorted(set(range(len(periods))) - {timepoints[i] for i in usable})]
        if empty:  # tomotopy aborts the process on a period without documents
            raise TextmineError(f"the dynamic topic model needs documents in every period; {', '.join(empty)} has "
                                "none with a word of the modelling vocabulary",
                                fix="add documents to that period, use a coarser align.time_unit, or lower "
                                    "lda.no_below")
        fitted_on, large = None, {}
        if scale.is_large(len(data), self.config):
            cap = self.config.scale.dtm_docs_per_period
            if max(np.bincount(timepoints)) > cap:
                # a seeded sample of each period's documents that have a modelled word (seeded by the label)
                keep = scale.sample_per_year([data.periods[i] for i in usable], cap, self.seed)
                fitted_on = usable[keep].tolist()
                large = {"documents_fitted": len(fitted_on), "documents_inferred": len(data) - len(fitted_on),
                         "docs_per_period": cap}
                log.info("large corpus: dtm fitted on %d documents (at most %d a period), the other %d inferred",
                         len(fitted_on), cap, len(data) - len(fitted_on))
        period_tokens = tokens_per_period(counts, timepoints, len(periods), usable if fitted_on is None else fitted_on)
        lr_a = step_size(c, period_tokens)
        if lr_a != c.lr_a:
            log.info("dtm: SGLD step lr_a %.4g (dtm.lr_a %g x dtm.lr_reference_tokens %d / %d modelled tokens in "
                     "the largest period)", lr_a, c.lr_a, c.lr_reference_tokens, max(period_tokens))
        fit_settings = c.model_copy(update={"lr_a": lr_a})
        seeds = [self.seed + i for i in range(c.seeds)]
        n_jobs = c.n_jobs or (os.cpu_count() or 1)
        runs = fit_seeds([(tokens, timepoints, len(periods), dictionary, k, fit_settings, s, fitted_on)
                          for s in seeds], n_jobs)
        per_period = [r.per_period for r in runs]
        weights = np.bincount(timepoints, minlength=len(periods)).astype(float)
        overall = [np.tensordot(weights / weights.sum(), p, axes=1) for p in per_period]  # (k, V) per seed
        stability = seed_stability(overall) if len(runs) > 1 else {}
        central = stability.get("central", 0)
        doc_topic = runs[central].doc_topic
        topic_word = overall[central]
        vocab = vocabulary_of(dictionary)
        # LDAvis relevance terms (distinctive words) for labels, as for LDA
        relevant = relevant_terms(topic_word, doc_topic, [len(t) for t in tokens], vocab, c.relevance_lambda,
                                  c.top_n_terms)
        terms = top_terms(topic_word, vocab, c.top_n_terms)
        scores = score_topics(tokens, dictionary, relevant, self.seed,
                              [[w for w, _ in t] for t in top_terms(topic_word, vocab, 25)])
        extra = {}
        if self.seed_topics:  # DTModel ignores word priors (see the module's docstring): seeds name topics
            extra["seed_topics"] = seed_uptake(topic_word, vocab, self.seed_topics,
                                               match_seeds(topic_word, vocab, self.seed_topics),
                                               "named by the best-matching topic (DTModel ignores word priors)")
            log_unknown_seed_words(self.name, extra["seed_topics"])
        training = {"max_iterations": c.iterations, "convergence": c.convergence, "lr_a": lr_a,
                    "convergence_window": c.convergence_window, "seeds": {str(r.seed): r.training for r in runs}}
        quality = quality_summary(k, selected_by, seeds[central], scores, stability, c.seeds, selection,
                                  vocabulary_size=len(dictionary), periods=[str(p) for p in periods],
                                  iterations=runs[central].training["iterations"], training=training,
                                  **({"large_corpus": large} if large else {}), **extra)
        fitted = FittedTopics(
            doc_topic=doc_topic, topic_terms=terms, topic_word=topic_word, vocabulary=vocab, relevant_terms=relevant,
            seed_doc_topics=[r.doc_topic for r in runs],
            quality=quality, native=DtmState(model=runs[central].model, periods=periods,
                                             period_topic_word=per_period[central], seed=seeds[central],
                                             selected_by=selected_by, selection=selection, stability=stability),
            seed_names=seed_names(extra["seed_topics"]) if extra else {})
        fitted.topics_over_time = self._over_time(fitted, per_period[central], periods, doc_topic, data.periods, vocab)
        return fitted

    def _over_time(self, fitted: FittedTopics, per_period: np.ndarray, periods: list, doc_topic: np.ndarray,
                   doc_periods: list, vocab: list[str]) -> pd.DataFrame:
        """Each topic's own words in each period (the dynamic part), with its document count there."""
        dominant = doc_topic.argmax(axis=1)
        doc_periods = np.asarray(doc_periods, dtype=object)
        labels = fitted.labels()
        rows = []
        for t in range(fitted.num_topics):
            for i, period in enumerate(periods):
                words = [w for w, _ in top_terms(per_period[i][t:t + 1], vocab, self.settings.top_n_terms)[0]]
                rows.append({"topic": t, "label": labels[t], "period": period,
                             "frequency": int(np.sum((dominant == t) & (doc_periods == period))),
                             "words": ", ".join(words)})
        return pd.DataFrame(rows)

    def fit_year(self, data: Documents, year, fitted: FittedTopics) -> FittedTopics | None:
        """The dynamic model's slice for one year: its documents and its periods' word distributions."""
        native = fitted.native
        idx = data.year_index(year)
        slots = [i for i, p in enumerate(native.periods) if str(period_year(p)) == str(year)]
        if not len(idx) or not slots:
            return None
        topic_word = native.period_topic_word[slots].mean(axis=0)
        topic_word = topic_word / topic_word.sum(axis=1, keepdims=True)
        terms = top_terms(topic_word, fitted.vocabulary, self.settings.top_n_terms)
        return FittedTopics(doc_topic=fitted.doc_topic[idx], topic_terms=terms, topic_word=topic_word,
                            vocabulary=fitted.vocabulary, relevant_terms=[[w for w, _ in t] for t in terms],
                            quality={"num_topics": fitted.num_topics, "source": "time slice of the dynamic model"},
                            seed_names=dict(fitted.seed_names))  # the same topics: the same names

    def save(self, fitted: FittedTopics, folder: Path) -> None:
        native = fitted.native
        if native is None:  # a year's slice: its words are in the global model's period_topic_word.npy
            return
        save_topic_arrays(fitted, folder, {"engine": "tomotopy.DTModel", "num_topics": fitted.num_topics,
                                               "seed": native.seed, "periods": [str(p) for p in native.periods]})
        self.save_native(native, folder)

    def save_native(self, native: DtmState | None, folder: Path) -> None:
        import json

        if native is None:
            return
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "period_topic_word.npy", native.period_topic_word)
        (folder / "model.tomotopy.bin").write_bytes(native.model)  # tomotopy.DTModel.load reads it
        (folder / "native.json").write_text(json.dumps({"seed": native.seed, "periods": native.periods},
                                                       default=str), encoding="utf-8")

    def load_native(self, folder: Path, fitted: FittedTopics) -> DtmState | None:
        import json

        if not (folder / "native.json").is_file():
            return None
        meta = json.loads((folder / "native.json").read_text(encoding="utf-8"))
        return DtmState(model=(folder / "model.tomotopy.bin").read_bytes(), periods=meta["periods"],
                        period_topic_word=np.load(folder / "period_topic_word.npy"), seed=meta["seed"])
