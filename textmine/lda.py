"""LDA topic models with gensim.

``fit_global_lda`` fits one model over all years and returns plain data: the
document-topic matrix and each topic's top terms.  gensim's LdaModel is used
(single process, exactly reproducible for a given ``random_state``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from textmine.config import LdaConfig
from textmine.errors import TextmineError


@dataclass
class LdaResult:
    doc_topic: np.ndarray  # (documents, topics), rows sum to 1
    topic_terms: list[list[tuple[str, float]]]  # per topic, top terms with probabilities
    topic_sizes: np.ndarray  # documents whose most probable topic is each topic
    vocabulary_size: int
    model: object  # gensim LdaModel, kept for coherence and saving
    dictionary: object
    corpus_bow: list

    @property
    def num_topics(self) -> int:
        return self.doc_topic.shape[1]

    def labels(self, n_terms: int = 3) -> list[str]:
        return [topic_label(terms, n_terms) for terms in self.topic_terms]


def topic_label(terms: Sequence[tuple[str, float]], n_terms: int = 3) -> str:
    """A short Korean label from a topic's leading terms: '진로·탐색·설계'."""
    return "·".join(t for t, _ in terms[:n_terms])


def build_dictionary(token_lists: Sequence[Sequence[str]], config: LdaConfig):
    from gensim.corpora import Dictionary

    dictionary = Dictionary(token_lists)
    n_docs = len(token_lists)
    # On small corpora a fixed no_below would wipe the vocabulary out: scale it down.
    no_below = min(config.no_below, max(1, n_docs // 50))
    dictionary.filter_extremes(no_below=no_below, no_above=config.no_above, keep_n=config.keep_n)
    if len(dictionary) == 0:
        raise TextmineError(
            f"no vocabulary left to model: {n_docs} documents, and every word is too rare or too common",
            fix="add documents, or lower lda.no_below / raise lda.no_above",
        )
    return dictionary


def fit_global_lda(token_lists: Sequence[Sequence[str]], config: LdaConfig, seed: int) -> LdaResult:
    """One LDA model over every document; rows of ``doc_topic`` follow ``token_lists``."""
    from gensim.models import LdaModel

    if len(token_lists) < config.num_topics:
        raise TextmineError(
            f"{len(token_lists)} documents cannot support {config.num_topics} topics",
            fix="add documents or lower lda.num_topics",
        )
    dictionary = build_dictionary(token_lists, config)
    bow = [dictionary.doc2bow(tokens) for tokens in token_lists]
    model = LdaModel(
        corpus=bow, id2word=dictionary, num_topics=config.num_topics, passes=config.passes,
        iterations=config.iterations, chunksize=config.chunksize, alpha=config.alpha, eta="auto",
        random_state=seed, eval_every=None,
    )
    doc_topic = document_topic_matrix(model, bow)
    topic_terms = [model.show_topic(k, topn=config.top_n_terms) for k in range(config.num_topics)]
    topic_terms = [[(term, float(weight)) for term, weight in terms] for terms in topic_terms]
    sizes = np.bincount(doc_topic.argmax(axis=1), minlength=config.num_topics)
    return LdaResult(doc_topic=doc_topic, topic_terms=topic_terms, topic_sizes=sizes,
                     vocabulary_size=len(dictionary), model=model, dictionary=dictionary, corpus_bow=bow)


def document_topic_matrix(model, bow: list) -> np.ndarray:
    """Dense document-topic probabilities (rows sum to 1; empty documents are uniform)."""
    k = model.num_topics
    matrix = np.zeros((len(bow), k), dtype=np.float64)
    for i, doc in enumerate(bow):
        for topic, prob in model.get_document_topics(doc, minimum_probability=0.0):
            matrix[i, topic] = prob
    sums = matrix.sum(axis=1, keepdims=True)
    matrix = np.where(sums > 0, matrix / np.where(sums > 0, sums, 1), 1.0 / k)
    return matrix
